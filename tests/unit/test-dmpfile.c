/*
 * Unit tests of windmp's .dmp reader and checker (qemu/contrib/windmp/dmpfile.c):
 * synthetic full (DumpType 1) and bitmap (DumpType 5) dumps of a small
 * guest whose KDBG, KiProcessorBlock and KPRCB contexts are reached
 * through its page tables; each defect a reader trips on must come out as
 * a finding of the right severity, and a file with no page map at all as
 * an error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "dmpfile.h"
#include "windmp-synth.h"

#define RAM_SIZE    0x20000ull
#define RAM_PAGES   (RAM_SIZE / SYNTH_PAGE)

#define H64(f)      offsetof(WinDumpHeader64, f)
#define H32(f)      offsetof(WinDumpHeader32, f)
/* PhysicalMemoryBlock fields, by the header's layout */
#define NR_RUNS(c)  ((c)->sg.x64 ? H64(PhysicalMemoryBlock) : \
                                   H32(PhysicalMemoryBlock))
#define NR_PAGES(c) (NR_RUNS(c) + ((c)->sg.x64 ? 8 : 4))
#define RUN(c, i)   (NR_RUNS(c) + ((c)->sg.x64 ? 0x10 + 16 * (i) : \
                                                 0x08 + 8 * (i)))

typedef struct DCase {
    SynthGuest sg;
    SynthDmp d;
    DmpFile df;
    bool parsed;
} DCase;

typedef struct Mode {
    WinDumpPaging paging;
    bool large;
    bool bitmap;
} Mode;

static DCase *dcase_new(WinDumpPaging paging, bool large, unsigned nr_cpus)
{
    DCase *c = g_new0(DCase, 1);

    synth_init(&c->sg, paging, large, RAM_SIZE, nr_cpus);
    synth_store_contexts(&c->sg);
    return c;
}

/* The file, after any change to the guest */
static void dcase_build(DCase *c, bool bitmap)
{
    if (c->d.buf) {
        g_byte_array_free(c->d.buf, true);
    }
    synth_dmp(&c->sg, bitmap, &c->d);
}

static DCase *dcase_mode(const Mode *m, unsigned nr_cpus)
{
    DCase *c = dcase_new(m->paging, m->large, nr_cpus);

    dcase_build(c, m->bitmap);
    return c;
}

static void dcase_unparse(DCase *c)
{
    if (c->parsed) {
        dmpfile_free(&c->df);
        c->parsed = false;
    }
}

static void dcase_free(DCase *c)
{
    dcase_unparse(c);
    if (c->d.buf) {
        g_byte_array_free(c->d.buf, true);
    }
    synth_free(&c->sg);
    g_free(c);
}

static void fput32(DCase *c, uint64_t off, uint32_t v)
{
    g_assert_cmpuint(off + 4, <=, c->d.buf->len);
    synth_put32(c->d.buf->data + off, v);
}

static void fput64(DCase *c, uint64_t off, uint64_t v)
{
    g_assert_cmpuint(off + 8, <=, c->d.buf->len);
    synth_put64(c->d.buf->data + off, v);
}

/* A pointer-sized header field: 8 bytes on x64, 4 on x86 */
static void fput_ptr(DCase *c, uint64_t off64, uint64_t off32, uint64_t v)
{
    if (c->sg.x64) {
        fput64(c, off64, v);
    } else {
        fput32(c, off32, v);
    }
}

static void fput_run(DCase *c, unsigned i, uint64_t base, uint64_t count)
{
    if (c->sg.x64) {
        fput64(c, RUN(c, i), base);
        fput64(c, RUN(c, i) + 8, count);
    } else {
        fput32(c, RUN(c, i), base);
        fput32(c, RUN(c, i) + 4, count);
    }
}

static void fput_pages(DCase *c, uint64_t n)
{
    if (c->sg.x64) {
        fput64(c, NR_PAGES(c), n);
    } else {
        fput32(c, NR_PAGES(c), n);
    }
}

static void check(DCase *c, uint64_t size)
{
    Error *err = NULL;
    guint i;

    dcase_unparse(c);
    if (!dmpfile_parse(&c->df, c->d.buf->data, size, &err)) {
        g_test_message("dmpfile_parse: %s", error_get_pretty(err));
        g_assert_not_reached();
    }
    c->parsed = true;
    dmpfile_check(&c->df);
    for (i = 0; i < c->df.findings->len; i++) {
        DmpFinding *f = &g_array_index(c->df.findings, DmpFinding, i);

        g_test_message("%s: %s", f->severity == DMP_ERROR ? "error" :
                       f->severity == DMP_WARNING ? "warning" : "info",
                       f->msg);
    }
}

static void check_all(DCase *c)
{
    check(c, c->d.buf->len);
}

/* Exactly one finding says @needle, and at @sev */
static void assert_finding(DCase *c, DmpSeverity sev, const char *needle)
{
    guint i, n = 0;

    for (i = 0; i < c->df.findings->len; i++) {
        DmpFinding *f = &g_array_index(c->df.findings, DmpFinding, i);

        if (strstr(f->msg, needle)) {
            g_assert_cmpint(f->severity, ==, sev);
            n++;
        }
    }
    if (n != 1) {
        g_test_message("%u findings say '%s'", n, needle);
        g_assert_not_reached();
    }
}

static void assert_clean(DCase *c)
{
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_WARNING), ==, 0);
}

/* dmpfile_parse() must refuse the file and say @needle */
static void parse_fails(const void *data, uint64_t size, const char *needle)
{
    Error *err = NULL;
    DmpFile df;

    memset(&df, 0x5a, sizeof(df));
    g_assert_false(dmpfile_parse(&df, data, size, &err));
    g_assert_nonnull(err);
    g_test_message("error: %s", error_get_pretty(err));
    if (!strstr(error_get_pretty(err), needle)) {
        g_test_message("error lacks '%s'", needle);
        g_assert_not_reached();
    }
    g_assert_null(df.findings);
    g_assert_null(df.extents);
    g_assert_null(df.ram);
    error_free(err);
}

/* Each page of the runs is where the file says, and nothing else is */
static void check_page_map(DCase *c)
{
    uint64_t p, len;
    unsigned i;

    for (p = 0; p < RAM_PAGES; p++) {
        uint64_t pa = p * SYNTH_PAGE + 0x18;
        const uint8_t *ptr;

        len = UINT64_MAX;
        ptr = dmpfile_ptr(&c->df, pa, &len);
        if (p == SYNTH_HOLE_PFN) {
            g_assert_null(ptr);
            continue;
        }
        g_assert_nonnull(ptr);
        g_assert(ptr >= c->d.buf->data + c->d.first_page);
        g_assert(!memcmp(ptr, c->sg.ram + pa, SYNTH_PAGE - 0x18));
        /* to the end of its extent: the hole or the end of RAM */
        g_assert_cmphex(pa + len, ==, p < SYNTH_HOLE_PFN ?
                        SYNTH_HOLE_PFN * SYNTH_PAGE : RAM_SIZE);
    }
    len = 1;
    g_assert_null(dmpfile_ptr(&c->df, RAM_SIZE, &len));
    g_assert_null(dmpfile_ptr(&c->df, UINT64_MAX, &len));

    g_assert_cmpuint(c->df.nr_extents, ==, 2);
    for (i = 0; i < c->df.nr_extents; i++) {
        g_assert_cmphex(c->df.ram[i].start, ==, c->df.extents[i].pa);
        g_assert_cmphex(c->df.ram[i].end, ==,
                        c->df.extents[i].pa + c->df.extents[i].len);
    }
    g_assert_cmpuint(c->df.pages, ==, RAM_PAGES - 1);
}

/* What KPRCB.Context holds for vCPU @i is what the guest stored there */
static void check_context(DCase *c, unsigned i, const WinDumpCpu *cpu,
                          bool by_core)
{
    const DmpProcessor *p = &c->df.cpus[i];

    g_assert_cmphex(p->prcb, ==, synth_va(&c->sg, SYNTH_PRCB_PA(i)));
    g_assert_cmphex(p->context_va, ==, synth_va(&c->sg, SYNTH_CTX_PA(i)));
    g_assert_true(p->has_context);
    if (c->sg.x64) {
        const WinContext64 *x = &p->context.x64;

        g_assert_cmphex(le64_to_cpu(x->Rax), ==, cpu->regs[0]);
        g_assert_cmphex(le64_to_cpu(x->Rcx), ==, cpu->regs[1]);
        g_assert_cmphex(le64_to_cpu(x->Rsp), ==, cpu->regs[4]);
        g_assert_cmphex(le64_to_cpu(x->R15), ==, cpu->regs[15]);
        g_assert_cmphex(le64_to_cpu(x->Rip), ==, cpu->rip);
        g_assert_cmphex(le16_to_cpu(x->SegCs), ==, cpu->sel[1]);
        g_assert_cmphex(le32_to_cpu(x->MxCsr), ==, cpu->fx.MxCsr);
        g_assert_cmphex(le32_to_cpu(x->ContextFlags) & WIN_CTX64_FULL, ==,
                        WIN_CTX64_FULL);
    } else {
        const WinContext32 *x = &p->context.x32;

        g_assert_cmphex(le32_to_cpu(x->Eax), ==, (uint32_t)cpu->regs[0]);
        g_assert_cmphex(le32_to_cpu(x->Ecx), ==, (uint32_t)cpu->regs[1]);
        g_assert_cmphex(le32_to_cpu(x->Esp), ==, (uint32_t)cpu->regs[4]);
        g_assert_cmphex(le32_to_cpu(x->Eip), ==, (uint32_t)cpu->rip);
        g_assert_cmphex(le32_to_cpu(x->SegCs), ==, cpu->sel[1]);
        g_assert_cmphex(le32_to_cpu(x->ContextFlags) & WIN_CTX32_FULL, ==,
                        WIN_CTX32_FULL);
        if (by_core) {
            WinXmmSaveArea32 fx;

            memcpy(&fx, x->ExtendedRegisters, sizeof(fx));
            g_assert_cmphex(le32_to_cpu(fx.MxCsr), ==, cpu->fx.MxCsr);
        }
    }
}

/* ---- good files ---- */

static void test_good(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 3);
    unsigned i;

    check_all(c);
    assert_clean(c);
    g_assert(c->df.x64 == c->sg.x64);
    g_assert(c->df.bitmap == m->bitmap);
    g_assert_cmpuint(c->df.dump_type, ==, m->bitmap ? 5 : 1);
    g_assert_cmpuint(c->df.hdr_size, ==, c->sg.hdr_size);
    g_assert_cmpuint(c->df.expected_size, ==, c->d.buf->len);
    g_assert_cmphex(c->df.dtb, ==, SYNTH_DTB_PA);
    g_assert_cmphex(c->df.kdbg_va, ==, synth_va(&c->sg, SYNTH_KDBG_PA));
    g_assert_cmpuint(c->df.nr_processors, ==, 3);
    g_assert_cmphex(c->df.bugcheck_code, ==, SYNTH_BUG_CODE);
    g_assert_cmphex(c->df.machine, ==, c->sg.x64 ? WIN_DUMP_MACHINE_AMD64 :
                    WIN_DUMP_MACHINE_I386);
    g_assert_cmpuint(dmpfile_paging(&c->df), ==, m->paging);
    check_page_map(c);

    g_assert_true(c->df.kdbg_ok);
    g_assert(!memcmp(c->df.kdbg, c->sg.ram + SYNTH_KDBG_PA, KDBG_MIN_SIZE));
    for (i = 0; i < 3; i++) {
        check_context(c, i, &c->sg.cpus[i], false);
    }
    dcase_free(c);
}

/* ---- what the file's size says ---- */

static void test_truncated(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    uint64_t len = 1;

    check(c, c->d.buf->len - 0x800);
    assert_finding(c, DMP_ERROR, "the file is truncated");
    /* the last page is half there: it is not mapped */
    g_assert_null(dmpfile_ptr(&c->df, RAM_SIZE - SYNTH_PAGE, &len));
    len = 1;
    g_assert_nonnull(dmpfile_ptr(&c->df, RAM_SIZE - 2 * SYNTH_PAGE, &len));
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_ERROR), ==, 1);

    /* cut right after the header: nothing mapped, nothing to check */
    check(c, c->d.first_page);
    assert_finding(c, DMP_ERROR, "the file is truncated");
    g_assert_cmpuint(c->df.nr_extents, ==, 0);
    g_assert_false(c->df.kdbg_ok);
    dcase_free(c);
}

static void test_trailing(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    uint64_t size = c->d.buf->len;

    g_byte_array_set_size(c->d.buf, size + 0x1000);
    memset(c->d.buf->data + size, 0xcc, 0x1000);
    check_all(c);
    assert_finding(c, DMP_WARNING, "0x1000 bytes follow the last page");
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_ERROR), ==, 0);
    g_assert_true(c->df.kdbg_ok);
    dcase_free(c);
}

/* ---- the runs ---- */

static void test_runs_unsorted(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);

    fput_run(c, 0, SYNTH_HOLE_PFN + 1, RAM_PAGES - SYNTH_HOLE_PFN - 1);
    fput_run(c, 1, 0, SYNTH_HOLE_PFN);
    check_all(c);
    assert_finding(c, DMP_ERROR, "memory run 1 (base page 0x0) overlaps or"
                   " precedes the run before it");
    /* the map is still sorted, by guest-physical address */
    g_assert_cmpuint(c->df.nr_extents, ==, 2);
    g_assert_cmphex(c->df.extents[0].pa, ==, 0);
    g_assert_cmphex(c->df.extents[0].offset, ==,
                    c->sg.hdr_size + (RAM_PAGES - SYNTH_HOLE_PFN - 1) *
                    SYNTH_PAGE);
    dcase_free(c);
}

static void test_runs_overlap(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    uint64_t len = 8;
    const uint8_t *p;

    fput_run(c, 1, SYNTH_HOLE_PFN - 1, RAM_PAGES - SYNTH_HOLE_PFN);
    fput_pages(c, RAM_PAGES);
    check_all(c);
    assert_finding(c, DMP_ERROR, "memory run 1 (base page 0xf) overlaps");
    /* the first copy of the page wins */
    p = dmpfile_ptr(&c->df, (SYNTH_HOLE_PFN - 1) * SYNTH_PAGE, &len);
    g_assert(p == c->d.buf->data + c->sg.hdr_size +
             (SYNTH_HOLE_PFN - 1) * SYNTH_PAGE);
    dcase_free(c);
}

static void test_runs_count(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    g_autofree char *msg = NULL;
    unsigned max = c->sg.x64 ? WIN_DUMP_MAX_RUNS64 : WIN_DUMP_MAX_RUNS32;

    fput32(c, NR_RUNS(c), max + 1);
    check_all(c);
    msg = g_strdup_printf("the header lists %u memory runs; between 1 and"
                          " %u fit in it", max + 1, max);
    assert_finding(c, DMP_ERROR, msg);
    g_assert_cmpuint(c->df.nr_extents, ==, 0);
    g_assert_false(c->df.kdbg_ok);

    fput32(c, NR_RUNS(c), 0);
    check_all(c);
    assert_finding(c, DMP_ERROR, "the header lists 0 memory runs");

    fput32(c, NR_RUNS(c), UINT32_MAX);
    check_all(c);
    assert_finding(c, DMP_ERROR, "the header lists 4294967295 memory runs");
    dcase_free(c);
}

static void test_runs_bad_range(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);

    fput_run(c, 1, SYNTH_HOLE_PFN + 1, 0);
    check_all(c);
    assert_finding(c, DMP_ERROR, "memory run 1 (base page 0x11, 0x0 pages)"
                   " is not a valid page range");
    /* the runs before it still map */
    g_assert_cmpuint(c->df.nr_extents, ==, 1);
    g_assert_cmpuint(c->df.pages, ==, SYNTH_HOLE_PFN);

    if (c->sg.x64) {
        fput_run(c, 1, (1ull << 40) - 1, 2);
        check_all(c);
        assert_finding(c, DMP_ERROR, "is not a valid page range");
        fput_run(c, 1, UINT64_MAX, UINT64_MAX);
        check_all(c);
        assert_finding(c, DMP_ERROR, "is not a valid page range");
    }
    dcase_free(c);
}

static void test_pages_mismatch(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);

    fput_pages(c, RAM_PAGES);
    check_all(c);
    assert_finding(c, DMP_WARNING, "NumberOfPages is 32 but the runs hold"
                   " 31");
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_WARNING), ==, 1);
    dcase_free(c);
}

static void test_required_space(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    g_autofree char *msg = NULL;

    fput64(c, c->sg.x64 ? H64(RequiredDumpSpace) : H32(RequiredDumpSpace),
           0x1000);
    check_all(c);
    msg = g_strdup_printf("RequiredDumpSpace is 0x1000 but the file should"
                          " be 0x%x bytes", c->d.buf->len);
    assert_finding(c, DMP_WARNING, msg);
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_WARNING), ==, 1);
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_ERROR), ==, 0);

    /* more than the file has: a reader sizing it from the header fails */
    fput64(c, c->sg.x64 ? H64(RequiredDumpSpace) : H32(RequiredDumpSpace),
           c->d.buf->len + 0x1000);
    check_all(c);
    g_free(msg);
    msg = g_strdup_printf("the file has 0x%x bytes, less than its"
                          " RequiredDumpSpace 0x%x: truncated, or a damaged"
                          " header", c->d.buf->len, c->d.buf->len + 0x1000);
    assert_finding(c, DMP_ERROR, msg);
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_ERROR), ==, 1);
    dcase_free(c);
}

/* ---- header fields ---- */

static void test_dtb(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);

    fput_ptr(c, H64(DirectoryTableBase), H32(DirectoryTableBase), 0);
    check_all(c);
    assert_finding(c, DMP_ERROR, "DirectoryTableBase is 0");
    g_assert_false(c->df.kdbg_ok);
    g_assert_null(c->df.cpus);

    /* flag bits: said, and ignored when walking */
    fput_ptr(c, H64(DirectoryTableBase), H32(DirectoryTableBase),
             SYNTH_DTB_PA | 0x18);
    check_all(c);
    assert_finding(c, DMP_WARNING, "DirectoryTableBase 0x1018 has flag bits"
                   " set");
    g_assert_true(c->df.kdbg_ok);
    g_assert_true(c->df.cpus[0].has_context);

    /* a table outside the dump */
    fput_ptr(c, H64(DirectoryTableBase), H32(DirectoryTableBase),
             SYNTH_HOLE_PFN * SYNTH_PAGE);
    check_all(c);
    assert_finding(c, DMP_ERROR, "cannot be read through DirectoryTableBase");
    dcase_free(c);
}

static void test_kdbg_unreadable(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    g_autofree char *msg = NULL;
    uint64_t va = synth_va(&c->sg, SYNTH_HOLE_PFN * SYNTH_PAGE + 0x80);

    /* mapped, but its page is not in the dump */
    fput_ptr(c, H64(KdDebuggerDataBlock), H32(KdDebuggerDataBlock), va);
    check_all(c);
    msg = g_strdup_printf("the KDBG at KdDebuggerDataBlock 0x%" PRIx64
                          " cannot be read through DirectoryTableBase", va);
    assert_finding(c, DMP_ERROR, msg);
    g_assert_false(c->df.kdbg_ok);
    g_assert_null(c->df.cpus);

    /* not mapped at all */
    fput_ptr(c, H64(KdDebuggerDataBlock), H32(KdDebuggerDataBlock),
             synth_va(&c->sg, 0x10000000));
    check_all(c);
    assert_finding(c, DMP_ERROR, "WinDbg cannot open the dump");
    dcase_free(c);
}

static void test_kdbg_not_tagged(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_new(m->paging, m->large, 1);

    /* Windows 8+ keeps it encoded */
    memcpy(c->sg.ram + SYNTH_KDBG_PA + KDBG_OWNER_TAG_OFFSET64, "\x13\x37"
           "GD", 4);
    dcase_build(c, m->bitmap);
    check_all(c);
    assert_finding(c, DMP_ERROR, "OwnerTag is '?7GD', not 'KDBG'; WinDbg"
                   " needs a decoded KDBG");
    g_assert_false(c->df.kdbg_ok);
    g_assert_null(c->df.cpus);
    dcase_free(c);
}

static void test_kdbg_small(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_new(m->paging, m->large, 1);

    synth_st32(&c->sg, SYNTH_KDBG_PA + KDBG_SIZE_OFFSET64, 0x290);
    dcase_build(c, m->bitmap);
    check_all(c);
    assert_finding(c, DMP_ERROR, "its Size is 0x290, too small to reach"
                   " OffsetPrcbContext");
    g_assert_false(c->df.kdbg_ok);
    dcase_free(c);
}

static void test_prcb_null(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_new(m->paging, m->large, 3);

    synth_put_ptr(&c->sg, SYNTH_KPB_PA + (c->sg.x64 ? 8 : 4), 0);
    synth_put_ptr(&c->sg, SYNTH_PRCB_PA(2) + SYNTH_CTX_OFF, 0);
    dcase_build(c, m->bitmap);
    check_all(c);
    assert_finding(c, DMP_ERROR, "processor 1: KiProcessorBlock[1] is NULL");
    assert_finding(c, DMP_ERROR, "processor 2: its KPRCB.Context is NULL");
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_WARNING), ==, 2);
    g_assert_true(c->df.kdbg_ok);
    check_context(c, 0, &c->sg.cpus[0], false);
    g_assert_false(c->df.cpus[1].has_context);
    g_assert_cmphex(c->df.cpus[1].prcb, ==, 0);
    g_assert_false(c->df.cpus[2].has_context);
    dcase_free(c);
}

static void test_prcb_unreadable(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_new(m->paging, m->large, 3);
    uint64_t hole = synth_va(&c->sg, SYNTH_HOLE_PFN * SYNTH_PAGE);

    /* vCPU 1's KPRCB and vCPU 2's CONTEXT are where the dump has a hole */
    synth_put_ptr(&c->sg, SYNTH_KPB_PA + (c->sg.x64 ? 8 : 4), hole);
    synth_put_ptr(&c->sg, SYNTH_PRCB_PA(2) + SYNTH_CTX_OFF, hole + 0x40);
    /* vCPU 0's saved no registers */
    synth_st32(&c->sg, SYNTH_CTX_PA(0) + (c->sg.x64 ? 0x30 : 0), 0x3);
    dcase_build(c, m->bitmap);
    check_all(c);
    assert_finding(c, DMP_ERROR, "processor 1: cannot read KPRCB.Context"
                   " at 0x");
    assert_finding(c, DMP_ERROR, "processor 2: its CONTEXT at 0x");
    assert_finding(c, DMP_WARNING, c->sg.x64 ?
                   "processor 0: its CONTEXT has ContextFlags 0x3, without"
                   " the AMD64 bit" :
                   "processor 0: its CONTEXT has ContextFlags 0x3, without"
                   " the i386 bit");
    g_assert_true(c->df.cpus[0].has_context);
    g_assert_false(c->df.cpus[1].has_context);
    g_assert_false(c->df.cpus[2].has_context);
    dcase_free(c);

    /* KiProcessorBlock itself in the hole */
    c = dcase_new(m->paging, m->large, 2);
    synth_st64(&c->sg, SYNTH_KDBG_PA + KDBG_KI_PROCESSOR_BLOCK_OFFSET64,
               c->sg.x64 ? hole : (uint64_t)(int64_t)(int32_t)hole);
    dcase_build(c, m->bitmap);
    check_all(c);
    assert_finding(c, DMP_ERROR, "processor 0: cannot read"
                   " KiProcessorBlock[0]");
    assert_finding(c, DMP_ERROR, "processor 1: cannot read"
                   " KiProcessorBlock[1]");
    dcase_free(c);
}

static void test_processors(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    uint64_t off = c->sg.x64 ? H64(NumberProcessors) : H32(NumberProcessors);

    fput32(c, off, 0);
    check_all(c);
    assert_finding(c, DMP_ERROR, "NumberProcessors is 0");

    /* a bogus count is not walked to its end */
    fput32(c, off, 100000);
    check_all(c);
    assert_finding(c, DMP_ERROR, "NumberProcessors is 100000, more than"
                   " Windows supports; only 4096 are checked");
    check_context(c, 0, &c->sg.cpus[0], false);
    dcase_free(c);
}

static void test_mxcsr(void)
{
    DCase *c = dcase_new(WIN_DUMP_PAGING_LM4, false, 1);
    uint64_t ctx = H64(ContextRecord);

    dcase_build(c, false);
    fput32(c, ctx + offsetof(WinContext64, MxCsr), 0x1f81);
    check_all(c);
    assert_finding(c, DMP_ERROR, "the header's CONTEXT has MxCsr 0x1f81 but"
                   " FltSave.MxCsr 0x1f80: kdmp-parser refuses the file");
    dcase_free(c);
}

static void test_machine(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);

    fput32(c, c->sg.x64 ? H64(MachineImageType) : H32(MachineImageType),
           0xaa64);
    check_all(c);
    assert_finding(c, DMP_WARNING, "MachineImageType is 0xaa64");
    g_assert_cmpuint(dmpfile_count(&c->df, DMP_ERROR), ==, 0);
    dcase_free(c);
}

static void test_bugcheck(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    uint64_t off = c->sg.x64 ? H64(BugcheckCode) : H32(BugcheckCode);

    fput32(c, off, 0x50);
    check_all(c);
    assert_finding(c, DMP_WARNING, "BugcheckCode is 0x50 but"
                   " nt!KiBugcheckData says 0xd1");
    fput32(c, off, 0);
    check_all(c);
    assert_finding(c, DMP_WARNING, "BugcheckCode is 0; a live dump says"
                   " 0x161");
    dcase_free(c);
}

static void test_dump_type(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    uint64_t off = c->sg.x64 ? H64(DumpType) : H32(DumpType);

    fput32(c, off, 2);
    check_all(c);
    assert_finding(c, DMP_ERROR, "DumpType 2 is neither a full (1) nor a"
                   " bitmap (5, 6) dump");
    g_assert_cmpuint(c->df.nr_extents, ==, 0);
    g_assert_false(c->df.kdbg_ok);
    fput32(c, off, UINT32_MAX);
    check_all(c);
    assert_finding(c, DMP_ERROR, "DumpType 4294967295 is neither");
    dcase_free(c);
}

/* ---- bitmap dumps ---- */

static void test_bitmap_header(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    uint64_t bh = c->d.bitmap_hdr;

    g_assert_cmpuint(bh, ==, c->sg.hdr_size);
    memcpy(c->d.buf->data + bh, "XDMP", 4);
    check_all(c);
    assert_finding(c, DMP_ERROR, "the bitmap header's signature is not"
                   " SDMP/FDMP + DUMP");
    g_assert_cmpuint(c->df.nr_extents, ==, 0);

    memcpy(c->d.buf->data + bh, "SDMP", 4);
    memcpy(c->d.buf->data + bh + 4, "PAGE", 4);
    check_all(c);
    assert_finding(c, DMP_ERROR, "signature is not SDMP/FDMP + DUMP");

    /* SDMP is as good as FDMP */
    memcpy(c->d.buf->data + bh + 4, "DUMP", 4);
    check_all(c);
    assert_clean(c);
    check_page_map(c);

    /* the file ends before the bitmap header does */
    check(c, bh + 0x37);
    assert_finding(c, DMP_ERROR, "needs a bitmap header at 0x");
    dcase_free(c);
}

static void test_bitmap_size(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);
    uint64_t bh = c->d.bitmap_hdr;

    fput64(c, bh + 0x30, c->d.buf->len * 8);
    check_all(c);
    assert_finding(c, DMP_ERROR, "does not fit in the file");
    g_assert_cmpuint(c->df.nr_extents, ==, 0);
    fput64(c, bh + 0x30, UINT64_MAX);
    check_all(c);
    assert_finding(c, DMP_ERROR, "the bitmap of 0xffffffffffffffff bits"
                   " does not fit in the file");

    /* bits not in whole dwords: a reader drops the tail */
    fput64(c, bh + 0x30, RAM_PAGES + 1);
    check_all(c);
    assert_finding(c, DMP_WARNING, "the bitmap has 0x21 bits, not a multiple"
                   " of 32");
    check_page_map(c);

    /* pages that would start inside the bitmap */
    fput64(c, bh + 0x30, RAM_PAGES);
    fput64(c, bh + 0x20, bh + 0x38);
    check_all(c);
    assert_finding(c, DMP_ERROR, "is not between the bitmap and the end of"
                   " the file");
    fput64(c, bh + 0x20, c->d.buf->len + 1);
    check_all(c);
    assert_finding(c, DMP_ERROR, "is not between the bitmap and the end of"
                   " the file");
    dcase_free(c);
}

static void test_bitmap_present(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = dcase_mode(m, 1);

    fput64(c, c->d.bitmap_hdr + 0x28, 5);
    check_all(c);
    assert_finding(c, DMP_WARNING, "the bitmap header says 5 pages are"
                   " present; the bitmap has 31");
    check_page_map(c);
    g_assert_true(c->df.kdbg_ok);
    dcase_free(c);
}

/* ---- not a dump at all ---- */

static void test_hard_failures(void)
{
    DCase *c = dcase_new(WIN_DUMP_PAGING_LM4, false, 1);
    uint8_t *d;

    dcase_build(c, false);
    d = c->d.buf->data;
    parse_fails(d, 0, "no 'PAGE' signature");
    parse_fails(d, 7, "no 'PAGE' signature");
    parse_fails("MDMP\x93\xa7\0\0", 8, "no 'PAGE' signature");
    parse_fails(d, 8 + 1, "shorter than its x64 header (8192 bytes)");
    parse_fails(d, sizeof(WinDumpHeader64) - 1,
                "the file (8191 bytes) is shorter than its x64 header");
    memcpy(d + 4, "DU32", 4);
    parse_fails(d, c->d.buf->len, "neither 'DU64' (x64) nor 'DUMP' (x86)");
    /* an x86 signature in a file big enough for only part of its header */
    memcpy(d + 4, "DUMP", 4);
    parse_fails(d, sizeof(WinDumpHeader32) - 1,
                "shorter than its x86 header (4096 bytes)");
    dcase_free(c);
}

/* ---- the core's own output reads back ---- */

static bool sink(void *opaque, const void *buf, size_t len, Error **errp)
{
    g_byte_array_append(opaque, buf, len);
    return true;
}

static void test_core_roundtrip(gconstpointer data)
{
    const Mode *m = data;
    DCase *c = g_new0(DCase, 1);
    WinDumpGuest g;
    WinDump wd;
    Error *err = NULL;
    size_t note_size;
    g_autofree uint8_t *note = NULL;
    unsigned i;

    synth_init(&c->sg, m->paging, m->large, RAM_SIZE, 2);
    note = synth_note(&c->sg, &note_size);
    synth_guest(&c->sg, &g);
    if (!windmp_prepare(&wd, &g, note, note_size, NULL, &err)) {
        g_test_message("windmp_prepare: %s", error_get_pretty(err));
        g_assert_not_reached();
    }
    g_assert_cmpuint(wd.nr_contexts, ==, 2);
    c->d.buf = g_byte_array_new();
    g_assert_true(windmp_write(&wd, &g,
                               &(WinDumpSink) { sink, NULL, c->d.buf },
                               &err));
    g_assert_cmpuint(c->d.buf->len, ==, wd.total_size);
    c->d.first_page = c->sg.hdr_size;
    /* the file shows the contexts over guest RAM: so must the reference */
    for (i = 0; i < wd.nr_overlays; i++) {
        memcpy(c->sg.ram + wd.overlays[i].pa, wd.overlays[i].data,
               wd.overlays[i].len);
    }
    windmp_cleanup(&wd);

    check_all(c);
    assert_clean(c);
    check_page_map(c);
    g_assert_true(c->df.kdbg_ok);
    for (i = 0; i < 2; i++) {
        check_context(c, i, &c->sg.cpus[i], true);
    }
    dcase_free(c);
}

int main(int argc, char **argv)
{
    static const struct {
        const char *name;
        Mode m;
    } modes[] = {
        { "x64", { WIN_DUMP_PAGING_LM4, false, false } },
        { "x64-2m", { WIN_DUMP_PAGING_LM4, true, false } },
        { "la57", { WIN_DUMP_PAGING_LM5, false, false } },
        { "la57-2m", { WIN_DUMP_PAGING_LM5, true, false } },
        { "pae", { WIN_DUMP_PAGING_PAE, false, false } },
        { "pae-2m", { WIN_DUMP_PAGING_PAE, true, false } },
        { "x86", { WIN_DUMP_PAGING_X86, false, false } },
        { "x86-4m", { WIN_DUMP_PAGING_X86, true, false } },
        { "x64-bitmap", { WIN_DUMP_PAGING_LM4, false, true } },
        { "pae-bitmap", { WIN_DUMP_PAGING_PAE, false, true } },
        { "x86-bitmap", { WIN_DUMP_PAGING_X86, true, true } },
    };
    /* run in every mode, or only in the bitmap ones */
    static const struct {
        const char *name;
        void (*fn)(gconstpointer);
        bool bitmap_only;
    } tests[] = {
        { "/dmpfile/good/", test_good },
        { "/dmpfile/size/truncated/", test_truncated },
        { "/dmpfile/size/trailing/", test_trailing },
        { "/dmpfile/header/dtb/", test_dtb },
        { "/dmpfile/header/processors/", test_processors },
        { "/dmpfile/header/machine/", test_machine },
        { "/dmpfile/header/bugcheck/", test_bugcheck },
        { "/dmpfile/header/dump-type/", test_dump_type },
        { "/dmpfile/kdbg/unreadable/", test_kdbg_unreadable },
        { "/dmpfile/kdbg/not-tagged/", test_kdbg_not_tagged },
        { "/dmpfile/kdbg/small/", test_kdbg_small },
        { "/dmpfile/prcb/null/", test_prcb_null },
        { "/dmpfile/prcb/unreadable/", test_prcb_unreadable },
        { "/dmpfile/bitmap/header/", test_bitmap_header, true },
        { "/dmpfile/bitmap/size/", test_bitmap_size, true },
        { "/dmpfile/bitmap/present-pages/", test_bitmap_present, true },
    };
    /* the runs of DumpType 1 */
    static const struct {
        const char *name;
        void (*fn)(gconstpointer);
    } run_tests[] = {
        { "/dmpfile/runs/unsorted/", test_runs_unsorted },
        { "/dmpfile/runs/overlap/", test_runs_overlap },
        { "/dmpfile/runs/count/", test_runs_count },
        { "/dmpfile/runs/bad-range/", test_runs_bad_range },
        { "/dmpfile/runs/number-of-pages/", test_pages_mismatch },
        { "/dmpfile/header/required-space/", test_required_space },
    };
    unsigned i, j;

    g_test_init(&argc, &argv, NULL);
    for (i = 0; i < ARRAY_SIZE(tests); i++) {
        for (j = 0; j < ARRAY_SIZE(modes); j++) {
            g_autofree char *path = NULL;

            if (tests[i].bitmap_only && !modes[j].m.bitmap) {
                continue;
            }
            path = g_strconcat(tests[i].name, modes[j].name, NULL);
            g_test_add_data_func(path, &modes[j].m, tests[i].fn);
        }
    }
    for (i = 0; i < ARRAY_SIZE(run_tests); i++) {
        for (j = 0; j < ARRAY_SIZE(modes); j++) {
            g_autofree char *path = NULL;

            if (modes[j].m.bitmap) {
                continue;
            }
            path = g_strconcat(run_tests[i].name, modes[j].name, NULL);
            g_test_add_data_func(path, &modes[j].m, run_tests[i].fn);
        }
    }
    for (j = 0; j < ARRAY_SIZE(modes); j++) {
        g_autofree char *path = NULL;

        if (modes[j].m.bitmap) {
            continue;
        }
        path = g_strconcat("/dmpfile/core-roundtrip/", modes[j].name, NULL);
        g_test_add_data_func(path, &modes[j].m, test_core_roundtrip);
    }
    g_test_add_func("/dmpfile/header/mxcsr", test_mxcsr);
    g_test_add_func("/dmpfile/hard-failures", test_hard_failures);

    return g_test_run();
}
