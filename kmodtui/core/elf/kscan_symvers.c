/*
 * kscan_symvers.c: a clean Module.symvers parsed in C (the Python parser in
 * kmodtui/core/symvers/parse.py reads anything else and words its problems).
 */
#include "kscan.h"

enum { LAYOUT_3, LAYOUT_4, LAYOUT_5_NS3, LAYOUT_5 };

static int starts_export(const uint8_t *p, size_t len)
{
    return len >= 7 && memcmp(p, "EXPORT_", 7) == 0;
}

/* symvers.parse_symvers for the common case of a clean file: printable ASCII, tabs and newlines
 * only, every non-blank line well formed. Anything else (a stray byte, a bad line, a CRC written
 * another way) returns KS_FALLBACK: the Python parser then reads the file and lists the problems.
 * Output: u32 rows, u32 first-seen order of the 4 layouts (a byte each, 0xff unused), 4 x u32
 * rows per layout, then columns: u32 CRCs, one byte GPL-only flag per row, and NUL-terminated
 * names, modules, export types and namespaces, one after another. */
long kmodtui_parse_symvers(const uint8_t *data, size_t n, uint8_t *out, size_t cap, size_t *needed)
{
    for (size_t i = 0; i < n; i++) {
        uint8_t c = data[i];
        if (!((c >= 0x20 && c < 0x7f) || c == '\t' || c == '\n'))
            return KS_FALLBACK;
    }
    /* Pass 1 checks every line and counts; pass 2 writes the columns. */
    uint32_t rows = 0, per_layout[4] = {0};
    uint8_t order[4] = {0xff, 0xff, 0xff, 0xff};
    int seen = 0;
    out_t o = {.buf = out, .cap = cap, .pos = 24};
    for (int pass = 0; pass < 6; pass++) {
        /* pass 0: check and count; 1: CRCs; 2: GPL flags; 3: names; 4: modules; 5: types+namespaces */
        for (size_t start = 0; start < n;) {
            const uint8_t *nl = memchr(data + start, '\n', n - start);
            size_t end = nl ? (size_t)(nl - data) : n;
            const uint8_t *line = data + start;
            size_t len = end - start;
            start = end + 1;
            size_t k = 0;
            while (k < len && (line[k] == ' ' || line[k] == '\t'))
                k++;
            if (k == len)
                continue; /* blank */
            const uint8_t *col[5];
            size_t col_len[5], ncols = 0;
            for (size_t a = 0, b; a <= len; a = b + 1) {
                const uint8_t *tab = memchr(line + a, '\t', len - a);
                b = tab ? (size_t)(tab - line) : len;
                if (ncols < 5)
                    col[ncols] = line + a, col_len[ncols] = b - a;
                ncols++;
                if (!tab)
                    break;
            }
            int layout;
            if (ncols >= 5 && starts_export(col[4], col_len[4]))
                layout = LAYOUT_5_NS3;
            else if (ncols >= 4 && starts_export(col[3], col_len[3]))
                layout = ncols >= 5 ? LAYOUT_5 : LAYOUT_4;
            else if (ncols == 3)
                layout = LAYOUT_3;
            else
                return KS_FALLBACK;
            const uint8_t *name = col[1], *module, *type = (const uint8_t *)"", *ns = (const uint8_t *)"";
            size_t name_len = col_len[1], module_len, type_len = 0, ns_len = 0;
            if (layout == LAYOUT_5_NS3)
                module = col[3], module_len = col_len[3], type = col[4], type_len = col_len[4], ns = col[2], ns_len = col_len[2];
            else
                module = col[2], module_len = col_len[2];
            if (layout == LAYOUT_4 || layout == LAYOUT_5)
                type = col[3], type_len = col_len[3];
            if (layout == LAYOUT_5)
                ns = col[4], ns_len = col_len[4];
            if (pass == 0) {
                const uint8_t *h = col[0];
                size_t hl = col_len[0];
                if (hl < 3 || h[0] != '0' || (h[1] != 'x' && h[1] != 'X') || name_len == 0)
                    return KS_FALLBACK;
                uint64_t v = 0;
                for (size_t d = 2; d < hl; d++) {
                    int x = h[d] >= '0' && h[d] <= '9' ? h[d] - '0' : h[d] >= 'a' && h[d] <= 'f' ? h[d] - 'a' + 10
                          : h[d] >= 'A' && h[d] <= 'F' ? h[d] - 'A' + 10 : -1;
                    if (x < 0)
                        return KS_FALLBACK;
                    v = v * 16 + (uint64_t)x;
                    if (v > 0xFFFFFFFFu)
                        return KS_FALLBACK;
                }
                rows++;
                if (per_layout[layout]++ == 0)
                    order[seen++] = (uint8_t)layout;
            } else if (pass == 1) {
                uint32_t v = 0;
                for (size_t d = 2; d < col_len[0]; d++) {
                    uint8_t h = col[0][d];
                    v = v * 16 + (uint32_t)(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
                }
                put_u32(&o, v);
            } else if (pass == 2) {
                /* SymversEntry.gpl_only: ends with _GPL or holds _GPL_ */
                uint8_t gpl = type_len >= 4 && memcmp(type + type_len - 4, "_GPL", 4) == 0;
                for (size_t d = 0; !gpl && d + 5 <= type_len; d++)
                    gpl = memcmp(type + d, "_GPL_", 5) == 0;
                put(&o, &gpl, 1);
            } else if (pass == 3) {
                put(&o, name, name_len), put(&o, "", 1);
            } else if (pass == 4) {
                put(&o, module, module_len), put(&o, "", 1);
            } else {
                put(&o, type, type_len), put(&o, "", 1);
                put(&o, ns, ns_len), put(&o, "", 1);
            }
        }
        if (pass == 0 && rows == 0)
            return KS_FALLBACK; /* not a symvers file: Python says so */
    }
    uint32_t head[6] = {rows, 0, per_layout[0], per_layout[1], per_layout[2], per_layout[3]};
    memcpy(&head[1], order, 4);
    if (o.pos > cap) {
        *needed = o.pos;
        return KS_TOO_SMALL;
    }
    memcpy(out, head, sizeof head);
    return (long)o.pos;
}
