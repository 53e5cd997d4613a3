/*
 * Windows crash dump core: kernel virtual addresses
 *
 * Walks the x86 page tables rooted at the dump header's DirectoryTableBase.
 * A vCPU's CR3 may belong to any process (or to no kernel at all, early in
 * a crash), so the header's own root is the one that readers of the file
 * will use too.  The tables are guest data: every entry is checked to lie
 * in guest RAM before it is read, and each walk has a fixed number of
 * levels, so no table can make it loop.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "windmp.h"

#define PTE_PRESENT     (1ull << 0)
#define PTE_PS          (1ull << 7)
#define PTE_ADDR_MASK   0x000ffffffffff000ull   /* bits 51:12 */

void windmp_space_init(WinDumpSpace *as, const WinDumpGuest *g,
                       WinDumpPaging paging, uint64_t dtb)
{
    as->g = g;
    as->paging = paging;
    as->dtb = dtb;
    as->tables = g_array_new(false, false, sizeof(WinDumpRange));
}

void windmp_space_destroy(WinDumpSpace *as)
{
    if (as->tables) {
        g_array_free(as->tables, true);
        as->tables = NULL;
    }
}

static void note_table(WinDumpSpace *as, uint64_t start, uint64_t len)
{
    WinDumpRange r = { start, start + len };
    guint i;

    for (i = 0; i < as->tables->len; i++) {
        WinDumpRange *t = &g_array_index(as->tables, WinDumpRange, i);
        if (t->start == r.start && t->end == r.end) {
            return;
        }
    }
    g_array_append_val(as->tables, r);
}

/* Read entry @idx of the table at @table, @table_size bytes long */
static bool read_entry(WinDumpSpace *as, uint64_t table, uint64_t table_size,
                       unsigned idx, unsigned width, uint64_t *entry,
                       Error **errp)
{
    uint64_t pa = table + (uint64_t)idx * width;

    note_table(as, table, table_size);
    if (width == 4) {
        uint32_t e;

        if (!windmp_read_phys(as->g, pa, &e, 4, errp)) {
            return false;
        }
        *entry = le32_to_cpu(e);
    } else {
        uint64_t e;

        if (!windmp_read_phys(as->g, pa, &e, 8, errp)) {
            return false;
        }
        *entry = le64_to_cpu(e);
    }
    return true;
}

static bool walk_lm4(WinDumpSpace *as, uint64_t va, uint64_t *pa,
                     uint64_t *size, Error **errp)
{
    static const char *const level_name[] = { "PML4E", "PDPTE", "PDE", "PTE" };
    uint64_t table = as->dtb & PTE_ADDR_MASK;
    int level;

    /* bits 63:47 must all be equal (48-bit canonical form) */
    if ((uint64_t)((int64_t)(va << 16) >> 16) != va) {
        error_setg(errp, "address 0x%016" PRIx64 " is not canonical", va);
        return false;
    }

    for (level = 0; level < 4; level++) {
        unsigned shift = 39 - 9 * level;
        uint64_t entry;

        if (!read_entry(as, table, WIN_DUMP_PAGE_SIZE, (va >> shift) & 511,
                        8, &entry, errp)) {
            error_prepend(errp, "reading the %s of 0x%016" PRIx64 ": ",
                          level_name[level], va);
            return false;
        }
        if (!(entry & PTE_PRESENT)) {
            error_setg(errp, "address 0x%016" PRIx64 " is not mapped"
                       " (%s not present)", va, level_name[level]);
            return false;
        }
        if (level == 3 || ((level == 1 || level == 2) && (entry & PTE_PS))) {
            *size = 1ull << shift;
            *pa = (entry & PTE_ADDR_MASK & ~(*size - 1)) | (va & (*size - 1));
            return true;
        }
        table = entry & PTE_ADDR_MASK;
    }
    g_assert_not_reached();
}

static bool walk_pae(WinDumpSpace *as, uint64_t va, uint64_t *pa,
                     uint64_t *size, Error **errp)
{
    uint64_t entry, table;

    va &= 0xffffffffull;
    /* CR3 holds the 32-byte aligned address of the 4-entry PDPT */
    if (!read_entry(as, as->dtb & 0xffffffe0ull, 32, (va >> 30) & 3, 8,
                    &entry, errp)) {
        error_prepend(errp, "reading the PDPTE of 0x%08" PRIx64 ": ", va);
        return false;
    }
    if (!(entry & PTE_PRESENT)) {
        error_setg(errp, "address 0x%08" PRIx64 " is not mapped"
                   " (PDPTE not present)", va);
        return false;
    }
    table = entry & PTE_ADDR_MASK;
    if (!read_entry(as, table, WIN_DUMP_PAGE_SIZE, (va >> 21) & 511, 8,
                    &entry, errp)) {
        error_prepend(errp, "reading the PDE of 0x%08" PRIx64 ": ", va);
        return false;
    }
    if (!(entry & PTE_PRESENT)) {
        error_setg(errp, "address 0x%08" PRIx64 " is not mapped"
                   " (PDE not present)", va);
        return false;
    }
    if (entry & PTE_PS) {
        *size = 1ull << 21;
        *pa = (entry & PTE_ADDR_MASK & ~(*size - 1)) | (va & (*size - 1));
        return true;
    }
    table = entry & PTE_ADDR_MASK;
    if (!read_entry(as, table, WIN_DUMP_PAGE_SIZE, (va >> 12) & 511, 8,
                    &entry, errp)) {
        error_prepend(errp, "reading the PTE of 0x%08" PRIx64 ": ", va);
        return false;
    }
    if (!(entry & PTE_PRESENT)) {
        error_setg(errp, "address 0x%08" PRIx64 " is not mapped"
                   " (PTE not present)", va);
        return false;
    }
    *size = WIN_DUMP_PAGE_SIZE;
    *pa = (entry & PTE_ADDR_MASK) | (va & (WIN_DUMP_PAGE_SIZE - 1));
    return true;
}

static bool walk_x86(WinDumpSpace *as, uint64_t va, uint64_t *pa,
                     uint64_t *size, Error **errp)
{
    uint64_t entry;

    va &= 0xffffffffull;
    if (!read_entry(as, as->dtb & 0xfffff000ull, WIN_DUMP_PAGE_SIZE,
                    (va >> 22) & 1023, 4, &entry, errp)) {
        error_prepend(errp, "reading the PDE of 0x%08" PRIx64 ": ", va);
        return false;
    }
    if (!(entry & PTE_PRESENT)) {
        error_setg(errp, "address 0x%08" PRIx64 " is not mapped"
                   " (PDE not present)", va);
        return false;
    }
    if (entry & PTE_PS) {
        /* PSE-36: PDE bits 20:13 hold physical address bits 39:32 */
        *size = 1ull << 22;
        *pa = (entry & 0xffc00000ull) | (((entry >> 13) & 0xff) << 32) |
              (va & (*size - 1));
        return true;
    }
    if (!read_entry(as, entry & 0xfffff000ull, WIN_DUMP_PAGE_SIZE,
                    (va >> 12) & 1023, 4, &entry, errp)) {
        error_prepend(errp, "reading the PTE of 0x%08" PRIx64 ": ", va);
        return false;
    }
    if (!(entry & PTE_PRESENT)) {
        error_setg(errp, "address 0x%08" PRIx64 " is not mapped"
                   " (PTE not present)", va);
        return false;
    }
    *size = WIN_DUMP_PAGE_SIZE;
    *pa = (entry & 0xfffff000ull) | (va & (WIN_DUMP_PAGE_SIZE - 1));
    return true;
}

bool windmp_translate(WinDumpSpace *as, uint64_t va, uint64_t *pa,
                      uint64_t *left, Error **errp)
{
    uint64_t size = 0;
    bool ok;

    switch (as->paging) {
    case WIN_DUMP_PAGING_LM4:
        ok = walk_lm4(as, va, pa, &size, errp);
        break;
    case WIN_DUMP_PAGING_PAE:
        ok = walk_pae(as, va, pa, &size, errp);
        break;
    case WIN_DUMP_PAGING_X86:
        ok = walk_x86(as, va, pa, &size, errp);
        break;
    default:
        g_assert_not_reached();
    }
    if (ok) {
        *left = size - (*pa & (size - 1));
    }
    return ok;
}

bool windmp_read_virt(WinDumpSpace *as, uint64_t va, void *buf,
                      uint64_t len, Error **errp)
{
    uint8_t *p = buf;

    while (len) {
        uint64_t pa, left, n;

        if (!windmp_translate(as, va, &pa, &left, errp)) {
            return false;
        }
        n = MIN(left, len);
        if (!windmp_read_phys(as->g, pa, p, n, errp)) {
            error_prepend(errp, "reading 0x%016" PRIx64 ": ", va);
            return false;
        }
        p += n;
        va += n;
        len -= n;
    }
    return true;
}
