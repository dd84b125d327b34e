/*
 * kscan.c: the hot loop of `kmodtui resolve`, reading what the resolver needs from one kernel
 * module (modinfo, __versions, undefined symbols, export symbols) in C.
 *
 * Why C: walking .symtab in Python costs ~0.2 ms per distro module (0.85 s for Debian's 4,000),
 * which alone is more than depmod needs for the whole tree. This file is loaded with ctypes
 * (it includes no Python header, so any C compiler builds it) and ctypes releases the GIL during
 * the call, so two threads use two cores without a process pool.
 *
 * It mirrors ElfFile/read_module_symbols in elffile.py and module.py (depmod_needs) rule for rule. It never words an
 * error: on anything unusual (truncation, odd tables, not ELF, compressed) it returns KS_FALLBACK
 * and the Python reader parses the file and says what is wrong. Every read is bounds-checked
 * against the mapped size; tests compare both readers on real and on mutated modules.
 *
 * Output, host byte order: a header of u32 e_machine, u32 elf_class (32/64), u32 has_versions and
 * KS_CHUNKS pairs of { u32 count, u32 nbytes }, then the chunks' bytes one after another. Names are
 * joined with NUL (ELF names cannot hold one).
 */
#include "kscan.h"


#define SHT_NOBITS 8
#define SHN_ABS 0xFFF1
#define SHN_LORESERVE 0xFF00
#define STB_WEAK 2
#define STT_SECTION 3

/* The output's chunks (CH_*) and HEADER_SIZE are in kscan.h: kscan_needs.c reads them too. */

typedef struct {
    const uint8_t *d; /* the file's bytes, at their file offsets */
    size_t n;
    int fd;           /* >= 0: `d` is a scratch buffer filled on demand with pread (see load_range) */
    uint8_t *loaded;  /* per section, with fd: already read */
    int is64, be;
    unsigned shnum;
    uint64_t *sh_name, *sh_type, *sh_off, *sh_size, *sh_link;
    const uint8_t *names;
    size_t names_size;
} elf_t;


typedef struct {
    uint32_t count;
    int slot;     /* which header pair */
    size_t start; /* where its bytes begin */
} chunk_t;

/* A name (pointer into the file and length) collected before it is written. */
typedef struct {
    const uint8_t *p;
    uint32_t len;
    uint32_t crc;
} name_t;

static uint16_t r16(const elf_t *e, size_t o)
{
    const uint8_t *p = e->d + o;
    return e->be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[0] | p[1] << 8);
}

static uint32_t r32(const elf_t *e, size_t o)
{
    const uint8_t *p = e->d + o;
    return e->be ? (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3]
                 : (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

static uint64_t r64(const elf_t *e, size_t o)
{
    uint64_t a = r32(e, o), b = r32(e, o + 4);
    return e->be ? a << 32 | b : b << 32 | a;
}


static void chunk_begin(out_t *o, chunk_t *c, int slot)
{
    c->count = 0;
    c->slot = slot;
    c->start = o->pos;
}

static void chunk_end(out_t *o, chunk_t *c)
{
    uint32_t pair[2] = {c->count, (uint32_t)(o->pos - c->start)};
    size_t at = 12 + 8 * (size_t)c->slot;
    if (at + 8 <= o->cap)
        memcpy(o->buf + at, pair, 8);
}

static void chunk_name(out_t *o, chunk_t *c, const uint8_t *p, size_t len)
{
    if (c->count++)
        put(o, "", 1);
    put(o, p, len);
}

/* a + b <= limit, without overflow. */
static int fits(uint64_t a, uint64_t b, uint64_t limit)
{
    return a <= limit && b <= limit - a;
}

/* True when [off, off+size) lies inside the file. */
static int in_file(const elf_t *e, uint64_t off, uint64_t size)
{
    return size <= e->n && off <= e->n - size;
}

/* Reading a file, only what is parsed is read: mapping whole files instead does not scale to two
 * threads (mmap/munmap serialise on the process's address-space lock), and a distro module is
 * mostly code the resolver never looks at. The caller has checked that the range is in the file. */
static int load_range(const elf_t *e, uint64_t off, uint64_t len)
{
    if (e->fd < 0)
        return 0;
    uint8_t *p = (uint8_t *)e->d + off;
    for (uint64_t done = 0; done < len;) {
        ssize_t r = pread(e->fd, p + done, (size_t)(len - done), (off_t)(off + done));
        if (r <= 0)
            return -1; /* an I/O error or a file that shrank: Python will say which */
        done += (uint64_t)r;
    }
    return 0;
}

/* ElfFile.section_data: NOBITS is empty; anything past the end is an error (-1). */
static int section_data(const elf_t *e, unsigned i, const uint8_t **p, size_t *len)
{
    if (e->sh_type[i] == SHT_NOBITS) {
        *p = e->d;
        *len = 0;
        return 0;
    }
    if (!in_file(e, e->sh_off[i], e->sh_size[i]))
        return -1;
    if (e->fd >= 0 && !e->loaded[i]) {
        if (load_range(e, e->sh_off[i], e->sh_size[i]))
            return -1;
        e->loaded[i] = 1;
    }
    *p = e->d + e->sh_off[i];
    *len = (size_t)e->sh_size[i];
    return 0;
}

/* ElfFile.section_index: the first section whose name is exactly `name`; -1 when none. */
static int section_index(const elf_t *e, const char *name)
{
    size_t len = strlen(name) + 1;
    for (unsigned i = 0; i < e->shnum; i++) {
        uint64_t at = e->sh_name[i];
        if (at <= e->names_size && len <= e->names_size - at && memcmp(e->names + at, name, len) == 0)
            return (int)i;
    }
    return -1;
}

static size_t cstrlen(const uint8_t *p, size_t max)
{
    const uint8_t *end = memchr(p, 0, max);
    return end ? (size_t)(end - p) : max;
}

static int open_elf(elf_t *e)
{
    const uint8_t *d = e->d;
    size_t n = e->n;
    if (n < 52 || load_range(e, 0, n < 64 ? n : 64) || memcmp(d, "\x7f" "ELF", 4) != 0)
        return -1;
    if ((d[4] != 1 && d[4] != 2) || (d[5] != 1 && d[5] != 2))
        return -1;
    e->is64 = d[4] == 2;
    e->be = d[5] == 2;
    uint64_t shoff;
    unsigned shentsize, shnum, shstrndx, want;
    if (e->is64) {
        if (n < 64)
            return -1;
        shoff = r64(e, 40);
        shentsize = r16(e, 58), shnum = r16(e, 60), shstrndx = r16(e, 62);
        want = 64;
    } else {
        shoff = r32(e, 32);
        shentsize = r16(e, 46), shnum = r16(e, 48), shstrndx = r16(e, 50);
        want = 40;
    }
    if (r16(e, 16) != 1 /* ET_REL */ || shnum == 0 || shentsize != want)
        return -1;
    if (!in_file(e, shoff, (uint64_t)shnum * shentsize) || shstrndx >= shnum ||
        load_range(e, shoff, (uint64_t)shnum * shentsize))
        return -1;
    e->shnum = shnum;
    uint64_t *cols = malloc(sizeof(uint64_t) * 5 * shnum + shnum);
    if (!cols)
        return -1;
    e->loaded = (uint8_t *)(cols + 5 * shnum);
    memset(e->loaded, 0, shnum);
    e->sh_name = cols, e->sh_type = cols + shnum, e->sh_off = cols + 2 * shnum;
    e->sh_size = cols + 3 * shnum, e->sh_link = cols + 4 * shnum;
    for (unsigned i = 0; i < shnum; i++) {
        size_t h = (size_t)shoff + (size_t)i * shentsize;
        e->sh_name[i] = r32(e, h);
        e->sh_type[i] = r32(e, h + 4);
        if (e->is64) {
            e->sh_off[i] = r64(e, h + 24), e->sh_size[i] = r64(e, h + 32), e->sh_link[i] = r32(e, h + 40);
        } else {
            e->sh_off[i] = r32(e, h + 16), e->sh_size[i] = r32(e, h + 20), e->sh_link[i] = r32(e, h + 24);
        }
    }
    /* The section name table is taken as it is, whatever its type (as ElfFile does). */
    if (!in_file(e, e->sh_off[shstrndx], e->sh_size[shstrndx]) ||
        load_range(e, e->sh_off[shstrndx], e->sh_size[shstrndx]))
        return -1;
    e->names = d + e->sh_off[shstrndx];
    e->names_size = (size_t)e->sh_size[shstrndx];
    return 0;
}

/* The modversions a loader reads, in table order; -1 on error. As kernel/module/version.c does:
 * 6.14+ __version_ext_crcs/__version_ext_names (CONFIG_EXTENDED_MODVERSIONS: parallel arrays, names
 * of any length) when present, even beside a basic __versions; else __versions, in the classic
 * 64-byte records, or Ubuntu's variable-length ones (its "modpost: support arbitrary symbol length"
 * patch: packed {u32 next; u32 crc; char name[]}, names NUL-padded to 4 bytes, ended by next == 0). */
static int ext_versions(const elf_t *e, int ci, int ni, name_t **out, size_t *count_out)
{
    const uint8_t *raw, *names;
    size_t len, names_len, count, named = 0;
    name_t *list = NULL;
    if (section_data(e, (unsigned)ci, &raw, &len) || section_data(e, (unsigned)ni, &names, &names_len))
        return -1;
    count = len / 4;
    for (size_t i = 0; i < names_len; i++)
        if (names[i] && (i + 1 == names_len || names[i + 1] == 0))
            named++;
    if (named != count)
        return -1;
    if (count && !(list = malloc(sizeof(name_t) * count)))
        return -1;
    size_t k = 0;
    for (size_t i = 0; i < names_len;) {
        size_t l = cstrlen(names + i, names_len - i);
        if (l) {
            list[k].p = names + i;
            list[k].len = (uint32_t)l;
            list[k].crc = r32(e, (size_t)(raw - e->d) + k * 4);
            k++;
        }
        i += l + 1;
    }
    *out = list;
    *count_out = count;
    return 0;
}

/* Classic records: the crc is an unsigned long, so on 64-bit its high half is zero in every record. */
static int classic_layout(const elf_t *e, const uint8_t *raw, size_t len)
{
    if (len % 64)
        return 0;
    if (e->is64)
        for (size_t at = 0; at < len; at += 64)
            if (r32(e, (size_t)(raw - e->d) + at + (e->be ? 0 : 4)) != 0)
                return 0;
    return 1;
}

/* Count (out == NULL) or fill Ubuntu's variable records; -1 when the walk does not fit the section. */
static long variable_records(const elf_t *e, const uint8_t *raw, size_t len, name_t *out)
{
    size_t at = 0;
    long n = 0;
    while (at + 8 <= len) {
        uint32_t next = r32(e, (size_t)(raw - e->d) + at);
        if (next == 0)
            break;
        if (next < 12 || next % 4 || next > len - at)
            return -1;
        size_t l = cstrlen(raw + at + 8, next - 8);
        if (l == 0 || l >= next - 8)
            return -1; /* an empty or unterminated name */
        if (out) {
            out[n].p = raw + at + 8;
            out[n].len = (uint32_t)l;
            out[n].crc = r32(e, (size_t)(raw - e->d) + at + 4);
        }
        n++;
        at += next;
    }
    return n;
}

static int versions(const elf_t *e, name_t **out, size_t *count_out)
{
    const uint8_t *raw;
    size_t len, count = 0;
    name_t *list = NULL;
    int ci = section_index(e, "__version_ext_crcs"), ni = section_index(e, "__version_ext_names");
    if (ci >= 0 && ni >= 0)
        return ext_versions(e, ci, ni, out, count_out);
    int v = section_index(e, "__versions");
    if (v >= 0) {
        if (section_data(e, (unsigned)v, &raw, &len))
            return -1;
        if (classic_layout(e, raw, len)) {
            count = len / 64;
            size_t crc_size = e->is64 ? 8 : 4;
            if (count && !(list = malloc(sizeof(name_t) * count)))
                return -1;
            for (size_t i = 0; i < count; i++) {
                size_t at = (size_t)(raw - e->d) + i * 64;
                list[i].p = raw + i * 64 + crc_size;
                list[i].len = (uint32_t)cstrlen(list[i].p, 64 - crc_size);
                list[i].crc = e->is64 ? (uint32_t)r64(e, at) : r32(e, at);
            }
        } else {
            long n = variable_records(e, raw, len, NULL);
            if (n > 0) { /* anything else: ignored, as depmod ignores a __versions of another size */
                count = (size_t)n;
                if (!(list = malloc(sizeof(name_t) * count)))
                    return -1;
                variable_records(e, raw, len, list);
            }
        }
    }
    *out = list;
    *count_out = count;
    return 0;
}

/* A small open-addressing set of names, for needs(). */
typedef struct {
    size_t mask;
    int32_t *slots; /* index into `names`, -1 empty */
    const name_t *names;
} table_t;

static uint64_t hash_name(const uint8_t *p, uint32_t len)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint32_t i = 0; i < len; i++)
        h = (h ^ p[i]) * 1099511628211ULL;
    return h;
}

static int table_init(table_t *t, const name_t *names, size_t count)
{
    size_t size = 16;
    while (size < count * 2)
        size <<= 1;
    t->mask = size - 1;
    t->names = names;
    t->slots = malloc(sizeof(int32_t) * size);
    if (!t->slots)
        return -1;
    memset(t->slots, 0xff, sizeof(int32_t) * size);
    return 0;
}

/* The slot holding `p[:len]`, or the empty slot where it would go. */
static size_t table_find(const table_t *t, const uint8_t *p, uint32_t len)
{
    size_t i = (size_t)hash_name(p, len) & t->mask;
    while (t->slots[i] >= 0) {
        const name_t *n = &t->names[t->slots[i]];
        if (n->len == len && memcmp(n->p, p, len) == 0)
            break;
        i = (i + 1) & t->mask;
    }
    return i;
}

/* read_module_symbols' needs, as depmod sees them: every undefined non-weak .symtab symbol with the
 * CRC of the first __versions record of that name (0 when none), then the __versions names matched
 * by no undefined symbol (weak ones included), each once with its first CRC, in the order Python's
 * dict(reversed(records)) gives: latest last occurrence first. */
static int needs(out_t *o, const name_t *vers, size_t nvers, const name_t *undef, size_t nundef,
                 const name_t *weak, size_t nweak)
{
    chunk_t names, crcs;
    table_t first = {0}, matched = {0};
    int32_t *last = NULL;
    int failed = -1;
    if (nvers > 0x3fffffff || table_init(&first, vers, nvers))
        goto done;
    if (nvers && !(last = malloc(sizeof(int32_t) * nvers)))
        goto done;
    for (size_t i = 0; i < nvers; i++) {
        size_t slot = table_find(&first, vers[i].p, vers[i].len);
        if (first.slots[slot] < 0)
            first.slots[slot] = (int32_t)i;
        last[first.slots[slot]] = (int32_t)i;
    }
    chunk_begin(o, &names, CH_NEED_NAMES);
    for (size_t i = 0; i < nundef; i++)
        chunk_name(o, &names, undef[i].p, undef[i].len);
    /* Then the records no undefined symbol matched; their CRCs follow in the next chunk. */
    int32_t *extra = NULL;
    size_t nextra = 0;
    if (nvers) {
        name_t *both = malloc(sizeof(name_t) * (nundef + nweak + 1));
        extra = malloc(sizeof(int32_t) * nvers);
        if (!both || !extra || table_init(&matched, both, nundef + nweak)) {
            free(both);
            free(extra);
            goto done;
        }
        if (nundef)
            memcpy(both, undef, sizeof(name_t) * nundef);
        if (nweak)
            memcpy(both + nundef, weak, sizeof(name_t) * nweak);
        for (size_t i = 0; i < nundef + nweak; i++) {
            size_t slot = table_find(&matched, both[i].p, both[i].len);
            if (matched.slots[slot] < 0)
                matched.slots[slot] = (int32_t)i;
        }
        for (size_t i = nvers; i-- > 0;) {
            int32_t head = first.slots[table_find(&first, vers[i].p, vers[i].len)];
            if (last[head] != (int32_t)i)
                continue; /* not this name's last occurrence */
            if (matched.slots[table_find(&matched, vers[i].p, vers[i].len)] >= 0)
                continue;
            extra[nextra++] = head;
            chunk_name(o, &names, vers[head].p, vers[head].len);
        }
        free(both);
    }
    chunk_end(o, &names);
    chunk_begin(o, &crcs, CH_NEED_CRCS);
    for (size_t i = 0; i < nundef; i++) {
        size_t slot = nvers ? table_find(&first, undef[i].p, undef[i].len) : 0;
        put_u32(o, nvers && first.slots[slot] >= 0 ? vers[first.slots[slot]].crc : 0);
    }
    for (size_t i = 0; i < nextra; i++)
        put_u32(o, vers[extra[i]].crc);
    crcs.count = (uint32_t)(nundef + nextra);
    chunk_end(o, &crcs);
    free(extra);
    failed = 0;
done:
    free(first.slots);
    free(matched.slots);
    free(last);
    return failed;
}

/* module.py's modinfo_first: the first `key=` at the start of a NUL-separated item. */
static void modinfo_value(out_t *o, int slot, const uint8_t *raw, size_t len, const char *key)
{
    chunk_t c;
    size_t klen = strlen(key);
    chunk_begin(o, &c, slot);
    for (size_t i = 0; i + klen <= len;) {
        if (memcmp(raw + i, key, klen) == 0) {
            chunk_name(o, &c, raw + i + klen, cstrlen(raw + i + klen, len - i - klen));
            break;
        }
        const uint8_t *nul = memchr(raw + i, 0, len - i);
        if (!nul)
            break;
        i = (size_t)(nul - raw) + 1;
    }
    chunk_end(o, &c);
}

static void modinfo_import_ns(out_t *o, const uint8_t *raw, size_t len)
{
    chunk_t c;
    chunk_begin(o, &c, CH_IMPORT_NS);
    for (size_t i = 0; i < len;) {
        size_t l = cstrlen(raw + i, len - i);
        if (l >= 10 && memcmp(raw + i, "import_ns=", 10) == 0)
            chunk_name(o, &c, raw + i + 10, l - 10);
        i += l + 1;
    }
    chunk_end(o, &c);
}

static const struct {
    const char *text;
    size_t len;
} PREFIXES[] = {{"__ksymtab_", 10}, {"__crc_", 6}, {"__kstrtabns_", 12}};

typedef struct {
    uint32_t name_off;
    uint32_t index;
} cand_t;

static int by_name_then_index(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    if (x->name_off != y->name_off)
        return x->name_off < y->name_off ? -1 : 1;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int by_index(const void *a, const void *b)
{
    const cand_t *x = a, *y = b;
    return x->index < y->index ? -1 : x->index > y->index;
}

static int symbols(const elf_t *e, out_t *o, const name_t *vers, size_t nvers)
{
    chunk_t crc_names, crc_values, ns_names, ns_values, ks_names, ks_gpl;
    int s = section_index(e, ".symtab");
    const uint8_t *table = NULL, *strtab = NULL;
    size_t table_len = 0, str_len = 0;
    if (s >= 0) {
        if (e->sh_link[s] >= e->shnum)
            return -1;
        if (section_data(e, (unsigned)s, &table, &table_len) ||
            section_data(e, (unsigned)e->sh_link[s], &strtab, &str_len))
            return -1;
    }
    size_t entry = e->is64 ? 24 : 16, info_at = e->is64 ? 4 : 12, shndx_at = e->is64 ? 6 : 14;
    size_t count = table ? table_len / entry : 0, base = table ? (size_t)(table - e->d) : 0;

    /* ElfFile.undefined_symbols(): st_shndx 0 and a name inside the string table. */
    name_t *undef = NULL;
    size_t nundef = 0, nweak = 0;
    if (!(undef = malloc(sizeof(name_t) * (count + 1))))
        return -1;
    name_t *weak = undef + count; /* weak ones are stored downwards from the end */
    for (size_t i = 1; i < count; i++) {
        size_t sym = base + i * entry;
        uint32_t name = r32(e, sym);
        if (r16(e, sym + shndx_at) != 0 || name == 0 || name >= str_len)
            continue;
        name_t n = {strtab + name, (uint32_t)cstrlen(strtab + name, str_len - name), 0};
        if (e->d[sym + info_at] >> 4 == STB_WEAK)
            *--weak = n, nweak++;
        else
            undef[nundef++] = n;
    }
    /* Weak ones back into table order. */
    for (size_t i = 0; i < nweak / 2; i++) {
        name_t t = weak[i];
        weak[i] = weak[nweak - 1 - i];
        weak[nweak - 1 - i] = t;
    }
    int failed_needs = needs(o, vers, nvers, undef, nundef, weak, nweak);
    free(undef);
    if (failed_needs)
        return -1;

    /* ElfFile.symbols(): a symbol counts when its name starts right after a NUL with one of the
     * prefixes; of symbols sharing one name offset only the last in the table counts (and never
     * entry 0); undefined ones are then skipped. */
    size_t ncand = 0;
    cand_t *cands = malloc(sizeof(cand_t) * (count + 1));
    if (!cands)
        return -1;
    for (size_t i = 0; i < count; i++) {
        uint32_t name = r32(e, base + i * entry);
        if (name == 0 || name >= str_len || strtab[name - 1] != 0)
            continue;
        for (size_t p = 0; p < 3; p++) {
            if (PREFIXES[p].len <= str_len - name && memcmp(strtab + name, PREFIXES[p].text, PREFIXES[p].len) == 0) {
                cands[ncand].name_off = name;
                cands[ncand].index = (uint32_t)i;
                ncand++;
                break;
            }
        }
    }
    qsort(cands, ncand, sizeof(cand_t), by_name_then_index);
    size_t kept = 0;
    for (size_t i = 0; i < ncand; i++)
        if ((i + 1 == ncand || cands[i + 1].name_off != cands[i].name_off) && cands[i].index != 0)
            cands[kept++] = cands[i];
    qsort(cands, kept, sizeof(cand_t), by_index);

    int ksymtab[5];
    static const char *const KSYMTABS[5] = {"__ksymtab", "__ksymtab_gpl", "__ksymtab_gpl_future",
                                            "__ksymtab_unused", "__ksymtab_unused_gpl"};
    for (int k = 0; k < 5; k++)
        ksymtab[k] = section_index(e, KSYMTABS[k]);

    int failed = 0;
    /* Three passes, one per chunk pair, so each chunk is contiguous. */
    for (int pass = 0; pass < 3 && !failed; pass++) {
        chunk_t *names = pass == 0 ? &crc_names : pass == 1 ? &ns_names : &ks_names;
        chunk_t *values = pass == 0 ? &crc_values : pass == 1 ? &ns_values : &ks_gpl;
        /* Names first, then values: two sweeps over the few kept candidates. */
        for (int sweep = 0; sweep < 2 && !failed; sweep++) {
            chunk_begin(o, sweep == 0 ? names : values, CH_CRC_NAMES + 2 * pass + sweep);
            for (size_t c = 0; c < kept && !failed; c++) {
                size_t sym = base + (size_t)cands[c].index * entry;
                uint32_t name = cands[c].name_off;
                unsigned shndx = r16(e, sym + shndx_at);
                uint8_t info = e->d[sym + info_at];
                uint64_t value = e->is64 ? r64(e, sym + 8) : r32(e, sym + 4);
                if (shndx == 0 || (info & 0xF) == STT_SECTION)
                    continue;
                const uint8_t *full = strtab + name;
                size_t full_len = cstrlen(full, str_len - name);
                if (pass == 0 && full_len >= 6 && memcmp(full, "__crc_", 6) == 0) {
                    uint32_t crc;
                    if (shndx == SHN_ABS) {
                        crc = (uint32_t)value;
                    } else if (shndx < SHN_LORESERVE) {
                        /* ElfFile.read_u32 */
                        if (shndx >= e->shnum || !fits(value, 4, e->sh_size[shndx]) ||
                            !fits(e->sh_off[shndx], value, e->n) || !fits(e->sh_off[shndx] + value, 4, e->n)) {
                            failed = 1;
                            break;
                        }
                        if (load_range(e, e->sh_off[shndx] + value, 4)) {
                            failed = 1;
                            break;
                        }
                        crc = r32(e, (size_t)(e->sh_off[shndx] + value));
                    } else {
                        continue;
                    }
                    if (sweep == 0)
                        chunk_name(o, names, full + 6, full_len - 6);
                    else
                        put_u32(o, crc), values->count++;
                } else if (pass == 1 && full_len >= 12 && memcmp(full, "__kstrtabns_", 12) == 0) {
                    if (shndx >= SHN_LORESERVE)
                        continue;
                    /* ElfFile.read_cstring */
                    const uint8_t *sec;
                    size_t sec_len;
                    if (shndx >= e->shnum || section_data(e, shndx, &sec, &sec_len) || value > sec_len) {
                        failed = 1;
                        break;
                    }
                    if (sweep == 0)
                        chunk_name(o, names, full + 12, full_len - 12);
                    else
                        chunk_name(o, values, sec + value, cstrlen(sec + value, sec_len - (size_t)value));
                } else if (pass == 2 && full_len >= 10 && memcmp(full, "__ksymtab_", 10) == 0) {
                    int gpl = -1;
                    for (int k = 0; k < 5; k++)
                        if (ksymtab[k] == (int)shndx)
                            gpl = strstr(KSYMTABS[k], "gpl") != NULL;
                    if (gpl < 0)
                        continue;
                    if (sweep == 0) {
                        chunk_name(o, names, full + 10, full_len - 10);
                    } else {
                        uint8_t flag = (uint8_t)gpl;
                        put(o, &flag, 1);
                        values->count++;
                    }
                }
            }
            chunk_end(o, sweep == 0 ? names : values);
        }
    }
    free(cands);
    return failed ? -1 : 0;
}

/* Which layout of arguments and output this library speaks (kscan.h); checked by kscan.py on load. */
unsigned kmodtui_kscan_abi(void)
{
    return KMODTUI_KSCAN_ABI;
}

/* Scan one module held in memory. Returns the bytes written to `out`, KS_FALLBACK, or
 * KS_TOO_SMALL with *needed set. */
static long scan(const uint8_t *data, size_t size, int fd, uint8_t *out, size_t cap, size_t *needed)
{
    elf_t e = {.d = data, .n = size, .fd = fd};
    out_t o = {.buf = out, .cap = cap, .pos = 0};
    if (open_elf(&e)) {
        free(e.sh_name);
        return KS_FALLBACK;
    }
    long result = KS_FALLBACK;
    int mi = section_index(&e, ".modinfo");
    const uint8_t *modinfo;
    size_t modinfo_len;
    if (mi < 0 || section_data(&e, (unsigned)mi, &modinfo, &modinfo_len))
        goto done;
    o.pos = HEADER_SIZE;
    modinfo_value(&o, CH_NAME, modinfo, modinfo_len, "name=");
    modinfo_value(&o, CH_VERMAGIC, modinfo, modinfo_len, "vermagic=");
    modinfo_value(&o, CH_LICENSE, modinfo, modinfo_len, "license=");
    modinfo_import_ns(&o, modinfo, modinfo_len);
    name_t *vers = NULL;
    size_t nvers = 0;
    if (versions(&e, &vers, &nvers))
        goto done;
    int failed = symbols(&e, &o, vers, nvers);
    free(vers);
    if (failed)
        goto done;
    uint32_t head[3] = {r16(&e, 18), e.is64 ? 64 : 32, nvers > 0};
    if (o.cap >= 12)
        memcpy(o.buf, head, 12);
    if (o.pos > o.cap) {
        *needed = o.pos;
        result = KS_TOO_SMALL;
    } else {
        result = (long)o.pos;
    }
done:
    free(e.sh_name);
    return result;
}

/* Scan one module held in memory. Returns the bytes written to `out`, KS_FALLBACK, or
 * KS_TOO_SMALL with *needed set. */
long kmodtui_scan_buffer(const uint8_t *data, size_t size, uint8_t *out, size_t cap, size_t *needed)
{
    return scan(data, size, -1, out, cap, needed);
}

/* Scan one module file, reading its parts into `*scratch` (grown as needed; the caller frees it).
 * Only uncompressed ELF is taken; anything else is left to Python. */
static long scan_file(const char *path, uint8_t **scratch, size_t *scratch_size, uint8_t *out, size_t cap,
                      size_t *needed)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0)
        return KS_FALLBACK;
    struct stat st;
    long result = KS_FALLBACK;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size >= 4) {
        size_t size = (size_t)st.st_size;
        if (size > *scratch_size) {
            uint8_t *grown = realloc(*scratch, size);
            if (grown)
                *scratch = grown, *scratch_size = size;
        }
        if (size <= *scratch_size)
            result = scan(*scratch, size, fd, out, cap, needed);
    }
    close(fd);
    return result;
}

/* Scan files one after another into `out`; ends[i] is where file i's output ends, or -1 when
 * Python should read it. Returns how many files were handled: fewer than n when the next one did
 * not fit, with *needed set to the space that one alone needs. */
size_t kmodtui_scan_files(const char *const *paths, size_t n, uint8_t *out, size_t cap, int64_t *ends,
                          size_t *needed)
{
    size_t pos = 0, i, scratch_size = 0;
    uint8_t *scratch = NULL;
    for (i = 0; i < n; i++) {
        long r = scan_file(paths[i], &scratch, &scratch_size, out + pos, cap - pos, needed);
        if (r == KS_TOO_SMALL)
            break;
        if (r >= 0)
            pos += (size_t)r;
        ends[i] = r >= 0 ? (int64_t)pos : -1;
    }
    free(scratch);
    return i;
}

