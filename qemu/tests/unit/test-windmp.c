/*
 * Unit tests of the win-dmp core (dump/windmp/): a fake Windows guest
 * (RAM, x86 page tables, KDBG, KiBugcheckData, KiProcessorBlock, KPRCBs)
 * checked against what windmp_prepare() patches and windmp_write() streams,
 * and against hostile guest data.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "dump/windmp/windmp.h"
#include "windmp-synth-mem.h"

#define MiB             (1ull << 20)
#define GiB             (1ull << 30)
#define PAGE            0x1000ull

#define RAM_SIZE        (16 * MiB)
#define HIGH_BASE       (4 * GiB)
#define HIGH_SIZE       (1 * MiB)
#define MAX_CPUS        4

#define PTE_P           0x1ull
#define PTE_RW          0x2ull
#define PTE_PS          0x80ull
#define PTE_PAT_LARGE   0x1000ull       /* PAT bit of a 2M/4M/1G entry */
#define PTE_NX          (1ull << 63)
#define ADDR_MASK       0x000ffffffffff000ull

#define CR0_PE          0x1ull
#define CR0_PG          0x80000000ull
#define CR4_PSE         0x10ull
#define CR4_PAE         0x20ull
#define CR4_LA57        0x1000ull

/* Where the builder puts things (guest-physical) */
#define KDBG_PA         0x201080ull
#define KDBG_COPY_PA    0x203010ull
#define BUG_PA          0x601230ull
#define KPB_PA          0x700100ull
#define PRCB_PA(i)      (0x710080ull + 0x2000 * (i))
#define CTX_PA(i)       (0x800040ull + 0x3000 * (i))
#define CTX_HIGH_PA     (HIGH_BASE + 0x3040)
#define CTX_OFF         0x3f0
#define KUSD_PA         0xc40000ull     /* KUSER_SHARED_DATA */
#define KUSD_VA64       0xfffff78000000000ull
#define KUSD_VA32       0xffdf0000ull
#define KUSD_LOW        0x89abcdefu     /* InterruptTime */
#define KUSD_HIGH       0x12
#define KUSD_TYPE       3
#define KUSD_SUITE      0x110
#define PFN_VA64        0xfffff8000abcd000ull
#define PFN_VA32        0x8055a000ull
#define BUG_CODE        0xd1u

#define PAGE_FILL64     SYNTH_WIN_PAGE_FILL64

/* ---- warnings ---- */

static GPtrArray *warnings;

static void warn_collect(void *opaque, const char *msg)
{
    g_test_message("warning: %s", msg);
    g_ptr_array_add(warnings, g_strdup(msg));
}

static bool warned(const char *needle)
{
    guint i;

    for (i = 0; i < warnings->len; i++) {
        if (strstr(g_ptr_array_index(warnings, i), needle)) {
            return true;
        }
    }
    return false;
}

static void assert_err_has(Error *err, const char *needle)
{
    g_assert_nonnull(err);
    if (!strstr(error_get_pretty(err), needle)) {
        g_test_message("error '%s' lacks '%s'", error_get_pretty(err), needle);
        g_assert_not_reached();
    }
}

/* ---- the fake guest ---- */

typedef struct Guest {
    uint8_t *low;               /* RAM_SIZE bytes at 0 */
    uint8_t *high;              /* HIGH_SIZE bytes at HIGH_BASE, or NULL */
    WinDumpRange ram[2];
    WinDumpCpu cpus[MAX_CPUS];
    WinDumpGuest g;
    uint64_t map_max;           /* 0: map as much as asked */
    uint64_t cuts[8];           /* with map_max: no piece crosses these */
    unsigned nr_cuts;
    unsigned cut_hits;          /* pieces that ended on a cut */
    uint64_t map_fail_pa;       /* map() returns NULL there */
    int mapped;                 /* maps not unmapped yet */
    SynthMem mem;               /* low and high, and the page tables */
} Guest;

static uint8_t *buf_ptr(uint8_t *low, uint8_t *high, uint64_t pa,
                        uint64_t len)
{
    if (pa < RAM_SIZE && len <= RAM_SIZE - pa) {
        return low + pa;
    }
    if (high && pa >= HIGH_BASE && pa - HIGH_BASE < HIGH_SIZE &&
        len <= HIGH_SIZE - (pa - HIGH_BASE)) {
        return high + (pa - HIGH_BASE);
    }
    return NULL;
}

static uint8_t *guest_ptr(Guest *gu, uint64_t pa, uint64_t len)
{
    return synth_mem_ptr(&gu->mem, pa, len);
}

static bool fake_read(void *opaque, uint64_t pa, void *buf, uint64_t len)
{
    Guest *gu = opaque;

    /* the core promises to ask for RAM only: anything else aborts */
    memcpy(buf, guest_ptr(gu, pa, len), len);
    return true;
}

static const void *fake_map(void *opaque, uint64_t pa, uint64_t *len)
{
    Guest *gu = opaque;
    uint64_t avail;
    uint8_t *p;

    if (pa == gu->map_fail_pa) {
        return NULL;
    }
    p = guest_ptr(gu, pa, 1);
    g_assert_cmpuint(*len, >, 0);
    avail = pa < RAM_SIZE ? RAM_SIZE - pa : HIGH_BASE + HIGH_SIZE - pa;
    *len = MIN(*len, avail);
    if (gu->map_max) {
        bool cut = false;
        unsigned i;

        *len = MIN(*len, gu->map_max);
        for (i = 0; i < gu->nr_cuts; i++) {
            if (gu->cuts[i] > pa && gu->cuts[i] - pa <= *len) {
                *len = gu->cuts[i] - pa;
                cut = true;
            }
        }
        gu->cut_hits += cut;
    }
    gu->mapped++;
    return p;
}

static void fake_unmap(void *opaque, const void *ptr, uint64_t len)
{
    Guest *gu = opaque;

    g_assert_cmpint(gu->mapped, >, 0);
    gu->mapped--;
}

static const WinDumpGuestOps fake_ops = {
    .read = fake_read,
    .map = fake_map,
    .unmap = fake_unmap,
    .warn = warn_collect,
};

static void st16(Guest *gu, uint64_t pa, uint16_t v)
{
    stw_le_p(guest_ptr(gu, pa, 2), v);
}

static void st32(Guest *gu, uint64_t pa, uint32_t v)
{
    stl_le_p(guest_ptr(gu, pa, 4), v);
}

static void st64(Guest *gu, uint64_t pa, uint64_t v)
{
    stq_le_p(guest_ptr(gu, pa, 8), v);
}

static uint32_t ld32(Guest *gu, uint64_t pa)
{
    return ldl_le_p(guest_ptr(gu, pa, 4));
}

static uint64_t ld64(Guest *gu, uint64_t pa)
{
    return ldq_le_p(guest_ptr(gu, pa, 8));
}

/* ---- the fake Windows guest ---- */

typedef struct Chunk {
    uint64_t pa;
    uint64_t len;
} Chunk;

typedef struct Fixture {
    Guest gu;
    WinDumpPaging paging;
    bool x64;
    unsigned ptr_size;
    uint64_t ctx_size;
    uint64_t dtb;
    uint64_t big_va, mid_va, small_va;
    uint64_t kdbg_va;
    uint64_t bug_va;
    uint8_t bug[40];            /* what KiBugcheckData holds */
    uint64_t kpb_va;
    uint64_t prcb_va[MAX_CPUS];
    uint64_t ctx_va[MAX_CPUS];
    Chunk ctx[MAX_CPUS][2];     /* where each context lives */
    uint64_t runs[WIN_DUMP_MAX_RUNS32 + 2][2];
    unsigned nr_runs;
    uint64_t pages;
    WinDumpHeader hdr;          /* the guest's header */
    size_t hdr_size;
    WinDump wd;
    bool prepared;
    uint8_t *low_copy;
    uint8_t *high_copy;
    /* what the patched header must say, from KUSER_SHARED_DATA or not */
    uint64_t uptime;
    uint32_t product_type;
    uint32_t suite_mask;
} Fixture;

/* The Windows structures, as synth_win_*() builds them for every test */
static void put_ptr(Fixture *f, uint64_t pa, uint64_t va)
{
    synth_win_put_ptr(&f->gu.mem, f->x64, pa, va);
}

static void put_kdbg(Fixture *f, uint64_t kdbg_pa, unsigned off, uint64_t va)
{
    synth_win_put_kdbg(&f->gu.mem, f->x64, kdbg_pa, off, va);
}

/* A KDBG whose unused bytes are random: only its fields may matter */
static void write_kdbg(Fixture *f, uint64_t pa)
{
    SynthWinKdbg k = {
        .bugcheck_va = f->bug_va, .pfn_va = f->x64 ? PFN_VA64 : PFN_VA32,
        .kpb_va = f->kpb_va, .prcb_context = CTX_OFF,
        .size = f->x64 ? 0x368 : KDBG_MIN_SIZE, .fill_seed = pa,
    };

    synth_win_kdbg(&f->gu.mem, f->x64, pa, &k);
}

static void write_bugcheck(Fixture *f, uint32_t code)
{
    synth_win_bugcheck(&f->gu.mem, f->x64, BUG_PA, code, f->bug);
}

static void hdr_put32(Fixture *f, size_t off, uint32_t v)
{
    synth_win_hdr_put32(&f->hdr, off, v);
}

static uint32_t hdr_get32(const WinDump *wd, size_t off)
{
    return ldl_le_p((const uint8_t *)&wd->hdr + off);
}

/* Write f->runs into the header, by raw offsets (past Run[] too) */
static void hdr_set_runs(Fixture *f)
{
    f->pages = synth_win_hdr_set_runs(&f->hdr, f->x64, f->runs, f->nr_runs);
}

static void set_run(Fixture *f, unsigned i, uint64_t base, uint64_t count)
{
    f->runs[i][0] = base;
    f->runs[i][1] = count;
}

static void hdr_set_nr_cpus(Fixture *f, uint32_t n)
{
    synth_win_hdr_set_nr_cpus(&f->hdr, f->x64, n);
}

static void hdr_set_kdbg(Fixture *f, uint64_t kdbg, uint64_t param1)
{
    synth_win_hdr_set_kdbg(&f->hdr, f->x64, kdbg, param1);
}

static void hdr_set_dtb(Fixture *f, uint64_t dtb)
{
    synth_win_hdr_set_dtb(&f->hdr, f->x64, dtb);
}

static void cpus_init(Guest *gu)
{
    unsigned i, k;

    for (i = 0; i < MAX_CPUS; i++) {
        WinDumpCpu *c = &gu->cpus[i];

        for (k = 0; k < 16; k++) {
            c->regs[k] = ((uint64_t)(0x5a00 + i) << 48) |
                         ((uint64_t)(i + 1) << 20) | (k << 4) | 1;
        }
        c->rip = 0xfffff80012340000ull + 0x100 * i;
        c->rflags = 0x246 | (i << 8);
        for (k = 0; k < 6; k++) {
            c->sel[k] = 0x100 * (i + 1) + 8 * k + 3;
        }
        for (k = 0; k < 8; k++) {
            c->dr[k] = 0xd000 + 0x10 * i + k;
        }
        c->fx.ControlWord = 0x37f;
        c->fx.MxCsr = 0x1f80 | i;
        c->fx.MxCsr_Mask = 0xffbf;
        for (k = 0; k < 16; k++) {
            c->fx.XmmRegisters[k].low = 0x7000000000000000ull | (i << 8) | k;
            c->fx.XmmRegisters[k].high = -(int64_t)(k + 1);
        }
    }
}

static void guest_init(Guest *gu, bool high, unsigned nr_cpus)
{
    gu->low = g_malloc0(RAM_SIZE);
    synth_mem_fill_random(gu->low, RAM_SIZE, 0x9e3779b97f4a7c15ull);
    gu->ram[0] = (WinDumpRange) { 0, RAM_SIZE };
    if (high) {
        gu->high = g_malloc0(HIGH_SIZE);
        synth_mem_fill_random(gu->high, HIGH_SIZE, 0xc2b2ae3d27d4eb4full);
        gu->ram[1] = (WinDumpRange) { HIGH_BASE, HIGH_BASE + HIGH_SIZE };
    }
    cpus_init(gu);
    gu->map_fail_pa = UINT64_MAX;
    gu->mem = (SynthMem) {
        .ram = { gu->ram[0], gu->ram[1] }, .buf = { gu->low, gu->high },
        .nr = high ? 2 : 1, .next_table = 0x10000, .table_end = 0x100000,
    };
    gu->g = (WinDumpGuest) {
        .ops = &fake_ops, .opaque = gu, .ram = gu->ram,
        .nr_ram = high ? 2 : 1, .cpus = gu->cpus, .nr_cpus = nr_cpus,
    };
}

static void fixture_map(Fixture *f, uint64_t va, uint64_t pa, uint64_t size)
{
    synth_mem_map(&f->gu.mem, f->paging, f->dtb, va, pa, size);
}

/* KUSER_SHARED_DATA's InterruptTime, ProductType and SuiteMask */
static void write_kusd(Fixture *f, uint32_t low, uint32_t high1,
                       uint32_t high2, uint32_t type, uint32_t suite)
{
    synth_win_kusd(&f->gu.mem, KUSD_PA, low, high1, high2, type, suite);
}

/* Point KPRCB[i].Context at @va, a context living in @c0 (+ @c1) */
static void set_ctx(Fixture *f, unsigned i, uint64_t va, Chunk c0, Chunk c1)
{
    f->ctx_va[i] = va;
    f->ctx[i][0] = c0;
    f->ctx[i][1] = c1;
    put_ptr(f, PRCB_PA(i) + CTX_OFF, va);
}

/*
 * A Windows-like guest: @nr_cpus vCPUs, RAM at 0 (16 MiB) and, with
 * @high, at 4 GiB (1 MiB).  The KDBG is reached through a 1 GiB (LM4),
 * 2 MiB (PAE) or 4 MiB (x86) page, KiBugcheckData through a 2 MiB page
 * (4 KiB on x86), everything else through 4 KiB pages; with @high,
 * processor 1's context is above 4 GiB (PSE-36 on x86).
 */
static Fixture *fixture_new(WinDumpPaging paging, unsigned nr_cpus, bool high)
{
    Fixture *f = g_new0(Fixture, 1);
    uint64_t big_pa, i;

    g_ptr_array_set_size(warnings, 0);
    f->paging = paging;
    f->x64 = paging == WIN_DUMP_PAGING_LM4 || paging == WIN_DUMP_PAGING_LM5;
    f->ptr_size = f->x64 ? 8 : 4;
    f->ctx_size = f->x64 ? sizeof(WinContext64) : sizeof(WinContext32);
    f->hdr_size = f->x64 ? sizeof(WinDumpHeader64) : sizeof(WinDumpHeader32);
    guest_init(&f->gu, high, nr_cpus);

    if (paging == WIN_DUMP_PAGING_PAE) {
        /* CR3 of PAE paging is 32-byte aligned, not page aligned */
        f->dtb = 0x1fe0;
        memset(guest_ptr(&f->gu, f->dtb, 32), 0, 32);
    } else {
        f->dtb = synth_mem_table(&f->gu.mem);
    }
    /* every vCPU runs the kernel, with paging on in its mode */
    for (i = 0; i < MAX_CPUS; i++) {
        f->gu.cpus[i].has_cr = true;
        f->gu.cpus[i].cr[0] = CR0_PE | CR0_PG;
        f->gu.cpus[i].cr[3] = f->dtb;
        f->gu.cpus[i].cr[4] = paging == WIN_DUMP_PAGING_X86 ? CR4_PSE :
                              paging == WIN_DUMP_PAGING_LM5 ?
                              CR4_PAE | CR4_LA57 : CR4_PAE;
    }
    if (paging == WIN_DUMP_PAGING_LM5) {
        /* 57-bit canonical, as Windows' LA57 kernel space: not 48-bit */
        f->big_va = 0xff7ff80000000000ull;
        f->mid_va = 0xff7ff80040000000ull;
        f->small_va = 0xff7ff80080000000ull;
    } else if (f->x64) {
        f->big_va = 0xfffff80000000000ull;
        f->mid_va = 0xfffff80040000000ull;
        f->small_va = 0xfffff80080000000ull;
    } else {
        f->big_va = 0x80000000;
        f->mid_va = 0x80c00000;
        f->small_va = 0x81000000;
    }

    switch (paging) {
    case WIN_DUMP_PAGING_LM4:
    case WIN_DUMP_PAGING_LM5:
        big_pa = 0;
        fixture_map(f, f->big_va, big_pa, GiB);
        fixture_map(f, f->mid_va, BUG_PA & ~(2 * MiB - 1), 2 * MiB);
        break;
    case WIN_DUMP_PAGING_PAE:
        big_pa = 2 * MiB;
        fixture_map(f, f->big_va, big_pa, 2 * MiB);
        fixture_map(f, f->mid_va, BUG_PA & ~(2 * MiB - 1), 2 * MiB);
        break;
    default:
        big_pa = 0;
        fixture_map(f, f->big_va, big_pa, 4 * MiB);
        fixture_map(f, f->mid_va + (BUG_PA & 0x1ff000), BUG_PA & ~0xfffull,
                    PAGE);
        break;
    }
    f->kdbg_va = f->big_va + KDBG_PA - big_pa;
    f->bug_va = f->mid_va + (BUG_PA & (2 * MiB - 1));
    f->kpb_va = f->small_va + (KPB_PA & 0xfff);
    fixture_map(f, f->small_va, KPB_PA & ~0xfffull, PAGE);

    write_bugcheck(f, BUG_CODE);
    write_kdbg(f, KDBG_PA);
    fixture_map(f, f->x64 ? KUSD_VA64 : KUSD_VA32, KUSD_PA, PAGE);
    write_kusd(f, KUSD_LOW, KUSD_HIGH, KUSD_HIGH, KUSD_TYPE, KUSD_SUITE);
    f->uptime = (uint64_t)KUSD_HIGH << 32 | KUSD_LOW;
    f->product_type = KUSD_TYPE;
    f->suite_mask = KUSD_SUITE;
    for (i = 0; i < nr_cpus; i++) {
        f->prcb_va[i] = f->small_va + PAGE * (1 + i) + (PRCB_PA(i) & 0xfff);
        fixture_map(f, f->prcb_va[i] & ~0xfffull, PRCB_PA(i) & ~0xfffull,
                    PAGE);
        put_ptr(f, KPB_PA + f->ptr_size * i, f->prcb_va[i]);

        if (high && i == 1) {
            uint64_t va;

            if (paging == WIN_DUMP_PAGING_X86) {
                va = 0x81400000;
                fixture_map(f, va, HIGH_BASE, 4 * MiB);
                va += CTX_HIGH_PA - HIGH_BASE;
            } else {
                va = f->small_va + 0x40000 + PAGE * i;
                fixture_map(f, va, CTX_HIGH_PA & ~0xfffull, PAGE);
                va += CTX_HIGH_PA & 0xfff;
            }
            set_ctx(f, i, va, (Chunk) { CTX_HIGH_PA, f->ctx_size },
                    (Chunk) { 0, 0 });
        } else {
            uint64_t va = f->small_va + 0x40000 + PAGE * i;

            fixture_map(f, va, CTX_PA(i) & ~0xfffull, PAGE);
            set_ctx(f, i, va + (CTX_PA(i) & 0xfff),
                    (Chunk) { CTX_PA(i), f->ctx_size }, (Chunk) { 0, 0 });
        }
    }
    /* short maps (map_max) end inside each context... */
    for (i = 0; i < nr_cpus; i++) {
        f->gu.cuts[f->gu.nr_cuts++] = f->ctx[i][0].pa + 0x18 + 0x100 * i;
    }
    /* ... and exactly where one begins */
    f->gu.cuts[f->gu.nr_cuts++] = f->ctx[0][0].pa;

    /* the header: "PAGE" wherever Windows sets nothing */
    synth_win_header(&f->hdr, paging, f->dtb, nr_cpus, f->kdbg_va);

    /* two runs with a hole at 10 MiB, and one above 4 GiB */
    set_run(f, 0, 0, 0xa00);
    set_run(f, 1, 0xb00, 0x500);
    f->nr_runs = 2;
    if (high) {
        set_run(f, 2, HIGH_BASE / PAGE, HIGH_SIZE / PAGE);
        f->nr_runs = 3;
    }
    hdr_set_runs(f);
    return f;
}

/* Snapshot guest RAM before prepare/write, to prove it is not modified */
static void snapshot(Fixture *f)
{
    g_free(f->low_copy);
    g_free(f->high_copy);
    f->low_copy = g_memdup2(f->gu.low, RAM_SIZE);
    f->high_copy = f->gu.high ? g_memdup2(f->gu.high, HIGH_SIZE) : NULL;
}

static void fixture_free(Fixture *f)
{
    if (f->prepared) {
        windmp_cleanup(&f->wd);
    }
    g_assert_cmpint(f->gu.mapped, ==, 0);
    g_free(f->gu.low);
    g_free(f->gu.high);
    g_free(f->low_copy);
    g_free(f->high_copy);
    g_free(f);
}

static bool prepare(Fixture *f, const WinDumpOptions *opts, Error **errp)
{
    size_t size;
    g_autofree uint8_t *note = synth_win_note(&f->hdr, f->hdr_size, &size);

    snapshot(f);
    f->prepared = windmp_prepare(&f->wd, &f->gu.g, note, size, opts, errp);
    if (!f->prepared) {
        /* on failure @wd holds nothing */
        g_assert_null(f->wd.extents);
        g_assert_null(f->wd.overlays);
        g_assert_cmpuint(f->wd.nr_overlays, ==, 0);
    }
    return f->prepared;
}

static void prepare_ok(Fixture *f, const WinDumpOptions *opts)
{
    Error *err = NULL;

    if (!prepare(f, opts, &err)) {
        g_test_message("windmp_prepare: %s", error_get_pretty(err));
        g_assert_not_reached();
    }
}

/* windmp_prepare() must fail, and say @needle */
static void prepare_fails(Fixture *f, const char *needle)
{
    Error *err = NULL;

    g_assert_false(prepare(f, NULL, &err));
    g_test_message("error: %s", error_get_pretty(err));
    assert_err_has(err, needle);
    error_free(err);
}

static void assert_same_bytes(const uint8_t *got, const uint8_t *exp,
                              size_t len, const char *what)
{
    size_t i;

    if (!memcmp(got, exp, len)) {
        return;
    }
    for (i = 0; i < len; i++) {
        if (got[i] != exp[i]) {
            g_test_message("%s differs first at offset 0x%zx: 0x%02x,"
                           " expected 0x%02x", what, i, got[i], exp[i]);
            g_assert_not_reached();
        }
    }
}

static void check_ram_untouched(Fixture *f)
{
    assert_same_bytes(f->gu.low, f->low_copy, RAM_SIZE, "low RAM");
    if (f->gu.high) {
        assert_same_bytes(f->gu.high, f->high_copy, HIGH_SIZE, "high RAM");
    }
}

/* Is @ctx the CONTEXT that the core must build for @cpu? */
static void check_ctx(Fixture *f, const uint8_t *ctx, const WinDumpCpu *cpu)
{
    if (f->x64) {
        WinContext64 c;

        memcpy(&c, ctx, sizeof(c));
        g_assert_cmphex(le32_to_cpu(c.ContextFlags), ==, WIN_CTX64_ALL);
        g_assert_cmphex(le64_to_cpu(c.PHome[0]), ==, 0);
        g_assert_cmphex(le64_to_cpu(c.Rax), ==, cpu->regs[0]);
        g_assert_cmphex(le64_to_cpu(c.Rcx), ==, cpu->regs[1]);
        g_assert_cmphex(le64_to_cpu(c.Rsp), ==, cpu->regs[4]);
        g_assert_cmphex(le64_to_cpu(c.Rdi), ==, cpu->regs[7]);
        g_assert_cmphex(le64_to_cpu(c.R8), ==, cpu->regs[8]);
        g_assert_cmphex(le64_to_cpu(c.R15), ==, cpu->regs[15]);
        g_assert_cmphex(le64_to_cpu(c.Rip), ==, cpu->rip);
        g_assert_cmphex(le32_to_cpu(c.EFlags), ==, (uint32_t)cpu->rflags);
        g_assert_cmphex(le16_to_cpu(c.SegEs), ==, cpu->sel[0]);
        g_assert_cmphex(le16_to_cpu(c.SegCs), ==, cpu->sel[1]);
        g_assert_cmphex(le16_to_cpu(c.SegSs), ==, cpu->sel[2]);
        g_assert_cmphex(le16_to_cpu(c.SegDs), ==, cpu->sel[3]);
        g_assert_cmphex(le16_to_cpu(c.SegFs), ==, cpu->sel[4]);
        g_assert_cmphex(le16_to_cpu(c.SegGs), ==, cpu->sel[5]);
        g_assert_cmphex(le64_to_cpu(c.Dr0), ==, cpu->dr[0]);
        g_assert_cmphex(le64_to_cpu(c.Dr7), ==, cpu->dr[7]);
        g_assert_cmphex(le32_to_cpu(c.MxCsr), ==, cpu->fx.MxCsr);
        g_assert_cmphex(le32_to_cpu(c.FltSave.MxCsr), ==, cpu->fx.MxCsr);
        g_assert_cmphex(le16_to_cpu(c.FltSave.ControlWord), ==,
                        cpu->fx.ControlWord);
        g_assert_cmphex(le64_to_cpu(c.FltSave.XmmRegisters[15].low), ==,
                        cpu->fx.XmmRegisters[15].low);
        g_assert_cmphex(le64_to_cpu(c.VectorControl), ==, 0);
    } else {
        WinContext32 c;
        WinXmmSaveArea32 fx;

        memcpy(&c, ctx, sizeof(c));
        memcpy(&fx, c.ExtendedRegisters, sizeof(fx));
        g_assert_cmphex(le32_to_cpu(c.ContextFlags), ==,
                        WIN_CTX32_FULL | WIN_CTX_DBG | WIN_CTX_EXT);
        g_assert_cmphex(le32_to_cpu(c.Eax), ==, (uint32_t)cpu->regs[0]);
        g_assert_cmphex(le32_to_cpu(c.Ecx), ==, (uint32_t)cpu->regs[1]);
        g_assert_cmphex(le32_to_cpu(c.Esp), ==, (uint32_t)cpu->regs[4]);
        g_assert_cmphex(le32_to_cpu(c.Edi), ==, (uint32_t)cpu->regs[7]);
        g_assert_cmphex(le32_to_cpu(c.Eip), ==, (uint32_t)cpu->rip);
        g_assert_cmphex(le32_to_cpu(c.EFlags), ==, (uint32_t)cpu->rflags);
        g_assert_cmphex(le32_to_cpu(c.SegEs), ==, cpu->sel[0]);
        g_assert_cmphex(le32_to_cpu(c.SegCs), ==, cpu->sel[1]);
        g_assert_cmphex(le32_to_cpu(c.SegSs), ==, cpu->sel[2]);
        g_assert_cmphex(le32_to_cpu(c.SegDs), ==, cpu->sel[3]);
        g_assert_cmphex(le32_to_cpu(c.SegFs), ==, cpu->sel[4]);
        g_assert_cmphex(le32_to_cpu(c.SegGs), ==, cpu->sel[5]);
        g_assert_cmphex(le32_to_cpu(c.Dr7), ==, (uint32_t)cpu->dr[7]);
        g_assert_cmphex(le32_to_cpu(fx.MxCsr), ==, cpu->fx.MxCsr);
        g_assert_cmphex(le64_to_cpu(fx.XmmRegisters[7].low), ==,
                        cpu->fx.XmmRegisters[7].low);
        /* x86 has 8 XMM registers */
        g_assert_cmphex(fx.XmmRegisters[8].low, ==, 0);
        g_assert_cmphex(fx.XmmRegisters[8].high, ==, 0);
    }
}

/*
 * Check the patched header against the guest's: every byte must be the
 * guest's except the fields the core is documented to patch.
 */
static void check_header(Fixture *f, uint64_t system_time, uint64_t kdbg_va,
                         unsigned cur)
{
    WinDump *wd = &f->wd;
    g_autofree WinDumpHeader *exp = g_memdup2(&f->hdr, sizeof(f->hdr));
    uint64_t total = f->hdr_size + f->pages * PAGE;

    g_assert_cmpuint(wd->hdr_size, ==, f->hdr_size);
    g_assert(wd->x64 == f->x64);
    g_assert_cmpuint(wd->total_size, ==, total);
    g_assert_cmpuint(wd->current_cpu, ==, cur);
    g_assert_cmphex(wd->kdbg_va, ==, kdbg_va);
    /* the extents are the runs, adjacent ones merged */
    g_assert_cmpuint(wd->nr_extents, >=, 1);
    g_assert_cmpuint(wd->nr_extents, <=, f->nr_runs);
    {
        uint64_t bytes = 0;
        size_t i;

        for (i = 0; i < wd->nr_extents; i++) {
            g_assert_cmphex(wd->extents[i].start, <, wd->extents[i].end);
            if (i) {
                g_assert_cmphex(wd->extents[i - 1].end, <,
                                wd->extents[i].start);
            }
            bytes += wd->extents[i].end - wd->extents[i].start;
        }
        g_assert_cmphex(bytes, ==, f->pages * PAGE);
    }
    check_ctx(f, f->x64 ? wd->hdr.x64.ContextRecord : wd->hdr.x32.ContextRecord,
              &f->gu.cpus[cur]);

    if (f->x64) {
        WinDumpHeader64 *h = &exp->x64;

        g_assert_cmphex(le64_to_cpu(wd->hdr.x64.PfnDatabase), ==, PFN_VA64);
        g_assert_cmphex(le64_to_cpu(wd->hdr.x64.RequiredDumpSpace), ==,
                        total);
        g_assert_cmphex(le64_to_cpu(
                        wd->hdr.x64.PhysicalMemoryBlock.NumberOfPages), ==,
                        f->pages);
        g_assert_cmphex(le64_to_cpu(wd->hdr.x64.KdDebuggerDataBlock), ==,
                        kdbg_va);
        g_assert_cmphex(le32_to_cpu(wd->hdr.x64.DumpType), ==, 1);
        g_assert_cmphex(hdr_get32(wd, 0x8c), ==, 0);
        g_assert_cmphex(hdr_get32(wd, 0xf9c), ==, 0);
        g_assert_cmphex(le64_to_cpu(wd->hdr.x64.SystemTime), ==,
                        system_time ? system_time : PAGE_FILL64);

        h->PfnDatabase = cpu_to_le64(PFN_VA64);
        memcpy(h->BugcheckData, f->bug, 40);
        if (!h->BugcheckCode) {
            h->BugcheckCode = cpu_to_le32(LIVE_SYSTEM_DUMP);
        }
        h->KdDebuggerDataBlock = cpu_to_le64(kdbg_va);
        h->PhysicalMemoryBlock.unused = 0;
        h->PhysicalMemoryBlock.NumberOfPages = cpu_to_le64(f->pages);
        memcpy(h->ContextRecord, wd->hdr.x64.ContextRecord,
               sizeof(WinContext64));
        h->DumpType = cpu_to_le32(1);
        h->unused1 = 0;
        h->RequiredDumpSpace = cpu_to_le64(total);
        if (system_time) {
            h->SystemTime = cpu_to_le64(system_time);
        }
        g_assert_cmphex(le64_to_cpu(wd->hdr.x64.SystemUpTime), ==, f->uptime);
        h->SystemUpTime = cpu_to_le64(f->uptime);
        h->ProductType = cpu_to_le32(f->product_type);
        h->SuiteMask = cpu_to_le32(f->suite_mask);
    } else {
        WinDumpHeader32 *h = &exp->x32;

        g_assert_cmphex(le32_to_cpu(wd->hdr.x32.PfnDatabase), ==, PFN_VA32);
        g_assert_cmphex(le64_to_cpu(wd->hdr.x32.RequiredDumpSpace), ==,
                        total);
        g_assert_cmphex(le32_to_cpu(
                        wd->hdr.x32.PhysicalMemoryBlock.NumberOfPages), ==,
                        f->pages);
        g_assert_cmphex(le32_to_cpu(wd->hdr.x32.KdDebuggerDataBlock), ==,
                        kdbg_va);
        g_assert_cmphex(le32_to_cpu(wd->hdr.x32.DumpType), ==, 1);
        g_assert_cmphex(le64_to_cpu(wd->hdr.x32.SystemTime), ==,
                        system_time ? system_time : PAGE_FILL64);

        h->PfnDatabase = cpu_to_le32(PFN_VA32);
        memcpy(h->BugcheckData, f->bug, 20);
        if (!h->BugcheckCode) {
            h->BugcheckCode = cpu_to_le32(LIVE_SYSTEM_DUMP);
        }
        h->KdDebuggerDataBlock = cpu_to_le32(kdbg_va);
        h->PhysicalMemoryBlock.NumberOfPages = cpu_to_le32(f->pages);
        memcpy(h->ContextRecord, wd->hdr.x32.ContextRecord,
               sizeof(WinContext32));
        h->DumpType = cpu_to_le32(1);
        h->RequiredDumpSpace = cpu_to_le64(total);
        if (system_time) {
            h->SystemTime = cpu_to_le64(system_time);
        }
        g_assert_cmphex(le64_to_cpu(wd->hdr.x32.SystemUpTime), ==, f->uptime);
        h->SystemUpTime = cpu_to_le64(f->uptime);
        h->ProductType = cpu_to_le32(f->product_type);
        h->SuiteMask = cpu_to_le32(f->suite_mask);
    }
    assert_same_bytes((uint8_t *)&wd->hdr, (uint8_t *)exp, f->hdr_size,
                      "patched header");
}

/* ---- the writer ---- */

typedef struct Sink {
    GByteArray *out;
    uint64_t fail_after;        /* fail a write that goes past; 0: never */
    bool failed;
    unsigned calls;
    /* skips: where each began, how long; whether the last op was one */
    GArray *skips;              /* of WinDumpRange, file offsets */
    bool skipped_last;
    bool fail_skip;
} Sink;

static bool sink_write(void *opaque, const void *buf, size_t len,
                       Error **errp)
{
    Sink *s = opaque;

    /* nothing is written after a failure */
    g_assert_false(s->failed);
    g_assert_cmpuint(len, >, 0);
    s->calls++;
    if (s->fail_after && s->out->len + len > s->fail_after) {
        s->failed = true;
        error_setg(errp, "No space left on device (test)");
        return false;
    }
    g_byte_array_append(s->out, buf, len);
    s->skipped_last = false;
    return true;
}

/* A seekable output: holes read back as zeros */
static bool sink_skip(void *opaque, uint64_t len, Error **errp)
{
    Sink *s = opaque;
    WinDumpRange r = { s->out->len, s->out->len + len };

    g_assert_false(s->failed);
    g_assert_cmpuint(len, >, 0);
    /* runs of zero pages are one skip */
    g_assert_false(s->skipped_last);
    if (s->fail_skip) {
        s->failed = true;
        error_setg(errp, "Illegal seek (test)");
        return false;
    }
    g_array_append_val(s->skips, r);
    g_byte_array_set_size(s->out, s->out->len + len);
    memset(s->out->data + r.start, 0, len);
    s->skipped_last = true;
    return true;
}

static GByteArray *write_ok(Fixture *f)
{
    Sink s = { .out = g_byte_array_new() };
    WinDumpSink out = { sink_write, NULL, &s };
    Error *err = NULL;

    if (!windmp_write(&f->wd, &f->gu.g, &out, &err)) {
        g_test_message("windmp_write: %s", error_get_pretty(err));
        g_assert_not_reached();
    }
    g_assert_cmpint(f->gu.mapped, ==, 0);
    return s.out;
}

static uint64_t file_offset(Fixture *f, uint64_t pa)
{
    uint64_t off = f->hdr_size;
    unsigned i;

    for (i = 0; i < f->nr_runs; i++) {
        uint64_t start = f->runs[i][0] * PAGE, len = f->runs[i][1] * PAGE;

        if (pa >= start && pa - start < len) {
            return off + (pa - start);
        }
        off += len;
    }
    g_assert_not_reached();
}

/*
 * The file must be the patched header, then the RAM of each run, except
 * that the contexts of the processors in @ctx_mask show their registers.
 */
static void check_output(Fixture *f, GByteArray *out, unsigned ctx_mask)
{
    uint64_t total = f->hdr_size + f->pages * PAGE, off;
    g_autofree uint8_t *exp = g_malloc(total);
    unsigned i, j, nr_overlays = 0;

    g_assert_cmpuint(out->len, ==, total);
    g_assert_cmpuint(out->len, ==, f->wd.total_size);
    assert_same_bytes(out->data, (uint8_t *)&f->wd.hdr, f->hdr_size,
                      "written header");

    memcpy(exp, &f->wd.hdr, f->hdr_size);
    off = f->hdr_size;
    for (i = 0; i < f->nr_runs; i++) {
        uint64_t len = f->runs[i][1] * PAGE;

        memcpy(exp + off, buf_ptr(f->low_copy, f->high_copy,
                                  f->runs[i][0] * PAGE, len), len);
        off += len;
    }

    for (i = 0; i < MAX_CPUS; i++) {
        uint8_t ctx[sizeof(WinContext)];
        uint64_t done = 0;

        if (!(ctx_mask & (1u << i))) {
            continue;
        }
        for (j = 0; j < 2 && f->ctx[i][j].len; j++) {
            off = file_offset(f, f->ctx[i][j].pa);
            memcpy(ctx + done, out->data + off, f->ctx[i][j].len);
            memcpy(exp + off, out->data + off, f->ctx[i][j].len);
            done += f->ctx[i][j].len;
            nr_overlays++;
        }
        g_assert_cmpuint(done, ==, f->ctx_size);
        check_ctx(f, ctx, &f->gu.cpus[i]);
    }
    g_assert_cmpuint(f->wd.nr_overlays, ==, nr_overlays);
    assert_same_bytes(out->data, exp, total, "dump file");
    check_ram_untouched(f);
}

/*
 * Write to a seekable sink; return the file as read back and the skips.
 * *@writes: how many writes it took.
 */
static GByteArray *write_sparse_ok(Fixture *f, GArray **skips,
                                   unsigned *writes)
{
    Sink s = {
        .out = g_byte_array_new(),
        .skips = g_array_new(false, false, sizeof(WinDumpRange)),
    };
    WinDumpSink out = { sink_write, sink_skip, &s };
    Error *err = NULL;

    if (!windmp_write(&f->wd, &f->gu.g, &out, &err)) {
        g_test_message("windmp_write: %s", error_get_pretty(err));
        g_assert_not_reached();
    }
    g_assert_cmpint(f->gu.mapped, ==, 0);
    g_assert_cmpuint(s.out->len, ==, f->wd.total_size);
    *skips = s.skips;
    *writes = s.calls;
    return s.out;
}

static void write_and_check(Fixture *f, unsigned ctx_mask)
{
    GByteArray *out = write_ok(f);
    GByteArray *sparse;
    GArray *skips;
    unsigned writes, cut_hits = f->gu.cut_hits;

    check_output(f, out, ctx_mask);
    /* a seekable output reads back the same */
    sparse = write_sparse_ok(f, &skips, &writes);
    /* callers count the maps of one write */
    f->gu.cut_hits = cut_hits;
    assert_same_bytes(sparse->data, out->data, out->len, "sparse output");
    g_byte_array_unref(sparse);
    g_array_unref(skips);
    g_byte_array_unref(out);
}

/* No overlay may cover any byte of [pa, pa + len) */
static void assert_no_overlay(Fixture *f, uint64_t pa, uint64_t len)
{
    size_t i;

    for (i = 0; i < f->wd.nr_overlays; i++) {
        const WinDumpOverlay *o = &f->wd.overlays[i];

        g_assert(o->pa + o->len <= pa || o->pa >= pa + len);
    }
}

static unsigned all_cpus(unsigned n)
{
    return (1u << n) - 1;
}

/* ---- 1. happy paths ---- */

static void test_happy(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    WinDumpOptions opts = { .system_time = 0x01d9a1b2c3d4e5f6ull };
    Fixture *f = fixture_new(paging, 3, true);

    prepare_ok(f, &opts);
    g_assert_cmpuint(warnings->len, ==, 0);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 3);
    check_header(f, opts.system_time, f->kdbg_va, 0);
    write_and_check(f, all_cpus(3));
    fixture_free(f);
}

/* The crashed vCPU's registers go to ContextRecord; SystemTime kept */
static void test_happy_crashed(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 4, false);

    f->gu.cpus[2].crashed = true;
    f->gu.cpus[3].crashed = true;
    prepare_ok(f, NULL);
    g_assert_cmpuint(warnings->len, ==, 0);
    check_header(f, 0, f->kdbg_va, 2);
    write_and_check(f, all_cpus(4));
    fixture_free(f);
}

/*
 * map() hands out at most 5000 bytes, and pieces end inside each context
 * and at the start of one: the writer must stitch overlays across them.
 */
static void test_happy_short_map(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    WinDumpOptions opts = { .system_time = 0 };
    Fixture *f = fixture_new(paging, 4, true);

    f->gu.map_max = 5000;
    prepare_ok(f, &opts);
    check_header(f, 0, f->kdbg_va, 0);
    write_and_check(f, all_cpus(4));
    g_assert_cmpuint(f->gu.cut_hits, ==, 5);
    fixture_free(f);
}

/* ---- 2. a context split over two non-contiguous pages ---- */

static void test_context_split(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 3, false);
    uint64_t va = f->small_va + 0x50000, first = 0x100;

    /* the second virtual page comes first in physical memory */
    fixture_map(f, va, 0x905000, PAGE);
    fixture_map(f, va + PAGE, 0x900000, PAGE);
    set_ctx(f, 1, va + PAGE - first, (Chunk) { 0x905000 + PAGE - first, first },
            (Chunk) { 0x900000, f->ctx_size - first });
    /* short maps, and pieces that end inside both halves */
    f->gu.map_max = 5000;
    f->gu.nr_cuts = 0;
    f->gu.cuts[f->gu.nr_cuts++] = 0x900000 + 0x80;
    f->gu.cuts[f->gu.nr_cuts++] = 0x905000 + PAGE - first + 0x10;
    prepare_ok(f, NULL);
    g_assert_cmpuint(warnings->len, ==, 0);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 3);
    g_assert_cmpuint(f->wd.nr_overlays, ==, 4);
    write_and_check(f, all_cpus(3));
    g_assert_cmpuint(f->gu.cut_hits, ==, 2);
    fixture_free(f);
}

/* ---- 3. KDBG ---- */

static void encode_kdbg(Fixture *f, uint64_t pa)
{
    uint8_t *p = guest_ptr(&f->gu, pa, KDBG_MIN_SIZE);
    unsigned i;

    for (i = 0; i < KDBG_MIN_SIZE; i++) {
        p[i] ^= 0xa5 + i;
    }
}

static void test_kdbg_fallback(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 3, false);
    uint64_t copy_va = f->kdbg_va + (KDBG_COPY_PA - KDBG_PA);

    write_kdbg(f, KDBG_COPY_PA);
    encode_kdbg(f, KDBG_PA);
    hdr_set_kdbg(f, f->kdbg_va, copy_va);
    /* a context on top of the decoded copy must be refused */
    set_ctx(f, 2, copy_va + 0x40, (Chunk) { 0 }, (Chunk) { 0 });
    prepare_ok(f, NULL);
    g_assert_cmphex(f->wd.kdbg_va, ==, copy_va);
    /* BugcheckParameter1 comes from KiBugcheckData after all */
    check_header(f, 0, copy_va, 0);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    g_assert(warned("processor 2") && warned("the KDBG"));
    assert_no_overlay(f, KDBG_COPY_PA, KDBG_MIN_SIZE);
    write_and_check(f, 3);
    fixture_free(f);
}

static void test_kdbg_none(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 2, false);
    uint64_t junk_va = f->big_va + 0x300000;    /* random bytes */
    g_autofree char *a = g_strdup_printf("0x%" PRIx64, f->kdbg_va);
    g_autofree char *b = g_strdup_printf("0x%" PRIx64, junk_va);
    Error *err = NULL;

    encode_kdbg(f, KDBG_PA);
    hdr_set_kdbg(f, f->kdbg_va, junk_va);
    g_assert_false(prepare(f, NULL, &err));
    g_test_message("error: %s", error_get_pretty(err));
    assert_err_has(err, a);
    assert_err_has(err, b);
    assert_err_has(err, "KDBG");
    error_free(err);
    fixture_free(f);
}

static void test_kdbg_small(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 2, false);

    st32(&f->gu, KDBG_PA + KDBG_SIZE_OFFSET64, KDBG_MIN_SIZE - 1);
    prepare_fails(f, "0x33f");
    fixture_free(f);

    /* a big enough copy saves it */
    f = fixture_new(paging, 2, false);
    st32(&f->gu, KDBG_PA + KDBG_SIZE_OFFSET64, KDBG_MIN_SIZE - 1);
    write_kdbg(f, KDBG_COPY_PA);
    hdr_set_kdbg(f, f->kdbg_va, f->kdbg_va + (KDBG_COPY_PA - KDBG_PA));
    prepare_ok(f, NULL);
    g_assert_cmphex(f->wd.kdbg_va, ==, f->kdbg_va + (KDBG_COPY_PA - KDBG_PA));
    fixture_free(f);
}

/* The KDBG's last bytes are on a page that is not mapped */
static void test_kdbg_truncated(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 2, false);
    uint64_t va = f->small_va + 0x20000 - 0x100;

    /* map only the first page of [va, va + 0x340) */
    fixture_map(f, va & ~0xfffull, 0x720000, PAGE);
    write_kdbg(f, 0x720f00);
    hdr_set_kdbg(f, va, va);
    prepare_fails(f, "not mapped");
    fixture_free(f);
}

/* ---- 3b. KUSER_SHARED_DATA ---- */

static uint64_t leaf_table(Fixture *f, uint64_t va);

static void kusd_prepare(Fixture *f, const char *warning)
{
    g_ptr_array_set_size(warnings, 0);
    prepare_ok(f, NULL);
    if (warning) {
        g_assert(warned(warning));
        g_assert_cmpuint(warnings->len, ==, 1);
    } else {
        g_assert_cmpuint(warnings->len, ==, 0);
    }
    check_header(f, 0, f->kdbg_va, 0);
    windmp_cleanup(&f->wd);
    f->prepared = false;
}

/*
 * SystemUpTime, ProductType and SuiteMask come from KUSER_SHARED_DATA,
 * each only when it reads and is sane; else the header's stay
 */
static void test_kuser(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, false);
    uint64_t va = f->x64 ? KUSD_VA64 : KUSD_VA32;
    uint64_t pt = leaf_table(f, va), pte;
    unsigned idx = f->paging == WIN_DUMP_PAGING_X86 ? (va >> 12) & 1023 :
                                                      (va >> 12) & 511;
    unsigned width = f->paging == WIN_DUMP_PAGING_X86 ? 4 : 8;

    /* current values replace the header's stale ones */
    if (f->x64) {
        f->hdr.x64.SystemUpTime = cpu_to_le64(123456789);
        f->hdr.x64.ProductType = cpu_to_le32(1);
        f->hdr.x64.SuiteMask = cpu_to_le32(0x100);
    } else {
        f->hdr.x32.SystemUpTime = cpu_to_le64(123456789);
        f->hdr.x32.ProductType = cpu_to_le32(1);
        f->hdr.x32.SuiteMask = cpu_to_le32(0x100);
    }
    kusd_prepare(f, NULL);

    /* InterruptTime caught in an update, or negative: the header's */
    write_kusd(f, KUSD_LOW, KUSD_HIGH, KUSD_HIGH + 1, 2, 0x3ffff);
    f->uptime = 123456789;
    f->product_type = 2;
    f->suite_mask = 0x3ffff;
    kusd_prepare(f, "InterruptTime is not consistent (High1Time 0x12,"
                 " High2Time 0x13); keeping the header's SystemUpTime");
    write_kusd(f, 0, 0x80000000u, 0x80000000u, 1, 0);
    f->product_type = 1;
    f->suite_mask = 0;
    kusd_prepare(f, "InterruptTime is not consistent");

    /* a ProductType or SuiteMask Windows does not have */
    write_kusd(f, 5, 0, 0, 0, 0x110);
    f->uptime = 5;
    f->product_type = 1;
    f->suite_mask = 0x110;
    kusd_prepare(f, "ProductType is 0, not 1, 2 or 3; keeping the header's");
    write_kusd(f, 5, 0, 0, 4, 0x110);
    kusd_prepare(f, "ProductType is 4");
    write_kusd(f, 5, 0, 0, 3, 0x40000);
    f->product_type = 3;
    f->suite_mask = 0x100;
    kusd_prepare(f, "SuiteMask 0x40000 has unknown bits");

    /* not mapped, or mapped outside RAM: all three the header's */
    f->uptime = 123456789;
    f->product_type = 1;
    f->suite_mask = 0x100;
    pte = width == 8 ? ld64(&f->gu, pt + idx * 8) : ld32(&f->gu, pt + idx * 4);
    if (width == 8) {
        st64(&f->gu, pt + idx * 8, pte & ~PTE_P);
    } else {
        st32(&f->gu, pt + idx * 4, pte & ~PTE_P);
    }
    kusd_prepare(f, "cannot read KUSER_SHARED_DATA at ");
    g_assert(warned("PTE not present"));
    if (width == 8) {
        st64(&f->gu, pt + idx * 8, (RAM_SIZE + 0x10000) | PTE_P);
    } else {
        st32(&f->gu, pt + idx * 4, (RAM_SIZE + 0x10000) | PTE_P);
    }
    kusd_prepare(f, "is not guest RAM");
    g_assert(warned(f->x64 ? "KUSER_SHARED_DATA at 0xfffff78000000000" :
                             "KUSER_SHARED_DATA at 0xffdf0000"));
    fixture_free(f);
}

/* ---- 4. bugcheck ---- */

static void test_bugcheck_zero(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 2, false);

    write_bugcheck(f, 0);
    prepare_ok(f, NULL);
    if (f->x64) {
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x64.BugcheckCode), ==, 0x161);
        g_assert_cmphex(le64_to_cpu(f->wd.hdr.x64.BugcheckParameter1), ==,
                        0xfffff80011110000ull);
        g_assert_cmphex(le64_to_cpu(f->wd.hdr.x64.BugcheckParameter4), ==,
                        0xfffff80011110003ull);
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x64.unused0), ==, 0);
    } else {
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x32.BugcheckCode), ==, 0x161);
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x32.BugcheckParameter1), ==,
                        0x81110000);
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x32.BugcheckParameter4), ==,
                        0x81110003);
    }
    check_header(f, 0, f->kdbg_va, 0);
    fixture_free(f);
}

static void test_bugcheck_copied(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 2, false);

    prepare_ok(f, NULL);
    if (f->x64) {
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x64.BugcheckCode), ==,
                        BUG_CODE);
        g_assert_cmphex(le64_to_cpu(f->wd.hdr.x64.BugcheckParameter2), ==,
                        0xfffff80011110001ull);
        g_assert_cmphex(le64_to_cpu(f->wd.hdr.x64.BugcheckParameter3), ==,
                        0xfffff80011110002ull);
    } else {
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x32.BugcheckCode), ==,
                        BUG_CODE);
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x32.BugcheckParameter2), ==,
                        0x81110001);
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x32.BugcheckParameter3), ==,
                        0x81110002);
        /* the field after the 20 bytes is not touched */
        g_assert_cmphex(hdr_get32(&f->wd, 0x3c), ==, WIN_DUMP_PAGE_FILL);
    }
    fixture_free(f);
}

/* What the header shows for a bugcheck from vCPU @i's Hyper-V crash MSRs */
static void hv_expect(Fixture *f, unsigned i)
{
    const WinDumpCpu *c = &f->gu.cpus[i];
    unsigned k;

    memset(f->bug, 0, sizeof(f->bug));
    stl_le_p(f->bug, c->hv_crash_params[0]);
    for (k = 0; k < 4; k++) {
        if (f->x64) {
            stq_le_p(f->bug + 8 + 8 * k, c->hv_crash_params[k + 1]);
        } else {
            stl_le_p(f->bug + 4 + 4 * k, c->hv_crash_params[k + 1]);
        }
    }
}

/*
 * hv-crash: the vCPU that wrote the Hyper-V crash MSRs is the current one,
 * and its bugcheck is taken when KiBugcheckData is empty or unreadable
 */
static void test_bugcheck_hv_crash(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 3, false);
    WinDumpCpu *c = &f->gu.cpus[2];

    /* vCPU 1 reported a panic too: the crash MSRs say more */
    f->gu.cpus[1].crashed = true;
    c->crashed = true;
    c->hv_crash = true;
    c->hv_crash_params[0] = 0x9f;
    c->hv_crash_params[1] = 3;
    c->hv_crash_params[2] = f->x64 ? 0xffff8a8000001000ull : 0x81001000;
    c->hv_crash_params[3] = 0x1234;
    c->hv_crash_params[4] = f->x64 ? 0xffff8a8000002000ull : 0x81002000;

    /* KiBugcheckData holds the bugcheck: it wins */
    prepare_ok(f, NULL);
    g_assert_cmpuint(warnings->len, ==, 0);
    check_header(f, 0, f->kdbg_va, 2);
    write_and_check(f, all_cpus(3));
    windmp_cleanup(&f->wd);
    f->prepared = false;

    /* empty: from the MSRs */
    write_bugcheck(f, 0);
    hv_expect(f, 2);
    prepare_ok(f, NULL);
    g_assert(warned("KiBugcheckData is empty; the bugcheck is from the"
                    " Hyper-V crash MSRs of vCPU 2"));
    check_header(f, 0, f->kdbg_va, 2);
    windmp_cleanup(&f->wd);
    f->prepared = false;

    /* unreadable: from the MSRs */
    put_kdbg(f, KDBG_PA, KDBG_KI_BUGCHECK_DATA_OFFSET, f->small_va + 0x30000);
    g_ptr_array_set_size(warnings, 0);
    prepare_ok(f, NULL);
    g_assert(warned("cannot read KiBugcheckData at "));
    g_assert(warned("; the bugcheck is from the Hyper-V crash MSRs of"
                    " vCPU 2"));
    check_header(f, 0, f->kdbg_va, 2);
    windmp_cleanup(&f->wd);
    f->prepared = false;

    /* a vCPU that Windows does not use does not count */
    hdr_set_nr_cpus(f, 2);
    f->bug[0] = 0;
    memcpy(f->bug, f->x64 ? f->hdr.x64.BugcheckData : f->hdr.x32.BugcheckData,
           f->x64 ? 40 : 20);
    prepare_ok(f, NULL);
    g_assert(warned("keeping the header's bugcheck"));
    g_assert_cmpuint(f->wd.current_cpu, ==, 1);
    fixture_free(f);
}

static void test_bugcheck_unmapped(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    Fixture *f = fixture_new(paging, 2, false);

    put_kdbg(f, KDBG_PA, KDBG_KI_BUGCHECK_DATA_OFFSET, f->small_va + 0x30000);
    /* the guest's header had a zero code: still a live dump */
    if (f->x64) {
        f->hdr.x64.BugcheckCode = 0;
        f->hdr.x64.BugcheckParameter2 = cpu_to_le64(0x1234);
    } else {
        f->hdr.x32.BugcheckCode = 0;
        f->hdr.x32.BugcheckParameter2 = cpu_to_le32(0x1234);
    }
    prepare_ok(f, NULL);
    /* x86: the sign-extended KDBG pointer, shown as the 32-bit address */
    g_assert(warned(paging == WIN_DUMP_PAGING_LM5 ?
                    "KiBugcheckData at 0xff7ff80080030000 (" :
                    f->x64 ? "KiBugcheckData at 0xfffff80080030000 (" :
                    "KiBugcheckData at 0x81030000 ("));
    g_assert_cmpuint(warnings->len, ==, 1);
    if (f->x64) {
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x64.BugcheckCode), ==, 0x161);
        g_assert_cmphex(le64_to_cpu(f->wd.hdr.x64.BugcheckParameter2), ==,
                        0x1234);
    } else {
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x32.BugcheckCode), ==, 0x161);
        g_assert_cmphex(le32_to_cpu(f->wd.hdr.x32.BugcheckParameter2), ==,
                        0x1234);
    }
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    write_and_check(f, 3);
    fixture_free(f);
}

/* ---- 5. the note ---- */

static uint8_t *good_note(Fixture *f, size_t *size)
{
    return synth_win_note(&f->hdr, f->hdr_size, size);
}

static void note_fails(Fixture *f, const uint8_t *note, size_t size,
                       const char *needle)
{
    Error *err = NULL;
    const char *m;

    g_assert_false(windmp_note_check(note, size, &err));
    assert_err_has(err, needle);
    for (m = error_get_pretty(err); *m; m++) {
        g_assert(g_ascii_isprint(*m));
    }
    error_free(err);
    err = NULL;

    g_assert_false(windmp_prepare(&f->wd, &f->gu.g, note, size, NULL, &err));
    assert_err_has(err, needle);
    g_assert_null(f->wd.extents);
    error_free(err);
}

static void test_note_good(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 1, false);
    size_t size;
    g_autofree uint8_t *note = good_note(f, &size);
    Error *err = NULL;

    g_assert_true(windmp_note_check(note, size, &err));
    g_assert_null(err);
    /* the 4 KiB flavour too */
    stl_le_p(note + 4, 0x1000);
    memcpy(note + VMCOREINFO_ELF_NOTE_HDR_SIZE + 4, "DUMP", 4);
    g_assert_true(windmp_note_check(note, 0x1018, &err));
    g_assert_null(err);
    fixture_free(f);
}

static void test_note_short(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 1, false);
    size_t size;
    g_autofree uint8_t *note = good_note(f, &size);

    note_fails(f, note, 0, "too short");
    note_fails(f, note, 12, "too short");
    note_fails(f, note, 23, "too short");
    /* 24 bytes: a whole note header, but no descriptor */
    note_fails(f, note, 24, "bytes but its header says");
    fixture_free(f);
}

static void test_note_name(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 1, false);
    size_t size;
    g_autofree uint8_t *note = good_note(f, &size);

    note[12] = 'v';
    note_fails(f, note, size, "not named");
    note[12] = 'V';
    stl_le_p(note, 10);                 /* namesz without the NUL */
    note_fails(f, note, size, "not named");
    stl_le_p(note, 0xffffffff);
    note_fails(f, note, size, "not named");
    fixture_free(f);
}

static void test_note_descsz(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 1, false);
    size_t size;
    g_autofree uint8_t *note = good_note(f, &size);
    static const uint32_t bad[] = { 0, 0x800, 0x1ff8, 0x2008, 0xffffffe8 };
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(bad); i++) {
        stl_le_p(note + 4, bad[i]);
        note_fails(f, note, size, "Linux guest");
    }
    /* descsz right, the buffer not */
    stl_le_p(note + 4, 0x2000);
    note_fails(f, note, size - 1, "header says");
    /* a 0x1000 descriptor inside a 0x2000-sized buffer */
    stl_le_p(note + 4, 0x1000);
    note_fails(f, note, size, "header says");
    fixture_free(f);
}

static void test_note_valid_dump(void)
{
    Fixture *f64 = fixture_new(WIN_DUMP_PAGING_LM4, 1, false);
    Fixture *f32 = fixture_new(WIN_DUMP_PAGING_PAE, 1, false);
    size_t size;
    g_autofree uint8_t *n64 = NULL, *n32 = NULL;

    /* "DU64" in a 4 KiB header, "DUMP" in an 8 KiB one */
    memcpy(f32->hdr.ValidDump, "DU64", 4);
    n32 = good_note(f32, &size);
    note_fails(f32, n32, size, "must be 'DUMP', got 'DU64'");
    memcpy(f64->hdr.ValidDump, "DUMP", 4);
    n64 = good_note(f64, &size);
    note_fails(f64, n64, size, "must be 'DU64', got 'DUMP'");
    fixture_free(f64);
    fixture_free(f32);
}

static void test_note_signature(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 1, false);
    size_t size;
    g_autofree uint8_t *note = NULL;

    memcpy(f->hdr.Signature, "\x01P\xffG", 4);
    note = good_note(f, &size);
    note_fails(f, note, size, "got '?P?G'");
    g_free(note);

    memcpy(f->hdr.Signature, "PAGE", 4);
    memcpy(f->hdr.ValidDump, "D\nU\x80", 4);
    note = good_note(f, &size);
    note_fails(f, note, size, "got 'D?U?'");
    fixture_free(f);
}

/* ---- 6. runs ---- */

static void runs_fail(WinDumpPaging paging, void (*mutate)(Fixture *f),
                      const char *needle)
{
    Fixture *f = fixture_new(paging, 2, true);

    mutate(f);
    prepare_fails(f, needle);
    fixture_free(f);
}

static void mut_zero_runs(Fixture *f)
{
    f->nr_runs = 0;
    hdr_set_runs(f);
}

static void mut_page_fill_runs(Fixture *f)
{
    hdr_put32(f, f->x64 ? 0x88 : 0x64, WIN_DUMP_PAGE_FILL);
}

static void mut_outside_ram(Fixture *f)
{
    set_run(f, 1, 0x2000, 0x10);        /* 32 MiB: between the ranges */
    hdr_set_runs(f);
}

static void mut_straddle_end(Fixture *f)
{
    set_run(f, 1, 0xb00, 0x501);        /* one page past 16 MiB */
    hdr_set_runs(f);
}

static void mut_straddle_high_end(Fixture *f)
{
    set_run(f, 2, HIGH_BASE / PAGE, HIGH_SIZE / PAGE + 1);
    hdr_set_runs(f);
}

static void mut_base_overflow(Fixture *f)
{
    f->nr_runs = 3;
    set_run(f, 2, 0xfffffffffffffull, 2);
    hdr_set_runs(f);
}

static void mut_count_wraps(Fixture *f)
{
    /*
     * x64: (base + count) << 12 would wrap to 0xb00000, a valid-looking
     * end.  x86: 32-bit fields, whose sum must not wrap in 32 bits.
     */
    f->nr_runs = 1;
    if (f->x64) {
        set_run(f, 0, 0, 0x10000000000b00ull);
    } else {
        set_run(f, 0, 0xfffff, 0xfff00b00ull);
    }
    hdr_set_runs(f);
}

static void mut_zero_count(Fixture *f)
{
    set_run(f, 1, 0xb00, 0);
    hdr_set_runs(f);
}

static void mut_overlap(Fixture *f)
{
    set_run(f, 1, 0x9ff, 0x10);
    hdr_set_runs(f);
}

static void mut_unsorted(Fixture *f)
{
    set_run(f, 0, 0xb00, 0x500);
    set_run(f, 1, 0, 0xa00);
    f->nr_runs = 2;
    hdr_set_runs(f);
}

static void mut_across_hole(Fixture *f)
{
    /* from inside the low range to the end of the high one */
    f->nr_runs = 2;
    set_run(f, 1, 0xb00, HIGH_BASE / PAGE + HIGH_SIZE / PAGE - 0xb00);
    hdr_set_runs(f);
}

static void test_runs_bad(gconstpointer data)
{
    static const struct {
        void (*mutate)(Fixture *f);
        const char *needle;
    } cases[] = {
        { mut_zero_runs, "lists 0 memory runs" },
        { mut_page_fill_runs, "lists 1162297680 memory runs" },
        { mut_outside_ram, "memory run 1 (0x2000000-0x200ffff) is not all" },
        { mut_straddle_end, "memory run 1 (0xb00000-0x1000fff) is not all" },
        { mut_straddle_high_end, "memory run 2" },
        { mut_base_overflow, "memory run 2 (" },
        { mut_count_wraps, "memory run 0 (" },
        { mut_zero_count, "not a valid page range" },
        { mut_overlap, "sorted and disjoint" },
        { mut_unsorted, "sorted and disjoint" },
        { mut_across_hole, "is not all guest RAM" },
    };
    unsigned i;

    for (i = 0; i < ARRAY_SIZE(cases); i++) {
        g_test_message("case %u", i);
        runs_fail(GPOINTER_TO_INT(data), cases[i].mutate, cases[i].needle);
    }
}

/* 42 (x64) / 86 (x86) runs is the most that fits, and works */
static void test_runs_max(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, false);
    unsigned i, n = f->x64 ? WIN_DUMP_MAX_RUNS64 : WIN_DUMP_MAX_RUNS32;

    for (i = 0; i < n; i++) {
        set_run(f, i, 0x10 * i, 1 + (i & 3));
    }
    /* the contexts must be in the file: add their pages */
    set_run(f, n - 2, CTX_PA(0) / PAGE, 1);
    set_run(f, n - 1, CTX_PA(1) / PAGE, 1);
    g_assert_cmpuint(0x10 * (n - 3) + 4, <, CTX_PA(0) / PAGE);
    f->nr_runs = n;
    hdr_set_runs(f);
    prepare_ok(f, NULL);
    g_assert_cmpuint(f->wd.nr_extents, ==, n);
    check_header(f, 0, f->kdbg_va, 0);
    write_and_check(f, 3);
    fixture_free(f);
}

/* Adjacent runs and runs in two RAM ranges with a hole between them */
static void test_runs_two_ranges(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 2, true);

    set_run(f, 0, 0, 0x800);
    set_run(f, 1, 0x800, 0x800);        /* adjacent to the first */
    set_run(f, 2, HIGH_BASE / PAGE + 1, HIGH_SIZE / PAGE - 1);
    f->nr_runs = 3;
    hdr_set_runs(f);
    prepare_ok(f, NULL);
    g_assert_cmpuint(warnings->len, ==, 0);
    /* adjacent runs are back to back in the file: one extent */
    g_assert_cmpuint(f->wd.nr_extents, ==, 2);
    g_assert_cmphex(f->wd.extents[0].start, ==, 0);
    g_assert_cmphex(f->wd.extents[0].end, ==, 0x1000 * PAGE);
    g_assert_cmphex(f->wd.extents[1].start, ==, HIGH_BASE + PAGE);
    g_assert_cmphex(f->wd.extents[1].end, ==, HIGH_BASE + HIGH_SIZE);
    check_header(f, 0, f->kdbg_va, 0);
    write_and_check(f, 3);
    fixture_free(f);
}

static uint64_t check_bitmap_output(Fixture *f, GByteArray *out,
                                    uint32_t signature, uint64_t *present);

/*
 * A bitmap takes a bit per page frame up to the end of RAM: RAM that ends
 * far above what it holds is refused, not allocated for
 */
static void test_bitmap_sparse_ram(void)
{
    WinDumpOptions opts = { .kernel_only = true };
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 2, true);
    Error *err = NULL;

    f->gu.ram[1].start = 1ull << 45;
    f->gu.ram[1].end = (1ull << 45) + HIGH_SIZE;
    /* the runs must stay in RAM: the high one goes */
    f->nr_runs = 2;
    hdr_set_runs(f);
    g_assert_false(prepare(f, &opts, &err));
    assert_err_has(err, "a bitmap dump over it would take");
    error_free(err);
    fixture_free(f);
}

/*
 * RAM plugged after the guest published its header: the part of it the
 * runs miss becomes runs of its own, in order, and is in the file; RAM
 * outside the hot-plug area that the runs miss stays out.
 */
static void test_runs_hotplug(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, true);
    WinDumpRange hp[2] = {
        { 12 * MiB, 12 * MiB + 0x3000 },    /* inside the runs: nothing */
        { HIGH_BASE - GiB, HIGH_BASE + 2 * HIGH_SIZE },
    };
    uint32_t nr;

    /* the guest's runs as it published them: without the high RAM */
    f->nr_runs = 2;
    hdr_set_runs(f);
    f->gu.g.hotplug = hp;
    f->gu.g.nr_hotplug = 2;
    prepare_ok(f, NULL);
    g_assert_cmpuint(warnings->len, ==, 1);
    g_assert_true(warned("memory at 0x100000000-0x1000fffff was hot-plugged"));
    nr = le32_to_cpu(f->x64 ? f->wd.hdr.x64.PhysicalMemoryBlock.NumberOfRuns :
                     f->wd.hdr.x32.PhysicalMemoryBlock.NumberOfRuns);
    g_assert_cmpuint(nr, ==, 3);
    /* the file is what a header with all three runs would give */
    set_run(f, 2, HIGH_BASE / PAGE, HIGH_SIZE / PAGE);
    f->nr_runs = 3;
    hdr_set_runs(f);
    check_header(f, 0, f->kdbg_va, 0);
    write_and_check(f, 3);
    fixture_free(f);
}

/* Hot-plugged RAM that takes the runs past what fits: all RAM, FDMP */
static void test_runs_hotplug_too_many(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, true);
    unsigned i, max = f->x64 ? WIN_DUMP_MAX_RUNS64 : WIN_DUMP_MAX_RUNS32;
    WinDumpRange hp = { HIGH_BASE, HIGH_BASE + HIGH_SIZE };
    uint64_t present;
    GByteArray *out;

    for (i = 0; i < max - 2; i++) {
        set_run(f, i, 2 * i, 1);
    }
    set_run(f, max - 2, CTX_PA(0) / PAGE, 1);
    set_run(f, max - 1, CTX_PA(1) / PAGE, 1);
    f->nr_runs = max;
    hdr_set_runs(f);
    f->gu.g.hotplug = &hp;
    f->gu.g.nr_hotplug = 1;
    prepare_ok(f, NULL);
    g_assert_true(warned("more than the"));
    out = write_ok(f);
    check_bitmap_output(f, out, WIN_DUMP_BITMAP_FULL, &present);
    g_assert_cmpuint(present, ==, (RAM_SIZE + HIGH_SIZE) / PAGE);
    g_byte_array_unref(out);
    fixture_free(f);
}

static void test_runs_pages_mismatch(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, true);
    uint64_t real = f->pages;

    if (f->x64) {
        f->hdr.x64.PhysicalMemoryBlock.NumberOfPages = cpu_to_le64(real + 7);
    } else {
        f->hdr.x32.PhysicalMemoryBlock.NumberOfPages = cpu_to_le32(real - 7);
    }
    prepare_ok(f, NULL);
    g_assert(warned("but its runs hold"));
    g_assert_cmpuint(warnings->len, ==, 1);
    if (f->x64) {
        g_assert_cmpuint(le64_to_cpu(
                         f->wd.hdr.x64.PhysicalMemoryBlock.NumberOfPages), ==,
                         real);
    } else {
        g_assert_cmpuint(le32_to_cpu(
                         f->wd.hdr.x32.PhysicalMemoryBlock.NumberOfPages), ==,
                         real);
    }
    check_header(f, 0, f->kdbg_va, 0);
    write_and_check(f, 3);
    fixture_free(f);
}

/* ---- 7. processors ---- */

static void test_cpus_bad(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);

    hdr_set_nr_cpus(f, 0);
    prepare_fails(f, "has 0 processors, but the VM has 3 vCPUs");
    hdr_set_nr_cpus(f, 4);
    prepare_fails(f, "has 4 processors, but the VM has 3 vCPUs");
    hdr_set_nr_cpus(f, 0xffffffff);
    prepare_fails(f, "processors");
    fixture_free(f);
}

static void test_cpus_fewer(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 4, false);

    hdr_set_nr_cpus(f, 2);
    prepare_ok(f, NULL);
    g_assert(warned("the VM has 4 vCPUs but Windows uses 2"));
    g_assert_cmpuint(warnings->len, ==, 1);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    g_assert_cmpuint(f->wd.nr_overlays, ==, 2);
    assert_no_overlay(f, CTX_PA(2), f->ctx_size);
    assert_no_overlay(f, CTX_PA(3), f->ctx_size);
    write_and_check(f, 3);
    fixture_free(f);
}

/* ---- 8. hostile pointers ---- */

/* The table that maps the 4 KiB page at @va */
static uint64_t leaf_table(Fixture *f, uint64_t va)
{
    Guest *gu = &f->gu;
    uint64_t t;
    int level;

    switch (f->paging) {
    case WIN_DUMP_PAGING_LM4:
    case WIN_DUMP_PAGING_LM5:
        t = f->dtb;
        for (level = f->paging == WIN_DUMP_PAGING_LM5 ? 48 : 39; level > 12;
             level -= 9) {
            t = ld64(gu, t + ((va >> level) & 511) * 8) & ADDR_MASK;
        }
        return t;
    case WIN_DUMP_PAGING_PAE:
        t = ld64(gu, (f->dtb & ~31ull) + ((va >> 30) & 3) * 8) & ADDR_MASK;
        return ld64(gu, t + ((va >> 21) & 511) * 8) & ADDR_MASK;
    default:
        return ld32(gu, f->dtb + ((va >> 22) & 1023) * 4) & 0xfffff000u;
    }
}

static void test_hostile_dtb_outside(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, false);

    hdr_set_dtb(f, f->x64 ? 0x7f000000000ull : 0xfffff000u);
    prepare_fails(f, "is not guest RAM");
    /* the end of RAM: the first table entry is still outside */
    hdr_set_dtb(f, RAM_SIZE);
    prepare_fails(f, "DirectoryTableBase 0x1000000");
    fixture_free(f);
}

/* CR3's low bits are flags (PCID, PWT, PCD): the walk ignores them */
static void test_hostile_dtb_unaligned(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, false);

    hdr_set_dtb(f, f->dtb | (f->paging == WIN_DUMP_PAGING_PAE ? 0x18 : 0x5a8));
    prepare_ok(f, NULL);
    g_assert_cmphex(f->wd.kdbg_va, ==, f->kdbg_va);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    write_and_check(f, 3);
    fixture_free(f);
}

static void test_hostile_self_map(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 3, false);
    const uint64_t idx = 0x1ed;
    uint64_t self = 0xffff000000000000ull | idx << 39 | idx << 30 |
                    idx << 21 | idx << 12;
    Error *err = NULL;
    WinDumpSpace as;
    uint64_t pa, left;

    st64(&f->gu, f->dtb + idx * 8, f->dtb | PTE_P | PTE_RW);

    /* four steps through the same table, and out */
    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_LM4, f->dtb);
    g_assert_true(windmp_translate(&as, self + 0x123, &pa, &left, &err));
    g_assert_cmphex(pa, ==, f->dtb + 0x123);
    g_assert_cmphex(left, ==, PAGE - 0x123);
    g_assert_cmpuint(as.tables->len, ==, 1);
    windmp_space_destroy(&as);

    /* a context on the PML4 itself is refused */
    set_ctx(f, 1, self + 0x100, (Chunk) { 0 }, (Chunk) { 0 });
    prepare_ok(f, NULL);
    g_assert(warned("processor 1") && warned("a page table"));
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    assert_no_overlay(f, f->dtb, PAGE);
    write_and_check(f, 5);
    windmp_cleanup(&f->wd);
    f->prepared = false;

    /* the KDBG through the self-map is the PML4: not a KDBG */
    hdr_set_kdbg(f, self, self + 8);
    prepare_fails(f, "OwnerTag");
    fixture_free(f);
}

static void test_hostile_table_outside(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 3, false);
    uint64_t pdpt = ld64(&f->gu, f->dtb + ((f->small_va >> 39) & 511) * 8) &
                    ADDR_MASK;

    /* the PDPTE for the KPRCBs and contexts points beyond RAM */
    st64(&f->gu, pdpt + ((f->small_va >> 30) & 511) * 8,
         0x7f00000000ull | PTE_P | PTE_RW);
    prepare_ok(f, NULL);
    g_assert(warned("processor 0") && warned("processor 2"));
    g_assert(warned("not guest RAM"));
    g_assert_cmpuint(f->wd.nr_contexts, ==, 0);
    g_assert_cmpuint(f->wd.nr_overlays, ==, 0);
    write_and_check(f, 0);
    fixture_free(f);

    /* and the one for the KDBG: a clean failure */
    f = fixture_new(WIN_DUMP_PAGING_LM4, 3, false);
    pdpt = ld64(&f->gu, f->dtb + ((f->big_va >> 39) & 511) * 8) & ADDR_MASK;
    st64(&f->gu, pdpt + ((f->big_va >> 30) & 511) * 8,
         0x7f00000000ull | PTE_P | PTE_RW);
    prepare_fails(f, "is not guest RAM");
    fixture_free(f);
}

static void test_hostile_kdbg_noncanonical(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 2, false);

    hdr_set_kdbg(f, 0x0000800000001000ull, 0xfff0000000000000ull);
    prepare_fails(f, "0x0000800000001000 is not canonical");
    prepare_fails(f, "0xfff0000000000000 is not canonical");
    fixture_free(f);
}

static void test_hostile_kpb_unmapped(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);

    put_kdbg(f, KDBG_PA, KDBG_KI_PROCESSOR_BLOCK_OFFSET,
             f->small_va + 0x30000);
    prepare_ok(f, NULL);
    g_assert(warned("cannot read KiProcessorBlock[2]"));
    g_assert_cmpuint(warnings->len, ==, 3);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 0);
    write_and_check(f, 0);
    fixture_free(f);
}

static void test_hostile_prcb_unmapped(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);

    put_ptr(f, KPB_PA + f->ptr_size, f->small_va + 0x31000);
    prepare_ok(f, NULL);
    g_assert(warned("processor 1") && warned("KPRCB.Context"));
    g_assert_cmpuint(warnings->len, ==, 1);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    assert_no_overlay(f, CTX_PA(1), f->ctx_size);
    write_and_check(f, 5);
    fixture_free(f);
}

/* NULL pointers are reported, not followed to physical page 0 */
static void test_hostile_null_pointers(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);

    put_ptr(f, KPB_PA + f->ptr_size, 0);
    put_ptr(f, PRCB_PA(2) + CTX_OFF, 0);
    prepare_ok(f, NULL);
    g_assert(warned("KiProcessorBlock[1] is NULL"));
    g_assert(warned("processor 2") && warned("KPRCB.Context is NULL"));
    g_assert_cmpuint(warnings->len, ==, 2);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 1);
    assert_no_overlay(f, CTX_PA(1), f->ctx_size);
    assert_no_overlay(f, CTX_PA(2), f->ctx_size);
    write_and_check(f, 1);
    fixture_free(f);
}

/* A context in RAM but outside every run would silently vanish */
static void test_hostile_ctx_outside_runs(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, false);

    /* the contexts live at 8 MiB and up: end the first run below them */
    g_assert_cmphex(CTX_PA(0) / PAGE, ==, 0x800);
    set_run(f, 0, 0, 0x800);
    hdr_set_runs(f);
    prepare_ok(f, NULL);
    g_assert(warned("processor 0") && warned("processor 1"));
    g_assert(warned("overlaps memory that is not in the dump"));
    g_assert_cmpuint(f->wd.nr_contexts, ==, 0);
    g_assert_cmpuint(f->wd.nr_overlays, ==, 0);
    fixture_free(f);
}

static void test_hostile_ctx_in_table(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);
    uint64_t pt = leaf_table(f, f->small_va), va = f->small_va + 0x32000;

    fixture_map(f, va, pt, PAGE);
    g_assert_cmphex(leaf_table(f, va), ==, pt);
    set_ctx(f, 1, va + 0x10, (Chunk) { 0 }, (Chunk) { 0 });
    prepare_ok(f, NULL);
    g_assert(warned("processor 1") && warned("overlaps a page table"));
    g_assert_cmpuint(warnings->len, ==, 1);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    assert_no_overlay(f, pt, PAGE);
    write_and_check(f, 5);
    fixture_free(f);
}

static void test_hostile_ctx_in_kdbg(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);

    /* ends inside the KDBG */
    set_ctx(f, 0, f->kdbg_va - f->ctx_size + 8, (Chunk) { 0 }, (Chunk) { 0 });
    /* starts inside it */
    set_ctx(f, 2, f->kdbg_va + 0x300, (Chunk) { 0 }, (Chunk) { 0 });
    prepare_ok(f, NULL);
    g_assert(warned("processor 0") && warned("processor 2"));
    g_assert(warned("overlaps the KDBG"));
    g_assert_cmpuint(warnings->len, ==, 2);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 1);
    assert_no_overlay(f, KDBG_PA, KDBG_MIN_SIZE);
    write_and_check(f, 2);
    fixture_free(f);
}

/*
 * The KDBG is Size bytes long (0x368 here on x64), and readers use the
 * fields past 0x340 (e.g. PteBase).  A context over its tail corrupts it.
 */
static void test_hostile_ctx_kdbg_tail(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 3, false);
    uint32_t size = ld32(&f->gu, KDBG_PA + KDBG_SIZE_OFFSET64);

    g_assert_cmphex(size, ==, 0x368);
    set_ctx(f, 2, f->kdbg_va + 0x350, (Chunk) { 0 }, (Chunk) { 0 });
    prepare_ok(f, NULL);
    g_assert(warned("processor 2") && warned("overlaps the KDBG"));
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    assert_no_overlay(f, KDBG_PA, size);
    write_and_check(f, 3);
    fixture_free(f);
}

/* Contexts on KiBugcheckData, KiProcessorBlock or a KPRCB slot */
static void test_hostile_ctx_on_pointers(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 4, false);

    set_ctx(f, 0, f->bug_va + 4, (Chunk) { 0 }, (Chunk) { 0 });
    set_ctx(f, 1, f->kpb_va - 0x20, (Chunk) { 0 }, (Chunk) { 0 });
    /* processor 3's context on processor 2's KPRCB.Context */
    set_ctx(f, 3, f->prcb_va[2] + CTX_OFF - 0x10, (Chunk) { 0 },
            (Chunk) { 0 });
    prepare_ok(f, NULL);
    g_assert(warned("overlaps KiBugcheckData"));
    g_assert(warned("overlaps KiProcessorBlock"));
    g_assert(warned("processor 3") && warned("overlaps a KPRCB"));
    g_assert_cmpuint(f->wd.nr_contexts, ==, 1);
    assert_no_overlay(f, BUG_PA, f->x64 ? 40 : 20);
    assert_no_overlay(f, KPB_PA, 4 * f->ptr_size);
    assert_no_overlay(f, PRCB_PA(2) + CTX_OFF, f->ptr_size);
    write_and_check(f, 4);
    fixture_free(f);
}

static void test_hostile_ctx_overlap(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);

    set_ctx(f, 2, f->ctx_va[1] + 0x200, (Chunk) { 0 }, (Chunk) { 0 });
    prepare_ok(f, NULL);
    g_assert(warned("processor 2") &&
             warned("overlaps another processor's context"));
    g_assert_cmpuint(warnings->len, ==, 1);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    write_and_check(f, 3);
    fixture_free(f);
}

static void test_hostile_ctx_mmio(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);
    uint64_t va = f->small_va + 0x34000;

    fixture_map(f, va, 0xfee00000, PAGE);
    set_ctx(f, 1, va + 0x20, (Chunk) { 0 }, (Chunk) { 0 });
    /* and one that starts in RAM and runs into the MMIO page */
    fixture_map(f, va - PAGE, 0x720000, PAGE);
    set_ctx(f, 2, va - 0x100, (Chunk) { 0 }, (Chunk) { 0 });
    prepare_ok(f, NULL);
    g_assert(warned("processor 1") && warned("processor 2"));
    g_assert(warned("maps to 0xfee00020, which is not guest RAM"));
    g_assert(warned("maps to 0xfee00000, which is not guest RAM"));
    g_assert_cmpuint(warnings->len, ==, 2);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 1);
    g_assert_cmpuint(f->wd.nr_overlays, ==, 1);
    write_and_check(f, 1);
    fixture_free(f);
}

static void test_hostile_prcb_offset(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 3, false);
    uint64_t slot = f->prcb_va[0] + 0xffff;

    st16(&f->gu, KDBG_PA + KDBG_OFFSET_PRCB_CONTEXT_OFFSET, 0xffff);
    /* processor 0's slot exists, 64 KiB into its KPRCB */
    fixture_map(f, slot & ~0xfffull, 0x720000, PAGE);
    put_ptr(f, 0x720000 + (slot & 0xfff), f->ctx_va[0]);
    prepare_ok(f, NULL);
    g_assert(warned("processor 1") && warned("processor 2"));
    g_assert(warned("KPRCB.Context"));
    g_assert_cmpuint(warnings->len, ==, 2);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 1);
    write_and_check(f, 1);
    fixture_free(f);
}

/* ---- 9. the writer ---- */

static void test_write_fails(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 2, true);
    Sink s = { .out = g_byte_array_new(), .fail_after = 7 * MiB + 123 };
    WinDumpSink out = { sink_write, NULL, &s };
    Error *err = NULL;

    f->gu.map_max = 5000;
    prepare_ok(f, NULL);
    g_assert_false(windmp_write(&f->wd, &f->gu.g, &out, &err));
    assert_err_has(err, "No space left on device (test)");
    g_assert_true(s.failed);
    g_assert_cmpuint(s.out->len, <=, 7 * MiB + 123);
    g_assert_cmpint(f->gu.mapped, ==, 0);
    error_free(err);
    err = NULL;
    g_byte_array_unref(s.out);

    /* failing on the header */
    s = (Sink) { .out = g_byte_array_new(), .fail_after = 1 };
    g_assert_false(windmp_write(&f->wd, &f->gu.g, &out, &err));
    assert_err_has(err, "No space left");
    g_assert_cmpuint(s.calls, ==, 1);
    g_assert_cmpuint(s.out->len, ==, 0);
    error_free(err);
    g_byte_array_unref(s.out);
    fixture_free(f);
}

static void test_write_map_fails(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 2, true);
    Sink s = { .out = g_byte_array_new() };
    WinDumpSink out = { sink_write, NULL, &s };
    Error *err = NULL;

    prepare_ok(f, NULL);
    f->gu.map_fail_pa = HIGH_BASE;
    g_assert_false(windmp_write(&f->wd, &f->gu.g, &out, &err));
    assert_err_has(err, "cannot map guest RAM at 0x100000000");
    g_assert_cmpuint(s.out->len, ==, f->wd.total_size - HIGH_SIZE);
    g_assert_cmpint(f->gu.mapped, ==, 0);
    error_free(err);
    g_byte_array_unref(s.out);
    fixture_free(f);
}

/* Is any byte of file page @off shown from an overlay? */
static bool file_page_overlaid(Fixture *f, uint64_t off)
{
    size_t i;

    for (i = 0; i < f->wd.nr_overlays; i++) {
        uint64_t o = file_offset(f, f->wd.overlays[i].pa);

        if (o < off + PAGE && off < o + f->wd.overlays[i].len) {
            return true;
        }
    }
    return false;
}

/*
 * A seekable output skips exactly the runs of all-zero pages, none of them
 * shown with a context over it, that are WIN_DUMP_HOLE_MIN or longer, one
 * skip a run; a pipe gets every byte.
 */
static void test_write_sparse(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, false);
    g_autoptr(GArray) want = g_array_new(false, false, sizeof(WinDumpRange));
    g_autoptr(GArray) skips = NULL;
    g_autoptr(GByteArray) full = NULL, sparse = NULL;
    Sink s;
    WinDumpSink out = { sink_write, sink_skip, &s };
    Error *err = NULL;
    unsigned full_writes, writes, nr_cuts, i;
    uint64_t off;

    /* just long enough to be a hole */
    memset(f->gu.low + 0x400000, 0, WIN_DUMP_HOLE_MIN);
    /* too short: a page, a page and a half, one page less than a hole */
    memset(f->gu.low + 0x520000, 0, PAGE);
    memset(f->gu.low + 0x530000, 0, PAGE + PAGE / 2);
    memset(f->gu.low + 0x880000, 0, WIN_DUMP_HOLE_MIN - PAGE);
    /* under a context: the file shows the registers */
    memset(f->gu.low + (CTX_PA(0) & ~(PAGE - 1)), 0, PAGE);
    /* the end of the first run and the start of the second: one hole */
    memset(f->gu.low + 0xa00000 - WIN_DUMP_HOLE_MIN / 2, 0,
           WIN_DUMP_HOLE_MIN / 2);
    memset(f->gu.low + 0xb00000, 0, WIN_DUMP_HOLE_MIN / 2);
    /* the end of RAM: a hole at the end of the file */
    memset(f->gu.low + RAM_SIZE - WIN_DUMP_HOLE_MIN, 0, WIN_DUMP_HOLE_MIN);
    prepare_ok(f, NULL);

    full = write_ok(f);
    s = (Sink) { .out = g_byte_array_new() };
    g_assert_true(windmp_write(&f->wd, &f->gu.g,
                               &(WinDumpSink) { sink_write, NULL, &s },
                               &err));
    full_writes = s.calls;
    g_byte_array_unref(s.out);

    /* the long runs of zero pages without an overlay */
    for (off = f->hdr_size; off <= full->len; off += PAGE) {
        static const uint8_t zero[PAGE];
        WinDumpRange *last = want->len ?
            &g_array_index(want, WinDumpRange, want->len - 1) : NULL;

        if (off < full->len && !memcmp(full->data + off, zero, PAGE) &&
            !file_page_overlaid(f, off)) {
            if (last && last->end == off) {
                last->end += PAGE;
            } else {
                WinDumpRange r = { off, off + PAGE };

                g_array_append_val(want, r);
            }
        } else if (last && last->end - last->start < WIN_DUMP_HOLE_MIN) {
            g_array_set_size(want, want->len - 1);
        }
    }
    g_assert_cmpuint(want->len, ==, 3);
    g_assert_true(file_page_overlaid(f, file_offset(f, CTX_PA(0))));

    sparse = write_sparse_ok(f, &skips, &writes);
    assert_same_bytes(sparse->data, full->data, full->len, "sparse output");
    g_assert_cmpuint(skips->len, ==, want->len);
    for (i = 0; i < want->len; i++) {
        g_assert_cmphex(g_array_index(skips, WinDumpRange, i).start, ==,
                        g_array_index(want, WinDumpRange, i).start);
        g_assert_cmphex(g_array_index(skips, WinDumpRange, i).end, ==,
                        g_array_index(want, WinDumpRange, i).end);
    }
    /* the file ends in a hole: the sink must give the file its length */
    g_assert_cmphex(g_array_index(skips, WinDumpRange, skips->len - 1).end,
                    ==, f->wd.total_size);
    /* the pages between two holes go out in one write */
    g_assert_cmpuint(writes, <=, full_writes + skips->len);

    /* maps of whole pages that end inside every run: the same holes */
    f->gu.map_max = WIN_DUMP_HOLE_MIN / 2 + 3 * PAGE;
    nr_cuts = f->gu.nr_cuts;
    f->gu.nr_cuts = 0;
    g_byte_array_unref(sparse);
    g_array_unref(skips);
    sparse = write_sparse_ok(f, &skips, &writes);
    f->gu.nr_cuts = nr_cuts;
    assert_same_bytes(sparse->data, full->data, full->len, "sparse output");
    g_assert_cmpuint(skips->len, ==, want->len);
    for (i = 0; i < want->len; i++) {
        g_assert_cmphex(g_array_index(skips, WinDumpRange, i).start, ==,
                        g_array_index(want, WinDumpRange, i).start);
        g_assert_cmphex(g_array_index(skips, WinDumpRange, i).end, ==,
                        g_array_index(want, WinDumpRange, i).end);
    }

    /*
     * Short maps that end inside pages and contexts: the same file.  A
     * page split between two maps is written, zero or not.
     */
    f->gu.map_max = 5000;
    g_byte_array_unref(sparse);
    g_array_unref(skips);
    sparse = write_sparse_ok(f, &skips, &writes);
    assert_same_bytes(sparse->data, full->data, full->len, "sparse output");
    for (i = 0; i < skips->len; i++) {
        WinDumpRange *r = &g_array_index(skips, WinDumpRange, i);
        unsigned j;

        g_assert_cmphex(r->start % PAGE, ==, 0);
        g_assert_cmphex(r->end % PAGE, ==, 0);
        for (j = 0; j < want->len; j++) {
            WinDumpRange *w = &g_array_index(want, WinDumpRange, j);

            if (r->start >= w->start && r->end <= w->end) {
                break;
            }
        }
        g_assert_cmpuint(j, <, want->len);
    }
    f->gu.map_max = 0;

    /* a failing skip fails the dump */
    s = (Sink) {
        .out = g_byte_array_new(),
        .skips = g_array_new(false, false, sizeof(WinDumpRange)),
        .fail_skip = true,
    };
    g_assert_false(windmp_write(&f->wd, &f->gu.g, &out, &err));
    assert_err_has(err, "Illegal seek (test)");
    g_assert_cmpuint(s.out->len, ==,
                     g_array_index(want, WinDumpRange, 0).start);
    g_assert_cmpint(f->gu.mapped, ==, 0);
    error_free(err);
    g_byte_array_unref(s.out);
    g_array_unref(s.skips);
    check_ram_untouched(f);
    fixture_free(f);
}

/* ---- 10. the page-table walker ---- */

static void translate_ok(WinDumpSpace *as, uint64_t va, uint64_t pa,
                         uint64_t left)
{
    Error *err = NULL;
    uint64_t got_pa = 0, got_left = 0;

    if (!windmp_translate(as, va, &got_pa, &got_left, &err)) {
        g_test_message("translate 0x%" PRIx64 ": %s", va,
                       error_get_pretty(err));
        g_assert_not_reached();
    }
    g_assert_cmphex(got_pa, ==, pa);
    g_assert_cmphex(got_left, ==, left);
}

static void translate_fails(WinDumpSpace *as, uint64_t va, const char *needle)
{
    Error *err = NULL;
    uint64_t pa, left;

    g_assert_false(windmp_translate(as, va, &pa, &left, &err));
    assert_err_has(err, needle);
    error_free(err);
}

static bool tables_have(WinDumpSpace *as, uint64_t start, uint64_t end)
{
    guint i;

    for (i = 0; i < as->tables->len; i++) {
        WinDumpRange *r = &g_array_index(as->tables, WinDumpRange, i);

        if (r->start == start && r->end == end) {
            return true;
        }
    }
    return false;
}

static void test_paging_lm4(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 1, false);
    uint64_t va1g = 0xffff8000c0000000ull, va2m = 0xffff800100e00000ull;
    uint64_t va4k = 0xffff800200003000ull;
    uint64_t pdpt, pd, pt;
    WinDumpSpace as;

    fixture_map(f, va1g, 0x2c0000000ull, GiB);
    fixture_map(f, va2m, 0x123400000ull, 2 * MiB);
    fixture_map(f, va4k, 0xabcde000ull, PAGE);
    /* PAT and NX bits in the leaves are not address bits */
    pdpt = ld64(&f->gu, f->dtb + 256 * 8) & ADDR_MASK;
    st64(&f->gu, pdpt + 3 * 8, ld64(&f->gu, pdpt + 3 * 8) | PTE_PAT_LARGE |
         PTE_NX);
    pd = ld64(&f->gu, pdpt + 4 * 8) & ADDR_MASK;
    st64(&f->gu, pd + 7 * 8, ld64(&f->gu, pd + 7 * 8) | PTE_PAT_LARGE |
         PTE_NX);
    pt = leaf_table(f, va4k);
    st64(&f->gu, pt + 3 * 8, ld64(&f->gu, pt + 3 * 8) | PTE_NX);

    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_LM4, f->dtb);
    translate_ok(&as, va1g, 0x2c0000000ull, GiB);
    translate_ok(&as, va1g + 0x12345678, 0x2d2345678ull, GiB - 0x12345678);
    translate_ok(&as, va1g + GiB - 1, 0x2ffffffffull, 1);
    translate_ok(&as, va2m + 0x1abcd, 0x12341abcdull, 2 * MiB - 0x1abcd);
    translate_ok(&as, va2m + 2 * MiB - 1, 0x1235fffffull, 1);
    translate_ok(&as, va4k, 0xabcde000ull, PAGE);
    translate_ok(&as, va4k + 0x7ff, 0xabcde7ffull, 0x801);
    translate_ok(&as, va4k + 0xfff, 0xabcdefffull, 1);
    g_assert(tables_have(&as, f->dtb, f->dtb + PAGE));
    g_assert(tables_have(&as, pdpt, pdpt + PAGE));
    g_assert(tables_have(&as, pt, pt + PAGE));
    /* the 1 GiB leaf ends the walk: no PD under it is consulted */
    g_assert_cmpuint(as.tables->len, ==, 5);

    translate_fails(&as, va4k + PAGE, "not mapped (PTE not present)");
    translate_fails(&as, 0xffff800200200000ull, "PDE not present");
    translate_fails(&as, 0xffff800300000000ull, "PDPTE not present");
    translate_fails(&as, 0x0000100000000000ull, "PML4E not present");
    translate_fails(&as, 0x0000800000000000ull, "is not canonical");
    translate_fails(&as, 0xfeff800000000000ull, "is not canonical");
    windmp_space_destroy(&as);
    g_assert_null(as.tables);
    fixture_free(f);
}

/* 5 levels (LA57): 57-bit canonical addresses, the same three page sizes */
static void test_paging_lm5(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM5, 1, false);
    uint64_t va1g = 0xff123400c0000000ull, va2m = 0xff12350100e00000ull;
    uint64_t va4k = 0x0012000200003000ull;
    uint64_t pml4;
    WinDumpSpace as;

    fixture_map(f, va1g, 0x2c0000000ull, GiB);
    fixture_map(f, va2m, 0x123400000ull, 2 * MiB);
    fixture_map(f, va4k, 0xabcde000ull, PAGE);
    pml4 = ld64(&f->gu, f->dtb + ((va1g >> 48) & 511) * 8) & ADDR_MASK;

    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_LM5, f->dtb | 0x5a8);
    translate_ok(&as, va1g + 0x12345678, 0x2d2345678ull, GiB - 0x12345678);
    translate_ok(&as, va2m + 0x1abcd, 0x12341abcdull, 2 * MiB - 0x1abcd);
    translate_ok(&as, va4k + 0x7ff, 0xabcde7ffull, 0x801);
    /* the fixture's kernel, too, is only there with 5 levels */
    translate_ok(&as, f->kdbg_va, KDBG_PA, GiB - KDBG_PA);
    g_assert(tables_have(&as, f->dtb, f->dtb + PAGE));
    g_assert(tables_have(&as, pml4, pml4 + PAGE));

    translate_fails(&as, va4k + PAGE, "not mapped (PTE not present)");
    translate_fails(&as, va1g + GiB, "PDPTE not present");
    translate_fails(&as, 0xff12000000000000ull, "PML4E not present");
    translate_fails(&as, 0xff00000000000000ull,
                    "address 0xff00000000000000 is not mapped"
                    " (PML5E not present)");
    /* bits 63:56 must equal bit 56 */
    translate_fails(&as, 0x0100000000000000ull, "is not canonical (57-bit)");
    translate_fails(&as, 0xfe80000000000000ull, "is not canonical (57-bit)");
    windmp_space_destroy(&as);

    /* the same tables walked with 4 levels lead nowhere */
    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_LM4, f->dtb);
    translate_fails(&as, va1g, "is not canonical (48-bit)");
    translate_fails(&as, f->kdbg_va, "is not canonical (48-bit)");
    windmp_space_destroy(&as);
    fixture_free(f);
}

/* The paging mode of an x64 guest comes from its vCPUs' CR4.LA57 */
static void test_paging_la57_cpus(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM5, 3, false);
    unsigned i;

    /* an AP waiting for its SIPI (paging off) has no say */
    f->gu.cpus[1].cr[0] = 0x60000010;
    f->gu.cpus[1].cr[4] = 0;
    prepare_ok(f, NULL);
    g_assert_cmpint(f->wd.paging, ==, WIN_DUMP_PAGING_LM5);
    g_assert_cmphex(f->wd.kdbg_va, ==, f->kdbg_va);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 3);
    write_and_check(f, 7);
    windmp_cleanup(&f->wd);
    f->prepared = false;

    /* vCPUs with paging on must agree */
    f->gu.cpus[2].cr[4] = CR4_PAE;
    prepare_fails(f, "vCPU 0 runs with 5-level paging but vCPU 2 with"
                  " 4-level (CR4.LA57)");
    f->gu.cpus[0].cr[4] = CR4_PAE;
    f->gu.cpus[1] = f->gu.cpus[0];
    f->gu.cpus[2].cr[4] = CR4_PAE | CR4_LA57;
    prepare_fails(f, "vCPU 0 runs with 4-level paging but vCPU 2 with"
                  " 5-level");

    /* a vCPU that Windows does not use has no say either */
    hdr_set_nr_cpus(f, 2);
    for (i = 0; i < 3; i++) {
        f->gu.cpus[i].cr[4] = CR4_PAE | CR4_LA57;
    }
    f->gu.cpus[2].cr[4] = CR4_PAE;
    prepare_ok(f, NULL);
    g_assert_cmpint(f->wd.paging, ==, WIN_DUMP_PAGING_LM5);
    windmp_cleanup(&f->wd);
    f->prepared = false;

    /* 4 levels on 5-level tables: the KDBG is not found, and it says so */
    for (i = 0; i < 3; i++) {
        f->gu.cpus[i].cr[4] = CR4_PAE;
    }
    prepare_fails(f, "(4-level paging): no usable KDBG");
    /* and so without control registers: 4 levels is the default */
    for (i = 0; i < 3; i++) {
        f->gu.cpus[i].has_cr = false;
        f->gu.cpus[i].cr[4] = CR4_PAE | CR4_LA57;
    }
    prepare_fails(f, "is not canonical (48-bit)");
    fixture_free(f);

    /* a 4-level guest whose control registers are unknown */
    f = fixture_new(WIN_DUMP_PAGING_LM4, 2, false);
    for (i = 0; i < 2; i++) {
        f->gu.cpus[i].has_cr = false;
    }
    prepare_ok(f, NULL);
    g_assert_cmpint(f->wd.paging, ==, WIN_DUMP_PAGING_LM4);
    fixture_free(f);
}

static void test_paging_x86(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_X86, 1, false);
    WinDumpSpace as;

    /* PSE-36: bits 39:32 = 0x12 from PDE bits 20:13; bit 12 is PAT */
    st32(&f->gu, f->dtb + 0x300 * 4, 0x00c00000u | (0x12u << 13) |
         PTE_PAT_LARGE | PTE_PS | PTE_P);
    fixture_map(f, 0xc0400000u, 0xfedc1000ull, PAGE);

    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_X86, f->dtb | 0x18);
    translate_ok(&as, 0xc0123456u, 0x1200d23456ull, 4 * MiB - 0x123456);
    translate_ok(&as, 0xc03fffffu, 0x1200ffffffull, 1);
    /* only 32 bits of a virtual address count */
    translate_ok(&as, 0xffffffffc0000000ull, 0x1200c00000ull, 4 * MiB);
    translate_ok(&as, 0xc0400abcu, 0xfedc1abcull, PAGE - 0xabc);
    translate_ok(&as, 0xc0400fffu, 0xfedc1fffull, 1);
    translate_fails(&as, 0xc0401000u, "PTE not present");
    translate_fails(&as, 0xffffffffc0401000ull,
                    "address 0xc0401000 is not mapped (PTE not present)");
    translate_fails(&as, 0x10000000u, "PDE not present");
    g_assert(tables_have(&as, f->dtb, f->dtb + PAGE));
    windmp_space_destroy(&as);
    fixture_free(f);
}

static void test_paging_pae(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_PAE, 1, false);
    WinDumpSpace as;
    uint64_t pd;

    /* a decoy PDPT at the page start, the real one at +0x60 */
    memset(guest_ptr(&f->gu, 0x3000, 0x80), 0, 0x80);
    synth_mem_map(&f->gu.mem, WIN_DUMP_PAGING_PAE, 0x3000, 0x40001000, 0x6000,
                  PAGE);
    synth_mem_map(&f->gu.mem, WIN_DUMP_PAGING_PAE, 0x3060, 0x40001000, 0x5000,
                  PAGE);
    synth_mem_map(&f->gu.mem, WIN_DUMP_PAGING_PAE, 0x3060, 0xc0200000,
             0x1fee00000ull, 2 * MiB);
    pd = ld64(&f->gu, 0x3060 + 3 * 8) & ADDR_MASK;
    st64(&f->gu, pd + 8, ld64(&f->gu, pd + 8) | PTE_PAT_LARGE | PTE_NX);

    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_PAE, 0x3060);
    translate_ok(&as, 0x40001234, 0x5234, PAGE - 0x234);
    translate_ok(&as, 0xc0212345, 0x1fee12345ull, 2 * MiB - 0x12345);
    translate_ok(&as, 0xc03fffff, 0x1feffffffull, 1);
    translate_fails(&as, 0x80000000, "PDPTE not present");
    translate_fails(&as, 0x40000000, "PTE not present");
    translate_fails(&as, 0x40200000, "PDE not present");
    g_assert(tables_have(&as, 0x3060, 0x3080));
    windmp_space_destroy(&as);

    /* bits 4:0 of CR3 are ignored: still the PDPT at 0x3060 */
    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_PAE, 0x3078);
    translate_ok(&as, 0x40001234, 0x5234, PAGE - 0x234);
    windmp_space_destroy(&as);
    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_PAE, 0x3000);
    translate_ok(&as, 0x40001234, 0x6234, PAGE - 0x234);
    windmp_space_destroy(&as);
    fixture_free(f);
}

/* read_virt across two non-contiguous pages; tables at the end of RAM */
static void test_paging_read_virt(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 1, false);
    uint64_t va = 0xffff900000000000ull;
    uint8_t buf[0x200], exp[0x200];
    Error *err = NULL;
    WinDumpSpace as;

    fixture_map(f, va, 0x905000, PAGE);
    fixture_map(f, va + PAGE, 0x900000, PAGE);
    memcpy(exp, guest_ptr(&f->gu, 0x905f00, 0x100), 0x100);
    memcpy(exp + 0x100, guest_ptr(&f->gu, 0x900000, 0x100), 0x100);
    windmp_space_init(&as, &f->gu.g, WIN_DUMP_PAGING_LM4, f->dtb);
    g_assert_true(windmp_read_virt(&as, va + 0xf00, buf, sizeof(buf), &err));
    assert_same_bytes(buf, exp, sizeof(buf), "read_virt");
    g_assert_false(windmp_read_virt(&as, va + 0x1f00, buf, sizeof(buf), &err));
    assert_err_has(err, "not present");
    error_free(err);
    err = NULL;

    /* a PML4E that points at the very end of RAM */
    st64(&f->gu, f->dtb + 8, (RAM_SIZE - PAGE) | PTE_P);
    st64(&f->gu, RAM_SIZE - 8, 0x7fffffff000ull | PTE_P);
    translate_fails(&as, (1ull << 39) | (511ull << 30),
                    "reading the PDE of 0x000000ffc0000000");
    windmp_space_destroy(&as);
    fixture_free(f);
}

static void test_ram_bounds(void)
{
    Fixture *f = fixture_new(WIN_DUMP_PAGING_LM4, 1, true);
    const WinDumpGuest *g = &f->gu.g;
    uint8_t b[8];
    Error *err = NULL;

    g_assert_true(windmp_is_ram(g, 0, RAM_SIZE));
    g_assert_true(windmp_is_ram(g, RAM_SIZE - 1, 1));
    g_assert_false(windmp_is_ram(g, RAM_SIZE - 1, 2));
    g_assert_false(windmp_is_ram(g, 0, 0));
    g_assert_false(windmp_is_ram(g, RAM_SIZE, 1));
    g_assert_false(windmp_is_ram(g, RAM_SIZE - 4, HIGH_BASE));
    g_assert_true(windmp_is_ram(g, HIGH_BASE, HIGH_SIZE));
    g_assert_false(windmp_is_ram(g, HIGH_BASE - 1, 2));
    g_assert_false(windmp_is_ram(g, 8, UINT64_MAX));
    g_assert_false(windmp_is_ram(g, UINT64_MAX, 1));
    g_assert_false(windmp_read_phys(g, UINT64_MAX - 3, b, 8, &err));
    assert_err_has(err, "is not guest RAM");
    error_free(err);
    fixture_free(f);
}

/* ---- kernel memory dumps (DumpType 5, "SDMP") ---- */

#define USER_VA         0x400000ull
#define USER_PA         0xc00000ull     /* mapped only in the user half */

static bool long_mode(WinDumpPaging paging)
{
    return paging == WIN_DUMP_PAGING_LM4 || paging == WIN_DUMP_PAGING_LM5;
}

static uint64_t kernel_va(WinDumpPaging paging, uint64_t off)
{
    return (paging == WIN_DUMP_PAGING_LM5 ? 0xff7ffa0000000000ull :
            paging == WIN_DUMP_PAGING_LM4 ? 0xfffffa0000000000ull :
            0xa0000000ull) + off;
}

static uint64_t count_bits(const unsigned long *map, uint64_t nbits)
{
    uint64_t i, n = 0;

    for (i = 0; i < nbits; i++) {
        n += (map[i / (8 * sizeof(long))] >> (i % (8 * sizeof(long)))) & 1;
    }
    return n;
}

static bool bit_set(const unsigned long *map, uint64_t pfn)
{
    return (map[pfn / (8 * sizeof(long))] >> (pfn % (8 * sizeof(long)))) & 1;
}

/*
 * A guest with kernel pages of every size, a user-only page, and the
 * self-map Windows keeps at a random root index: the kernel walk marks
 * exactly the kernel-mapped RAM and every table, whatever the index.
 */
static void test_kernel_walk(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    uint64_t nr_pfns = RAM_SIZE / PAGE;
    uint64_t big = paging == WIN_DUMP_PAGING_X86 ? 4 * MiB : 2 * MiB;
    static const unsigned self_idx[] = { 256, 300, 493, 511 };
    unsigned k;

    for (k = 0; k < ARRAY_SIZE(self_idx); k++) {
        Guest gu = { 0 };
        WinDumpSpace as;
        uint64_t dtb, pfn, tables_end;
        g_autofree unsigned long *pages = g_new0(unsigned long,
                                                 nr_pfns / 64 + 1);

        guest_init(&gu, false, 1);
        if (paging == WIN_DUMP_PAGING_PAE) {
            dtb = 0x1fe0;
            memset(guest_ptr(&gu, dtb, 32), 0, 32);
        } else {
            dtb = synth_mem_table(&gu.mem);
        }
        if (long_mode(paging)) {
            /* the self-map; its index is random on Windows */
            st64(&gu, dtb + self_idx[k] * 8, dtb | PTE_P | PTE_RW);
            /* a 1 GiB page beyond RAM marks nothing */
            synth_mem_map(&gu.mem, paging, dtb, kernel_va(paging, GiB), GiB,
                          GiB);
        } else if (paging == WIN_DUMP_PAGING_X86) {
            st32(&gu, dtb + (512 + k) * 4, dtb | PTE_P | PTE_RW);
        }
        synth_mem_map(&gu.mem, paging, dtb, kernel_va(paging, 0), 0x123000,
                      PAGE);
        synth_mem_map(&gu.mem, paging, dtb, kernel_va(paging, 8 * MiB), 8 * MiB,
                      big);
        synth_mem_map(&gu.mem, paging, dtb, kernel_va(paging, 16 * MiB),
                 RAM_SIZE - big, big);
        synth_mem_map(&gu.mem, paging, dtb, USER_VA, 5 * MiB, PAGE);
        tables_end = gu.mem.next_table;

        windmp_space_init(&as, &gu.g, paging, dtb);
        windmp_kernel_pages(&as, pages, nr_pfns);
        windmp_space_destroy(&as);

        for (pfn = 0; pfn < nr_pfns; pfn++) {
            uint64_t pa = pfn * PAGE;
            bool want = pa == 0x123000 ||
                        (pa >= 8 * MiB && pa < 8 * MiB + big) ||
                        pa >= RAM_SIZE - big ||
                        (pa >= 0x10000 && pa < tables_end) ||
                        pa == (dtb & ~0xfffull);

            if (bit_set(pages, pfn) != want) {
                g_test_message("self-map at %u: page 0x%" PRIx64 " is%s"
                               " marked", self_idx[k], pa,
                               want ? " not" : "");
                g_assert_not_reached();
            }
        }
        g_assert_false(bit_set(pages, 5 * MiB / PAGE));
        g_free(gu.low);
    }
}

/*
 * The user half and the kernel half share a table (as an LA57 guest may
 * share its PML4): what it maps counts for the kernel half, whichever
 * root entry the walk meets first.
 */
static void test_kernel_walk_shared(void)
{
    uint64_t nr_pfns = RAM_SIZE / PAGE, dtb, pdpt;
    g_autofree unsigned long *pages = g_new0(unsigned long,
                                             nr_pfns / 64 + 1);
    static const unsigned user_idx[] = { 0, 255 };
    unsigned k;

    for (k = 0; k < ARRAY_SIZE(user_idx); k++) {
        Guest gu = { 0 };
        WinDumpSpace as;

        memset(pages, 0, (nr_pfns / 64 + 1) * sizeof(long));
        guest_init(&gu, false, 1);
        dtb = synth_mem_table(&gu.mem);
        synth_mem_map(&gu.mem, WIN_DUMP_PAGING_LM4, dtb, 0xffff800000000000ull,
                 8 * MiB, 2 * MiB);
        pdpt = ld64(&gu, dtb + 256 * 8);
        st64(&gu, dtb + user_idx[k] * 8, pdpt);
        windmp_space_init(&as, &gu.g, WIN_DUMP_PAGING_LM4, dtb);
        windmp_kernel_pages(&as, pages, nr_pfns);
        windmp_space_destroy(&as);
        g_assert_cmpuint(count_bits(pages, nr_pfns), ==, 512 + 3);
        g_assert_true(bit_set(pages, 8 * MiB / PAGE));
        g_free(gu.low);
    }
}

/*
 * Tables that point at each other in every way a guest can make them:
 * the walk ends, reads each table at most once per level, and marks only
 * RAM.
 */
static void test_kernel_walk_hostile(void)
{
    uint64_t nr_pfns = RAM_SIZE / PAGE, i, dtb, pdpt, pd;
    g_autofree unsigned long *pages = g_new0(unsigned long,
                                             nr_pfns / 64 + 1);
    Guest gu = { 0 };
    WinDumpSpace as;

    guest_init(&gu, false, 1);
    dtb = synth_mem_table(&gu.mem);
    pdpt = synth_mem_table(&gu.mem);
    pd = synth_mem_table(&gu.mem);
    for (i = 0; i < 512; i++) {
        /* every root entry at the same table, which points back up */
        st64(&gu, dtb + i * 8, pdpt | PTE_P);
        st64(&gu, pdpt + i * 8, (i & 1 ? dtb : pd) | PTE_P);
        /* and tables outside RAM, or huge pages at the top of memory */
        st64(&gu, pd + i * 8, (i & 1 ? (0xfffffull << 12) | PTE_P :
                               (0xffffc0000000ull | PTE_P | PTE_PS)));
    }
    windmp_space_init(&as, &gu.g, WIN_DUMP_PAGING_LM4, dtb);
    windmp_kernel_pages(&as, pages, nr_pfns);
    windmp_space_destroy(&as);
    g_assert_cmpuint(count_bits(pages, nr_pfns), ==, 3);
    g_assert_true(bit_set(pages, dtb / PAGE));
    g_assert_true(bit_set(pages, pdpt / PAGE));
    g_assert_true(bit_set(pages, pd / PAGE));
    g_free(gu.low);
}

/*
 * Check a bitmap dump (DumpType 5) as its readers see it: the header
 * says so, the bitmap header with @signature follows it, the pages the
 * bitmap lists follow FirstPage in PFN order (the contexts shown in the
 * KPRCBs), and every count agrees with the bitmap.  Returns the bitmap's
 * byte offset in @out and sets *present.
 */
static uint64_t check_bitmap_output(Fixture *f, GByteArray *out,
                                    uint32_t signature, uint64_t *present)
{
    const WinDumpBitmapHeader *bh;
    uint64_t bits, first, pfn, off, map, n = 0;
    unsigned i;

    g_assert_cmpuint(le32_to_cpu(f->x64 ? f->wd.hdr.x64.DumpType :
                                 f->wd.hdr.x32.DumpType), ==,
                     WIN_DUMP_TYPE_BITMAP);
    assert_same_bytes(out->data, (uint8_t *)&f->wd.hdr, f->hdr_size,
                      "written header");
    bh = (const WinDumpBitmapHeader *)(out->data + f->hdr_size);
    g_assert_cmphex(le32_to_cpu(bh->Signature), ==, signature);
    g_assert_cmphex(le32_to_cpu(bh->ValidDump), ==, WIN_DUMP_BITMAP_VALID);
    first = le64_to_cpu(bh->FirstPage);
    *present = le64_to_cpu(bh->TotalPresentPages);
    bits = le64_to_cpu(bh->BitmapSize);
    map = f->hdr_size + sizeof(*bh);
    g_assert_cmpuint(bits % 32, ==, 0);
    g_assert_cmpuint(bits, >=, (f->gu.high ? HIGH_BASE + HIGH_SIZE :
                                RAM_SIZE) / PAGE);
    g_assert_cmpuint(first % PAGE, ==, 0);
    g_assert_cmpuint(first, >=, map + bits / 8);
    g_assert_cmpuint(out->len, ==, first + *present * PAGE);
    g_assert_cmpuint(out->len, ==, f->wd.total_size);
    g_assert_cmpuint(le64_to_cpu(f->x64 ? f->wd.hdr.x64.RequiredDumpSpace :
                                 f->wd.hdr.x32.RequiredDumpSpace), ==,
                     out->len);
    /* the padding up to FirstPage is zero: no stray bits for volatility3 */
    for (off = map + bits / 8; off < first; off++) {
        g_assert_cmpuint(out->data[off], ==, 0);
    }

    for (pfn = 0; pfn < bits; pfn++) {
        const uint8_t *want;

        if (!(out->data[map + pfn / 8] & (1u << (pfn % 8)))) {
            continue;
        }
        want = buf_ptr(f->low_copy, f->high_copy, pfn * PAGE, PAGE);
        g_assert_nonnull(want);
        off = first + n * PAGE;
        n++;
        for (i = 0; i < 2; i++) {
            if (f->ctx[i][0].pa / PAGE == pfn) {
                break;
            }
        }
        if (i == 2) {
            assert_same_bytes(out->data + off, want, PAGE, "a page");
        } else {
            check_ctx(f, out->data + off + f->ctx[i][0].pa % PAGE,
                      &f->gu.cpus[i]);
        }
    }
    g_assert_cmpuint(n, ==, *present);
    check_ram_untouched(f);
    return map;
}

#define IN_MAP(out, map, pa) \
    ((out)->data[(map) + (pa) / PAGE / 8] & (1u << ((pa) / PAGE % 8)))

/* A kernel memory dump holds what its readers need, and no user page */
static void test_kernel_dump(gconstpointer data)
{
    WinDumpPaging paging = GPOINTER_TO_INT(data);
    WinDumpOptions opts = { .kernel_only = true };
    Fixture *f = fixture_new(paging, 2, true);
    uint64_t map, present;
    GByteArray *out;
    unsigned i;

    fixture_map(f, USER_VA, USER_PA, PAGE);
    prepare_ok(f, &opts);
    g_assert_cmpuint(warnings->len, ==, 0);
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    out = write_ok(f);
    map = check_bitmap_output(f, out, WIN_DUMP_BITMAP_SUMMARY, &present);

    g_assert_true(IN_MAP(out, map, KDBG_PA));
    g_assert_true(IN_MAP(out, map, BUG_PA));
    g_assert_true(IN_MAP(out, map, KPB_PA));
    g_assert_true(IN_MAP(out, map, f->dtb));
    for (i = 0; i < 2; i++) {
        g_assert_true(IN_MAP(out, map, PRCB_PA(i)));
        g_assert_true(IN_MAP(out, map, f->ctx[i][0].pa));
    }
    if (!long_mode(paging)) {
        /* x64's 1 GiB KDBG page maps all of low RAM; the others do not */
        g_assert_false(IN_MAP(out, map, USER_PA));
        g_assert_cmpuint(present, <, RAM_SIZE / PAGE);
    }
    /* the runs still describe the guest's memory */
    g_assert_cmpuint(le32_to_cpu(f->x64 ?
                     f->wd.hdr.x64.PhysicalMemoryBlock.NumberOfRuns :
                     f->wd.hdr.x32.PhysicalMemoryBlock.NumberOfRuns), ==,
                     f->nr_runs);
    g_byte_array_unref(out);
    fixture_free(f);
}

/*
 * More runs than the header holds: every page of guest RAM, behind an
 * FDMP bitmap, and the runs rewritten to describe guest RAM.
 */
static void test_runs_too_many(gconstpointer data)
{
    Fixture *f = fixture_new(GPOINTER_TO_INT(data), 2, true);
    unsigned i, n = (f->x64 ? WIN_DUMP_MAX_RUNS64 : WIN_DUMP_MAX_RUNS32) + 1;
    uint64_t map, present;
    GByteArray *out;

    for (i = 0; i < n; i++) {
        set_run(f, i, 2 * i, 1);
    }
    f->nr_runs = n;
    hdr_set_runs(f);
    prepare_ok(f, NULL);
    g_assert_true(warned("more than the"));
    g_assert_cmpuint(f->wd.nr_contexts, ==, 2);
    out = write_ok(f);
    map = check_bitmap_output(f, out, WIN_DUMP_BITMAP_FULL, &present);
    g_assert_cmpuint(present, ==, (RAM_SIZE + HIGH_SIZE) / PAGE);
    g_assert_true(IN_MAP(out, map, HIGH_BASE));
    if (f->x64) {
        WinDumpPhyMemDesc64 *d = &f->wd.hdr.x64.PhysicalMemoryBlock;

        g_assert_cmpuint(le32_to_cpu(d->NumberOfRuns), ==, 2);
        g_assert_cmpuint(le64_to_cpu(d->NumberOfPages), ==, present);
        g_assert_cmpuint(le64_to_cpu(d->Run[1].BasePage), ==,
                         HIGH_BASE / PAGE);
    } else {
        WinDumpPhyMemDesc32 *d = &f->wd.hdr.x32.PhysicalMemoryBlock;

        g_assert_cmpuint(le32_to_cpu(d->NumberOfRuns), ==, 2);
        g_assert_cmpuint(le32_to_cpu(d->NumberOfPages), ==, present);
        g_assert_cmpuint(le32_to_cpu(d->Run[1].BasePage), ==,
                         HIGH_BASE / PAGE);
    }
    g_byte_array_unref(out);
    fixture_free(f);
}
#undef IN_MAP

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        WinDumpPaging paging;
    } modes[] = {
        { "x64", WIN_DUMP_PAGING_LM4 },
        { "la57", WIN_DUMP_PAGING_LM5 },
        { "pae", WIN_DUMP_PAGING_PAE },
        { "x86", WIN_DUMP_PAGING_X86 },
    };
    static const struct {
        const char *name;
        GTestDataFunc fn;
    } per_mode[] = {
        { "/windmp/happy/", test_happy },
        { "/windmp/kernel/walk/", test_kernel_walk },
        { "/windmp/kernel/dump/", test_kernel_dump },
        { "/windmp/runs/too-many/", test_runs_too_many },
        { "/windmp/runs/hotplug/", test_runs_hotplug },
        { "/windmp/runs/hotplug-too-many/", test_runs_hotplug_too_many },
        { "/windmp/happy/crashed-cpu/", test_happy_crashed },
        { "/windmp/happy/short-map/", test_happy_short_map },
        { "/windmp/context/split-page/", test_context_split },
        { "/windmp/kdbg/fallback/", test_kdbg_fallback },
        { "/windmp/kdbg/none/", test_kdbg_none },
        { "/windmp/kdbg/small/", test_kdbg_small },
        { "/windmp/kuser/", test_kuser },
        { "/windmp/bugcheck/zero/", test_bugcheck_zero },
        { "/windmp/bugcheck/hv-crash/", test_bugcheck_hv_crash },
        { "/windmp/bugcheck/copied/", test_bugcheck_copied },
        { "/windmp/bugcheck/unmapped/", test_bugcheck_unmapped },
        { "/windmp/runs/bad/", test_runs_bad },
        { "/windmp/runs/max/", test_runs_max },
        { "/windmp/runs/pages-mismatch/", test_runs_pages_mismatch },
        { "/windmp/cpus/bad/", test_cpus_bad },
        { "/windmp/cpus/fewer/", test_cpus_fewer },
        { "/windmp/hostile/dtb-outside-ram/", test_hostile_dtb_outside },
        { "/windmp/hostile/dtb-unaligned/", test_hostile_dtb_unaligned },
        { "/windmp/hostile/kpb-unmapped/", test_hostile_kpb_unmapped },
        { "/windmp/hostile/prcb-unmapped/", test_hostile_prcb_unmapped },
        { "/windmp/hostile/null-pointers/", test_hostile_null_pointers },
        { "/windmp/hostile/ctx-outside-runs/",
          test_hostile_ctx_outside_runs },
        { "/windmp/hostile/ctx-in-page-table/", test_hostile_ctx_in_table },
        { "/windmp/hostile/ctx-in-kdbg/", test_hostile_ctx_in_kdbg },
        { "/windmp/hostile/ctx-on-pointers/", test_hostile_ctx_on_pointers },
        { "/windmp/hostile/ctx-overlap/", test_hostile_ctx_overlap },
        { "/windmp/hostile/ctx-mmio/", test_hostile_ctx_mmio },
        { "/windmp/hostile/prcb-offset-ffff/", test_hostile_prcb_offset },
    };
    unsigned i, j;
    int ret;

    g_test_init(&argc, &argv, NULL);
    warnings = g_ptr_array_new_with_free_func(g_free);

    for (i = 0; i < ARRAY_SIZE(per_mode); i++) {
        for (j = 0; j < ARRAY_SIZE(modes); j++) {
            g_autofree char *path = g_strconcat(per_mode[i].name,
                                                modes[j].name, NULL);

            g_test_add_data_func(path, GINT_TO_POINTER(modes[j].paging),
                                 per_mode[i].fn);
        }
    }
    g_test_add_func("/windmp/kdbg/truncated", test_kdbg_truncated);
    g_test_add_func("/windmp/note/good", test_note_good);
    g_test_add_func("/windmp/note/too-short", test_note_short);
    g_test_add_func("/windmp/note/wrong-name", test_note_name);
    g_test_add_func("/windmp/note/descsz", test_note_descsz);
    g_test_add_func("/windmp/note/valid-dump-vs-size", test_note_valid_dump);
    g_test_add_func("/windmp/note/bad-signature", test_note_signature);
    g_test_add_func("/windmp/runs/two-ranges", test_runs_two_ranges);
    g_test_add_func("/windmp/hostile/pml4-self-map", test_hostile_self_map);
    g_test_add_func("/windmp/kernel/walk-hostile", test_kernel_walk_hostile);
    g_test_add_func("/windmp/kernel/walk-shared", test_kernel_walk_shared);
    g_test_add_func("/windmp/kernel/sparse-ram", test_bitmap_sparse_ram);
    g_test_add_func("/windmp/hostile/table-outside-ram",
                    test_hostile_table_outside);
    g_test_add_func("/windmp/paging/lm5", test_paging_lm5);
    g_test_add_func("/windmp/paging/la57-from-cr4", test_paging_la57_cpus);
    g_test_add_func("/windmp/hostile/ctx-on-kdbg-tail",
                    test_hostile_ctx_kdbg_tail);
    g_test_add_func("/windmp/hostile/kdbg-noncanonical",
                    test_hostile_kdbg_noncanonical);
    g_test_add_func("/windmp/write/output-fails", test_write_fails);
    g_test_add_func("/windmp/write/map-fails", test_write_map_fails);
    g_test_add_data_func("/windmp/write/sparse/lm4",
                         GINT_TO_POINTER(WIN_DUMP_PAGING_LM4),
                         test_write_sparse);
    g_test_add_data_func("/windmp/write/sparse/pae",
                         GINT_TO_POINTER(WIN_DUMP_PAGING_PAE),
                         test_write_sparse);
    g_test_add_func("/windmp/paging/lm4", test_paging_lm4);
    g_test_add_func("/windmp/paging/x86-pse36", test_paging_x86);
    g_test_add_func("/windmp/paging/pae-cr3", test_paging_pae);
    g_test_add_func("/windmp/paging/read-virt", test_paging_read_virt);
    g_test_add_func("/windmp/ram/bounds", test_ram_bounds);

    ret = g_test_run();
    g_ptr_array_unref(warnings);
    return ret;
}
