/*
 * kscan_needs.c: the resolver's first sieve, in C. Nearly everything a module needs is provided
 * with the same CRC; on a distro tree that is ~190k (name, CRC) pairs, and making each one a Python
 * tuple only to find it in a set cost more than reading the modules. Given the pairs that are fine
 * (made in Python from the providers, checks.py) and the modules' outputs (kscan_module.c), this
 * writes only the needs that are not: Python makes objects for those alone and decides them.
 *
 * Output, host byte order: u64 the number of needs seen, u32 R the number of modules with doubtful
 * needs, u32 D the number of doubtful needs; u32 index[R] of those modules, u32 count[R] of their
 * doubtful needs, u32 crc[D], then the D names joined with NUL (in the same order: the modules', and
 * each module's needs'). Columns, so that Python makes them with one call each. KS_FALLBACK when a
 * module's output is not well-formed (the caller then decides every need in Python),
 * KS_TOO_SMALL with *needed set.
 */
#include "kscan.h"

#define FINE_ALL 1 /* fine for any module */
#define FINE_GPL 2 /* fine for a module with a GPL-compatible license */

typedef struct {
    const uint8_t *name;
    uint32_t len, crc;
    uint8_t flags;
} fine_t;

static uint64_t pair_hash(const uint8_t *p, size_t len, uint32_t crc)
{
    /* eight bytes at a time: symbol names are ~20 bytes */
    uint64_t h = 0x9E3779B97F4A7C15ULL ^ ((uint64_t)crc << 32 | (uint32_t)len);
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
        h ^= h >> 32;
        p += 8, len -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, p, len);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
    return h ^ (h >> 29);
}

static uint32_t u32_at(const uint8_t *p)
{
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}

/* Where chunk `which` of one module's output begins, and its count and size; -1 when the header's
 * sizes do not fit the output. */
static int chunk_at(const uint8_t *m, uint64_t len, int which, const uint8_t **at, uint32_t *count, uint32_t *nbytes)
{
    if (len < HEADER_SIZE)
        return -1;
    uint64_t pos = HEADER_SIZE;
    for (int c = 0; c < KS_CHUNKS; c++) {
        uint32_t n = u32_at(m + 12 + 8 * c), size = u32_at(m + 16 + 8 * c);
        if (size > len - pos)
            return -1;
        if (c == which) {
            *at = m + pos, *count = n, *nbytes = size;
            return 0;
        }
        pos += size;
    }
    return -1;
}

/* A growing array of bytes. */
typedef struct {
    uint8_t *p;
    size_t len, cap;
} vec_t;

static int vec_put(vec_t *v, const void *data, size_t len)
{
    if (v->len + len > v->cap) {
        size_t cap = v->cap ? v->cap : 4096;
        while (cap < v->len + len)
            cap *= 2;
        uint8_t *grown = realloc(v->p, cap);
        if (!grown)
            return -1;
        v->p = grown, v->cap = cap;
    }
    memcpy(v->p + v->len, data, len);
    v->len += len;
    return 0;
}

long kmodtui_doubtful_needs(const uint8_t *fine_names, size_t fine_names_len, const uint32_t *fine_crcs,
                            const uint8_t *fine_flags, size_t nfine, const uint8_t *const *blobs,
                            const uint32_t *blob_of, const uint64_t *starts, const uint64_t *ends,
                            const uint8_t *gpl, size_t nmodules, uint8_t *out, size_t cap, size_t *needed)
{
    size_t slots = 16;
    while (slots < 2 * nfine + 16)
        slots *= 2;
    fine_t *fine = malloc(sizeof(fine_t) * (nfine + 1));
    int32_t *table = malloc(sizeof(int32_t) * slots);
    vec_t index = {0}, counts = {0}, crcs_out = {0}, names_out = {0};
    long result = KS_FALLBACK;
    if (!fine || !table)
        goto done;
    memset(table, 0xFF, sizeof(int32_t) * slots);
    const uint8_t *p = fine_names, *end = fine_names + fine_names_len;
    for (size_t i = 0; i < nfine; i++) {
        const uint8_t *nul = memchr(p, 0, (size_t)(end - p));
        size_t len = nul ? (size_t)(nul - p) : (size_t)(end - p);
        fine[i] = (fine_t){p, (uint32_t)len, fine_crcs[i], fine_flags[i]};
        size_t slot = pair_hash(p, len, fine_crcs[i]) & (slots - 1);
        while (table[slot] >= 0)
            slot = (slot + 1) & (slots - 1);
        table[slot] = (int32_t)i;
        p = nul ? nul + 1 : end;
    }
    uint64_t total = 0;
    uint32_t doubtful_total = 0;
    for (size_t m = 0; m < nmodules; m++) {
        if (ends[m] < starts[m])
            goto done;
        const uint8_t *base = blobs[blob_of[m]] + starts[m];
        uint64_t len = ends[m] - starts[m];
        const uint8_t *names, *crcs;
        uint32_t count, nbytes, ncrcs, crc_bytes;
        if (chunk_at(base, len, CH_NEED_NAMES, &names, &count, &nbytes) ||
            chunk_at(base, len, CH_NEED_CRCS, &crcs, &ncrcs, &crc_bytes) || ncrcs != count ||
            crc_bytes != 4ULL * count)
            goto done;
        total += count;
        uint8_t want = gpl[m] ? FINE_GPL : FINE_ALL;
        uint32_t ndoubtful = 0;
        const uint8_t *q = names, *q_end = names + nbytes;
        for (uint32_t i = 0; i < count; i++) {
            const uint8_t *nul = q < q_end ? memchr(q, 0, (size_t)(q_end - q)) : NULL;
            size_t nlen = nul ? (size_t)(nul - q) : (size_t)(q_end - q);
            uint32_t crc = u32_at(crcs + 4 * (size_t)i);
            int ok = 0;
            for (size_t slot = pair_hash(q, nlen, crc) & (slots - 1); table[slot] >= 0;
                 slot = (slot + 1) & (slots - 1)) {
                const fine_t *f = &fine[table[slot]];
                if (f->crc == crc && f->len == nlen && memcmp(f->name, q, nlen) == 0) {
                    ok = (f->flags & want) != 0;
                    break;
                }
            }
            if (!ok) {
                if ((doubtful_total && vec_put(&names_out, "", 1)) || vec_put(&names_out, q, nlen) ||
                    vec_put(&crcs_out, &crc, 4))
                    goto done;
                ndoubtful++, doubtful_total++;
            }
            q = nul ? nul + 1 : q_end;
        }
        if (ndoubtful) {
            uint32_t at = (uint32_t)m;
            if (vec_put(&index, &at, 4) || vec_put(&counts, &ndoubtful, 4))
                goto done;
        }
    }
    {
        out_t o = {.buf = out, .cap = cap, .pos = 0};
        uint32_t records = (uint32_t)(index.len / 4);
        put(&o, &total, 8);
        put_u32(&o, records);
        put_u32(&o, doubtful_total);
        put(&o, index.p, index.len);
        put(&o, counts.p, counts.len);
        put(&o, crcs_out.p, crcs_out.len);
        put(&o, names_out.p, names_out.len);
        if (o.pos > o.cap) {
            *needed = o.pos;
            result = KS_TOO_SMALL;
        } else {
            result = (long)o.pos;
        }
    }
done:
    free(fine);
    free(table);
    free(index.p);
    free(counts.p);
    free(crcs_out.p);
    free(names_out.p);
    return result;
}
