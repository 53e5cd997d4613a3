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
#include "qemu/bitmap.h"
#include "windmp.h"

#define PTE_PRESENT     (1ull << 0)
#define PTE_PS          (1ull << 7)
#define PTE_ADDR_MASK   0x000ffffffffff000ull   /* bits 51:12 */
#define CR0_PG          (1ull << 31)
#define CR4_LA57        (1ull << 12)

bool windmp_x64_paging(const WinDumpGuest *g, unsigned nr_cpus,
                       WinDumpPaging *paging, Error **errp)
{
    int first = -1;
    unsigned i;

    *paging = WIN_DUMP_PAGING_LM4;
    for (i = 0; i < nr_cpus && i < g->nr_cpus; i++) {
        const WinDumpCpu *c = &g->cpus[i];

        /* an AP still waiting for its SIPI has no paging mode yet */
        if (!c->has_cr || !(c->cr[0] & CR0_PG)) {
            continue;
        }
        if (first < 0) {
            first = i;
            if (c->cr[4] & CR4_LA57) {
                *paging = WIN_DUMP_PAGING_LM5;
            }
        } else if (!(c->cr[4] & CR4_LA57) !=
                   !(g->cpus[first].cr[4] & CR4_LA57)) {
            error_setg(errp, "vCPU %d runs with %d-level paging but vCPU %u"
                       " with %d-level (CR4.LA57): there is no telling how"
                       " to read the kernel's page tables", first,
                       *paging == WIN_DUMP_PAGING_LM5 ? 5 : 4, i,
                       *paging == WIN_DUMP_PAGING_LM5 ? 4 : 5);
            return false;
        }
    }
    return true;
}

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

/*
 * The four x86 paging modes, described as data: one row per level, from
 * the root down.  The last level always maps a page; others may when
 * their entry has PS set.
 */
typedef struct PagingLevel {
    const char *entry;          /* name, for messages */
    unsigned shift;             /* lowest VA bit this level indexes */
    unsigned bits;              /* how many VA bits it indexes */
    bool large;                 /* PS may map a page here */
} PagingLevel;

typedef struct PagingMode {
    unsigned va_bits;           /* 57 or 48 (canonical form), or 32 */
    unsigned width;             /* bytes per entry */
    uint64_t root_mask;         /* root table address in the DTB (CR3) */
    uint64_t root_size;
    unsigned nr_levels;
    PagingLevel level[5];
} PagingMode;

static const PagingMode modes[] = {
    [WIN_DUMP_PAGING_LM5] = {
        57, 8, PTE_ADDR_MASK, WIN_DUMP_PAGE_SIZE, 5, {
            { "PML5E", 48, 9, false },
            { "PML4E", 39, 9, false },
            { "PDPTE", 30, 9, true },
            { "PDE", 21, 9, true },
            { "PTE", 12, 9, false },
        },
    },
    [WIN_DUMP_PAGING_LM4] = {
        48, 8, PTE_ADDR_MASK, WIN_DUMP_PAGE_SIZE, 4, {
            { "PML4E", 39, 9, false },
            { "PDPTE", 30, 9, true },
            { "PDE", 21, 9, true },
            { "PTE", 12, 9, false },
        },
    },
    /* CR3 holds the 32-byte aligned address of a 4-entry PDPT */
    [WIN_DUMP_PAGING_PAE] = {
        32, 8, 0xffffffe0ull, 32, 3, {
            { "PDPTE", 30, 2, false },
            { "PDE", 21, 9, true },
            { "PTE", 12, 9, false },
        },
    },
    [WIN_DUMP_PAGING_X86] = {
        32, 4, 0xfffff000ull, WIN_DUMP_PAGE_SIZE, 2, {
            { "PDE", 22, 10, true },
            { "PTE", 12, 10, false },
        },
    },
};

/* Physical address of the table or page that @entry points to */
static uint64_t entry_address(const PagingMode *m, uint64_t entry,
                              uint64_t size)
{
    if (m->width == 4) {
        if (size > WIN_DUMP_PAGE_SIZE) {
            /* PSE-36: PDE bits 20:13 hold physical address bits 39:32 */
            return (entry & 0xffc00000ull) | (((entry >> 13) & 0xff) << 32);
        }
        return entry & 0xfffff000ull;
    }
    /* bit 12 of a large-page entry is PAT, not address */
    return entry & PTE_ADDR_MASK & ~(size - 1);
}

static bool walk(WinDumpSpace *as, uint64_t va, uint64_t *pa, uint64_t *size,
                 Error **errp)
{
    ERRP_GUARD();
    const PagingMode *m = &modes[as->paging];
    uint64_t table = as->dtb & m->root_mask;
    uint64_t table_size = m->root_size;
    int va_digits = m->va_bits == 32 ? 8 : 16;
    unsigned unused = 64 - m->va_bits;
    unsigned i;

    if (m->va_bits == 32) {
        va &= 0xffffffffull;
    } else if ((uint64_t)((int64_t)(va << unused) >> unused) != va) {
        /* bits 63:va_bits-1 must all be equal (canonical form) */
        error_setg(errp, "address 0x%016" PRIx64 " is not canonical"
                   " (%u-bit)", va, m->va_bits);
        return false;
    }

    for (i = 0; i < m->nr_levels; i++) {
        const PagingLevel *l = &m->level[i];
        uint64_t entry;

        if (!read_entry(as, table, table_size,
                        (va >> l->shift) & ((1u << l->bits) - 1),
                        m->width, &entry, errp)) {
            error_prepend(errp, "reading the %s of 0x%0*" PRIx64 ": ",
                          l->entry, va_digits, va);
            return false;
        }
        if (!(entry & PTE_PRESENT)) {
            error_setg(errp, "address 0x%0*" PRIx64 " is not mapped"
                       " (%s not present)", va_digits, va, l->entry);
            return false;
        }
        if (i == m->nr_levels - 1 || (l->large && (entry & PTE_PS))) {
            *size = 1ull << l->shift;
            *pa = entry_address(m, entry, *size) | (va & (*size - 1));
            return true;
        }
        table = entry_address(m, entry, WIN_DUMP_PAGE_SIZE);
        table_size = WIN_DUMP_PAGE_SIZE;
    }
    g_assert_not_reached();
}

bool windmp_translate(WinDumpSpace *as, uint64_t va, uint64_t *pa,
                      uint64_t *left, Error **errp)
{
    uint64_t size = 0;

    g_assert(as->paging < ARRAY_SIZE(modes));
    if (!walk(as, va, pa, &size, errp)) {
        return false;
    }
    *left = size - (*pa & (size - 1));
    return true;
}

bool windmp_read_virt(WinDumpSpace *as, uint64_t va, void *buf,
                      uint64_t len, Error **errp)
{
    ERRP_GUARD();
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

/*
 * Kernel memory dumps hold what the kernel half of the address space maps
 * and every page table reachable from the root.  Windows maps its own page
 * tables through a self-referencing root entry (at a random index), so the
 * tree is a graph: an entry that leads back to a table on the current path
 * is not followed, and each table is walked at most once per level and
 * half of the address space.  The cost is then bounded by the tables in
 * guest RAM, whatever the guest wrote; the tables the self-map shows are
 * in the dump as tables anyway.
 */
typedef struct KernelWalk {
    const WinDumpGuest *g;
    const PagingMode *m;
    unsigned long *pages;
    uint64_t nr_pfns;
    /*
     * Tables walked, per level, for the kernel half and for the user half,
     * one bit per page of guest RAM (not per page frame: RAM may be
     * sparse); first[i] is the bit of the first page of RAM range i
     */
    unsigned long *walked[2][ARRAY_SIZE(((PagingMode *)0)->level)];
    uint64_t *first;
    uint64_t path[ARRAY_SIZE(((PagingMode *)0)->level)];
    uint8_t buf[ARRAY_SIZE(((PagingMode *)0)->level)][WIN_DUMP_PAGE_SIZE];
} KernelWalk;

/* Set the bits of the whole pages of guest RAM in [start, end) */
static void mark_ram(KernelWalk *kw, uint64_t start, uint64_t end)
{
    const WinDumpGuest *g = kw->g;
    size_t lo;

    end = MIN(end, kw->nr_pfns << WIN_DUMP_PAGE_BITS);
    for (lo = windmp_ram_find(g, start);
         lo < g->nr_ram && g->ram[lo].start < end; lo++) {
        uint64_t s = DIV_ROUND_UP(MAX(start, g->ram[lo].start),
                                  WIN_DUMP_PAGE_SIZE);
        uint64_t e = MIN(end, g->ram[lo].end) >> WIN_DUMP_PAGE_BITS;

        if (s < e) {
            bitmap_set(kw->pages, s, e - s);
        }
    }
}

/* The bit of the RAM page at @pa in KernelWalk.walked (@pa is RAM) */
static uint64_t ram_page(const KernelWalk *kw, uint64_t pa)
{
    size_t i = windmp_ram_find(kw->g, pa);

    return kw->first[i] + ((pa - kw->g->ram[i].start) >> WIN_DUMP_PAGE_BITS);
}

static void walk_kernel(KernelWalk *kw, unsigned level, uint64_t table,
                        uint64_t table_size, bool kernel_half)
{
    const PagingMode *m = kw->m;
    const PagingLevel *l = &m->level[level];
    unsigned nr = 1u << l->bits, n, i, j;
    uint64_t pfn = table >> WIN_DUMP_PAGE_BITS, bit;
    uint8_t *buf = kw->buf[level];

    /*
     * A table the user half shares with the kernel half is walked again
     * from the kernel half, where its pages count; not the other way.
     */
    if (!windmp_is_ram(kw->g, table, table_size)) {
        return;
    }
    bit = ram_page(kw, table);
    if (test_bit(bit, kw->walked[1][level]) ||
        (!kernel_half && test_bit(bit, kw->walked[0][level]))) {
        return;
    }
    set_bit(bit, kw->walked[kernel_half][level]);
    set_bit(pfn, kw->pages);
    if (!windmp_read_phys(kw->g, table, buf, table_size, NULL)) {
        return;
    }
    kw->path[level] = table;

    /* the root's kernel half first: tables it shares are walked once */
    for (n = 0; n < nr; n++) {
        bool kernel;
        uint64_t e, next;

        i = level ? n : (n + nr / 2) % nr;
        kernel = kernel_half || (level == 0 && i >= nr / 2);
        e = m->width == 4 ? (uint32_t)ldl_le_p(buf + 4 * i) :
                            ldq_le_p(buf + 8 * i);
        if (!(e & PTE_PRESENT)) {
            continue;
        }
        if (level == m->nr_levels - 1 || (l->large && (e & PTE_PS))) {
            if (kernel) {
                uint64_t size = 1ull << l->shift;
                uint64_t pa = entry_address(m, e, size);

                mark_ram(kw, pa, pa + size);
            }
            continue;
        }
        next = entry_address(m, e, WIN_DUMP_PAGE_SIZE);
        for (j = 0; j <= level && kw->path[j] != next; j++) {
            continue;
        }
        if (j > level) {
            walk_kernel(kw, level + 1, next, WIN_DUMP_PAGE_SIZE, kernel);
        }
    }
}

void windmp_kernel_pages(WinDumpSpace *as, unsigned long *pages,
                         uint64_t nr_pfns)
{
    const PagingMode *m = &modes[as->paging];
    g_autofree KernelWalk *kw = g_new0(KernelWalk, 1);
    uint64_t root = as->dtb & m->root_mask, ram_pages = 0;
    size_t i;

    kw->g = as->g;
    kw->m = m;
    kw->pages = pages;
    kw->nr_pfns = nr_pfns;
    kw->first = g_new(uint64_t, as->g->nr_ram);
    for (i = 0; i < as->g->nr_ram; i++) {
        kw->first[i] = ram_pages;
        ram_pages += DIV_ROUND_UP(as->g->ram[i].end - as->g->ram[i].start,
                                  WIN_DUMP_PAGE_SIZE);
    }
    for (i = 0; i < m->nr_levels; i++) {
        kw->walked[0][i] = bitmap_new(ram_pages);
        kw->walked[1][i] = bitmap_new(ram_pages);
        kw->path[i] = UINT64_MAX;
    }
    /* the root of a PAE walk is 32 bytes; its page goes into the dump */
    if (root >> WIN_DUMP_PAGE_BITS < nr_pfns) {
        walk_kernel(kw, 0, root, m->root_size, false);
    }
    for (i = 0; i < m->nr_levels; i++) {
        g_free(kw->walked[0][i]);
        g_free(kw->walked[1][i]);
    }
    g_free(kw->first);
}
