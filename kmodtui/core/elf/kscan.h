/*
 * kscan.h: what the three parts of kmodtui's C reader share (kscan_module.c reads one kernel
 * module, kscan_walk.c finds the module files of a tree, kscan_symvers.c parses Module.symvers):
 * return codes and the output buffer, which past its capacity only counts, so the caller learns
 * the size it needs. Loaded with ctypes (no Python header): any C compiler builds it.
 */
#ifndef KMODTUI_KSCAN_H
#define KMODTUI_KSCAN_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* Bumped whenever a function's arguments or an output layout change: kscan.py loads a library only
 * when kmodtui_kscan_abi() returns the number it was written for. */
#define KMODTUI_KSCAN_ABI 1

#define KS_FALLBACK (-1)
#define KS_TOO_SMALL (-2)

typedef struct {
    uint8_t *buf;
    size_t cap, pos;
} out_t;

static inline void put(out_t *o, const void *p, size_t len)
{
    /* Past the capacity only count, so the caller learns the size it needs. */
    if (o->pos + len <= o->cap)
        memcpy(o->buf + o->pos, p, len);
    o->pos += len;
}

static inline void put_u32(out_t *o, uint32_t v) { put(o, &v, 4); }

/* A module's output (kscan_module.c): u32 e_machine, elf_class, has_versions, then KS_CHUNKS pairs
 * of { u32 count, u32 nbytes }, then the chunks' bytes in this order. */
enum {
    CH_NAME,          /* modinfo name= (count 0 when absent) */
    CH_VERMAGIC,      /* modinfo vermagic= */
    CH_LICENSE,       /* modinfo license= */
    CH_IMPORT_NS,     /* every modinfo import_ns= */
    CH_NEED_NAMES,    /* what the module needs, as depmod sees it (see needs()) */
    CH_NEED_CRCS,     /* u32 each */
    CH_CRC_NAMES,     /* __crc_<name>: <name> */
    CH_CRC_VALUES,    /* u32 each */
    CH_NS_NAMES,      /* __kstrtabns_<name>: <name> */
    CH_NS_VALUES,     /* the namespace strings */
    CH_KSYMTAB_NAMES, /* __ksymtab_<name> in a __ksymtab* section: <name> */
    CH_KSYMTAB_GPL,   /* one byte each: 1 when the section is a GPL one */
    KS_CHUNKS
};

#define HEADER_SIZE (12 + 8 * KS_CHUNKS)

#endif
