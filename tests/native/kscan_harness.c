/*
 * kscan_harness.c: drives kmodtui's C reader the way kscan.py does, one input file per argument,
 * for a build with AddressSanitizer and UBSan (tests/core/test_kscan_boundary.py). Every file goes
 * through all three entry points that read untrusted bytes:
 *   kmodtui_scan_buffer   the module held in memory (decompressed modules),
 *   kmodtui_scan_files    the module read from its file descriptor with pread (the tree scan),
 *   kmodtui_parse_symvers the same bytes as a Module.symvers.
 * Each is called first with a buffer too small (the KS_TOO_SMALL path), then with the size it
 * asked for. Any sanitizer report aborts the process with a non-zero status.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

long kmodtui_scan_buffer(const uint8_t *data, size_t size, uint8_t *out, size_t cap, size_t *needed);
size_t kmodtui_scan_files(const char *const *paths, size_t n, uint8_t *out, size_t cap, int64_t *ends,
                          size_t *needed);
long kmodtui_parse_symvers(const uint8_t *data, size_t n, uint8_t *out, size_t cap, size_t *needed);
unsigned kmodtui_kscan_abi(void);

#define KS_TOO_SMALL (-2)

static uint8_t *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1 << 16, n = 0;
    uint8_t *data = malloc(cap);
    size_t got;
    while (data && (got = fread(data + n, 1, cap - n, f)) > 0) {
        n += got;
        if (n == cap) {
            uint8_t *grown = realloc(data, cap *= 2);
            if (!grown) {
                free(data);
                fclose(f);
                return NULL;
            }
            data = grown;
        }
    }
    fclose(f);
    *size = n;
    return data;
}

typedef long (*filler)(const uint8_t *, size_t, uint8_t *, size_t, size_t *);

/* Call twice: into 16 bytes, then into what it said it needs (exactly that size, so an
 * off-by-one write past the end is caught). */
static long twice(filler fn, const uint8_t *data, size_t size)
{
    size_t needed = 0;
    uint8_t *small = malloc(16);
    long r = fn(data, size, small, 16, &needed);
    free(small);
    if (r != KS_TOO_SMALL)
        return r;
    uint8_t *out = malloc(needed ? needed : 1);
    r = fn(data, size, out, needed, &needed);
    free(out);
    return r;
}

int main(int argc, char **argv)
{
    if (kmodtui_kscan_abi() == 0)
        return 3;
    long modules = 0, symvers = 0;
    for (int i = 1; i < argc; i++) {
        size_t size = 0;
        uint8_t *data = slurp(argv[i], &size);
        if (!data)
            continue;
        modules += twice(kmodtui_scan_buffer, data, size) >= 0;
        symvers += twice(kmodtui_parse_symvers, data, size) >= 0;
        free(data);
        const char *one[1] = {argv[i]};
        int64_t ends[1];
        size_t needed = 0, cap = 16;
        uint8_t *out = malloc(cap);
        if (kmodtui_scan_files(one, 1, out, cap, ends, &needed) == 0) {
            free(out);
            out = malloc(needed);
            kmodtui_scan_files(one, 1, out, needed, ends, &needed);
        }
        free(out);
    }
    printf("%d files, %ld read as modules, %ld as symvers\n", argc - 1, modules, symvers);
    return 0;
}
