/*
 * kscan_walk.c: the module files of a directory tree (.ko, .ko.gz, .ko.xz, .ko.zst) with their
 * identities, for `kmodtui resolve DIR`: one C walk instead of os.walk and a stat per file.
 */
#include "kscan.h"

typedef struct {
    char *path;
    int64_t id[4]; /* st_dev, st_ino, st_size, st_mtime_ns */
} found_t;

typedef struct {
    found_t *files;
    size_t nfiles, files_cap;
    char **errors; /* the directory that could not be read */
    int32_t *errnos;
    size_t nerrors, errors_cap, nerrnos, errnos_cap;
    char **stack;
    size_t nstack, stack_cap;
    int failed; /* out of memory */
} walk_t;

static int is_module_name(const char *name)
{
    static const char *const SUFFIXES[] = {".ko", ".ko.gz", ".ko.xz", ".ko.zst"};
    size_t len = strlen(name);
    for (int i = 0; i < 4; i++) {
        size_t s = strlen(SUFFIXES[i]);
        if (len >= s && strcmp(name + len - s, SUFFIXES[i]) == 0)
            return 1;
    }
    return 0;
}

static char *join_path(const char *dir, const char *name)
{
    /* os.path.join: no second slash after a directory that ends with one */
    size_t a = strlen(dir), b = strlen(name), slash = a && dir[a - 1] == '/' ? 0 : 1;
    char *p = malloc(a + slash + b + 1);
    if (p) {
        memcpy(p, dir, a);
        if (slash)
            p[a] = '/';
        memcpy(p + a + slash, name, b + 1);
    }
    return p;
}

static void push(void **array, size_t *count, size_t *cap, size_t size, const void *item, int *failed)
{
    if (*count == *cap) {
        size_t grown = *cap ? *cap * 2 : 64;
        void *p = realloc(*array, grown * size);
        if (!p) {
            *failed = 1;
            return;
        }
        *array = p, *cap = grown;
    }
    memcpy((char *)*array + *count * size, item, size);
    (*count)++;
}

static void walk_error(walk_t *w, char *dir, int err)
{
    int32_t e = err;
    push((void **)&w->errors, &w->nerrors, &w->errors_cap, sizeof(char *), &dir, &w->failed);
    push((void **)&w->errnos, &w->nerrnos, &w->errnos_cap, sizeof(int32_t), &e, &w->failed);
}

/* modset.collect_module_files for one directory: entries in readdir order, directories (not links
 * to them) entered last-in first-out, a directory that cannot be read (or whose entry cannot be
 * stat'ed) recorded as an error and left. */
static void walk(walk_t *w, const char *top)
{
    char *first = strdup(top);
    if (!first) {
        w->failed = 1;
        return;
    }
    push((void **)&w->stack, &w->nstack, &w->stack_cap, sizeof(char *), &first, &w->failed);
    while (w->nstack && !w->failed) {
        char *dir = w->stack[--w->nstack];
        DIR *d = opendir(dir);
        if (!d) {
            walk_error(w, dir, errno);
            continue;
        }
        struct dirent *entry;
        int err = 0;
        for (errno = 0; (entry = readdir(d)) != NULL; errno = 0) {
            const char *name = entry->d_name;
            if (name[0] == '.' && (name[1] == 0 || (name[1] == '.' && name[2] == 0)))
                continue;
            int type = entry->d_type;
            if (type == DT_UNKNOWN) {
                struct stat lst;
                if (fstatat(dirfd(d), name, &lst, AT_SYMLINK_NOFOLLOW)) {
                    err = errno;
                    break;
                }
                type = S_ISDIR(lst.st_mode) ? DT_DIR : S_ISLNK(lst.st_mode) ? DT_LNK : DT_REG;
            }
            if (type == DT_DIR) {
                char *sub = join_path(dir, name);
                if (!sub) {
                    w->failed = 1;
                    break;
                }
                push((void **)&w->stack, &w->nstack, &w->stack_cap, sizeof(char *), &sub, &w->failed);
                continue;
            }
            if (!is_module_name(name))
                continue;
            struct stat st;
            if (fstatat(dirfd(d), name, &st, 0)) {
                if (errno == ENOENT && type == DT_LNK)
                    continue; /* a dangling link is not a file (is_file() says False) */
                err = errno;
                break;
            }
            if (!S_ISREG(st.st_mode))
                continue;
            found_t f = {join_path(dir, name),
                         {(int64_t)st.st_dev, (int64_t)st.st_ino, (int64_t)st.st_size,
                          (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec}};
            if (!f.path) {
                w->failed = 1;
                break;
            }
            push((void **)&w->files, &w->nfiles, &w->files_cap, sizeof(found_t), &f, &w->failed);
        }
        if (!entry && errno)
            err = errno;
        closedir(d);
        if (err)
            walk_error(w, dir, err);
        else
            free(dir);
    }
}

static int by_path(const void *a, const void *b)
{
    return strcmp(((const found_t *)a)->path, ((const found_t *)b)->path);
}

/* Walk `top`; output (host byte order): u32 nfiles, u32 nerrors, then nfiles x 4 int64 identities,
 * nerrors int32 errnos, the file paths (sorted bytewise, each NUL-terminated), then the error
 * paths (NUL-terminated). Returns the bytes written, KS_TOO_SMALL with *needed set, or
 * KS_FALLBACK when memory ran out. */
long kmodtui_collect(const char *top, uint8_t *out, size_t cap, size_t *needed)
{
    walk_t w = {0};
    walk(&w, top);
    long result = KS_FALLBACK;
    if (!w.failed) {
        qsort(w.files, w.nfiles, sizeof(found_t), by_path);
        out_t o = {.buf = out, .cap = cap, .pos = 0};
        uint32_t head[2] = {(uint32_t)w.nfiles, (uint32_t)w.nerrors};
        put(&o, head, sizeof head);
        for (size_t i = 0; i < w.nfiles; i++)
            put(&o, w.files[i].id, sizeof w.files[i].id);
        if (w.nerrors)
            put(&o, w.errnos, sizeof(int32_t) * w.nerrors);
        for (size_t i = 0; i < w.nfiles; i++)
            put(&o, w.files[i].path, strlen(w.files[i].path) + 1);
        for (size_t i = 0; i < w.nerrors; i++)
            put(&o, w.errors[i], strlen(w.errors[i]) + 1);
        if (o.pos > cap) {
            *needed = o.pos;
            result = KS_TOO_SMALL;
        } else {
            result = (long)o.pos;
        }
    }
    for (size_t i = 0; i < w.nfiles; i++)
        free(w.files[i].path);
    for (size_t i = 0; i < w.nerrors; i++)
        free(w.errors[i]);
    for (size_t i = 0; i < w.nstack; i++)
        free(w.stack[i]);
    free(w.files);
    free(w.errors);
    free(w.errnos);
    free(w.stack);
    return result;
}

