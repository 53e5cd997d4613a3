/*
 * qtest for dump-guest-memory's win-dmp format
 *
 * Plays the part of a Windows guest with the virtio-win fwcfg driver:
 * lays out page tables, a KDBG, KiBugcheckData, a KPRCB and a crash dump
 * header in guest RAM, publishes the header through the vmcoreinfo device,
 * then dumps over QMP and HMP and checks the file and the error cases.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/units.h"
#include "qemu/bswap.h"
#include "libqos/libqos-pc.h"
#include "libqtest.h"
#include "qapi/error.h"
#include "qobject/qjson.h"
#include "qobject/qlist.h"
#include "qobject/qstring.h"
#include "standard-headers/linux/qemu_fw_cfg.h"
#include "libqos/fw_cfg.h"
#include "hw/misc/vmcoreinfo.h"
#include "qemu/win_dump_defs.h"

#define RAM_SIZE        (128 * MiB)
#define KBASE           0xfffff80000000000ull   /* VA of physical 0 */
#define PML4_PA         0x10000
#define PDPT_PA         0x11000
#define PD_PA           0x12000
#define KDBG_PA         0x20000
#define KDBG_COPY_PA    0x20800
#define BUGCHECK_PA     0x21000
#define KPB_PA          0x22000
#define PRCB_PA         0x23000
#define CTX_PA          0x24000
#define NOTE_PA         0x30000
#define PRCB_CONTEXT    0x40
/* KUSER_SHARED_DATA: its fixed VA, and a 4 KiB page that maps it */
#define KUSD_VA         0xfffff78000000000ull
#define KUSD_PDPT_PA    0x13000
#define KUSD_PD_PA      0x14000
#define KUSD_PT_PA      0x15000
#define KUSD_PA         0x25000
#define KUSD_UPTIME     0x1289abcdefull     /* InterruptTime */
#define KUSD_PRODUCT    3
#define KUSD_SUITE      0x110
#define PFN_DATABASE    0xfffff80000123400ull


typedef struct Guest {
    QOSState *qs;
    QFWCFG *fw_cfg;
    char *path;
} Guest;

static void put64(QTestState *qts, uint64_t pa, uint64_t v)
{
    qtest_writeq(qts, pa, v);
}

/* The header a Windows kernel and the fwcfg driver would publish */
static void build_header(WinDumpHeader64 *h)
{
    uint32_t *fill = (uint32_t *)h;
    size_t i;

    /* Windows fills what it does not set with "PAGE" */
    for (i = 0; i < sizeof(*h) / 4; i++) {
        fill[i] = cpu_to_le32(WIN_DUMP_PAGE_FILL);
    }
    memcpy(h->Signature, "PAGE", 4);
    memcpy(h->ValidDump, "DU64", 4);
    h->MajorVersion = cpu_to_le32(0xf);
    h->MinorVersion = cpu_to_le32(19041);
    h->DirectoryTableBase = cpu_to_le64(PML4_PA);
    h->MachineImageType = cpu_to_le32(WIN_DUMP_MACHINE_AMD64);
    h->NumberProcessors = cpu_to_le32(1);
    h->BugcheckCode = 0;
    h->BugcheckParameter1 = cpu_to_le64(KBASE + KDBG_COPY_PA);
    h->KdDebuggerDataBlock = cpu_to_le64(KBASE + KDBG_PA);
    h->PhysicalMemoryBlock.NumberOfRuns = cpu_to_le32(2);
    h->PhysicalMemoryBlock.NumberOfPages =
        cpu_to_le64(0x9e + (RAM_SIZE >> 12) - 0x100);
    h->PhysicalMemoryBlock.Run[0].BasePage = cpu_to_le64(1);
    h->PhysicalMemoryBlock.Run[0].PageCount = cpu_to_le64(0x9e);
    h->PhysicalMemoryBlock.Run[1].BasePage = cpu_to_le64(0x100);
    h->PhysicalMemoryBlock.Run[1].PageCount =
        cpu_to_le64((RAM_SIZE >> 12) - 0x100);
    h->DumpType = cpu_to_le32(WIN_DUMP_TYPE_FULL);
}

static void write_kdbg(QTestState *qts, uint64_t pa)
{
    qtest_writel(qts, pa + KDBG_OWNER_TAG_OFFSET64, ldl_le_p("KDBG"));
    qtest_writel(qts, pa + KDBG_SIZE_OFFSET64, KDBG_MIN_SIZE);
    put64(qts, pa + KDBG_MM_PFN_DATABASE_OFFSET64, PFN_DATABASE);
    put64(qts, pa + KDBG_KI_BUGCHECK_DATA_OFFSET64, KBASE + BUGCHECK_PA);
    put64(qts, pa + KDBG_KI_PROCESSOR_BLOCK_OFFSET64, KBASE + KPB_PA);
    qtest_writew(qts, pa + KDBG_OFFSET_PRCB_CONTEXT_OFFSET64, PRCB_CONTEXT);
}

/*
 * Lay out the kernel side in guest RAM; @edit may spoil the header
 * before it is published.
 */
static Guest *guest_start(const char *extra, void (*edit)(WinDumpHeader64 *),
                          bool encoded_kdbg)
{
    Guest *g = g_new0(Guest, 1);
    QTestState *qts;
    g_autofree uint8_t *note = g_malloc0(VMCOREINFO_WIN_DUMP_NOTE_SIZE64);
    g_autofree uint8_t *ctx = g_malloc(sizeof(WinContext64));
    WinDumpHeader64 *h = (void *)(note + VMCOREINFO_ELF_NOTE_HDR_SIZE);
    int fd, i;

    g->qs = qtest_pc_boot("-m %d %s", (int)(RAM_SIZE / MiB), extra);
    qts = g->qs->qts;
    fd = g_file_open_tmp("win-dump-test-XXXXXX", &g->path, NULL);
    g_assert(fd >= 0);
    close(fd);
    if (!strstr(extra, "vmcoreinfo")) {
        return g;
    }
    g->fw_cfg = pc_fw_cfg_init(qts);

    /* KBASE.. maps physical 0.. with 2 MiB pages */
    put64(qts, PML4_PA + ((KBASE >> 39) & 511) * 8, PDPT_PA | 3);
    put64(qts, PDPT_PA, PD_PA | 3);
    for (i = 0; i < RAM_SIZE >> 21; i++) {
        put64(qts, PD_PA + i * 8, ((uint64_t)i << 21) | 0x83);
    }
    /* KUSER_SHARED_DATA, which the kernel keeps current */
    put64(qts, PML4_PA + ((KUSD_VA >> 39) & 511) * 8, KUSD_PDPT_PA | 3);
    put64(qts, KUSD_PDPT_PA + ((KUSD_VA >> 30) & 511) * 8, KUSD_PD_PA | 3);
    put64(qts, KUSD_PD_PA + ((KUSD_VA >> 21) & 511) * 8, KUSD_PT_PA | 3);
    put64(qts, KUSD_PT_PA + ((KUSD_VA >> 12) & 511) * 8, KUSD_PA | 3);
    qtest_writel(qts, KUSD_PA + 0x8, (uint32_t)KUSD_UPTIME);
    qtest_writel(qts, KUSD_PA + 0xc, KUSD_UPTIME >> 32);
    qtest_writel(qts, KUSD_PA + 0x10, KUSD_UPTIME >> 32);
    qtest_writel(qts, KUSD_PA + 0x264, KUSD_PRODUCT);
    qtest_writel(qts, KUSD_PA + 0x2d0, KUSD_SUITE);

    write_kdbg(qts, encoded_kdbg ? KDBG_COPY_PA : KDBG_PA);
    if (encoded_kdbg) {
        qtest_writel(qts, KDBG_PA + KDBG_OWNER_TAG_OFFSET64, 0x12345678);
    }
    qtest_writel(qts, BUGCHECK_PA, 0xd1);
    for (i = 1; i <= 4; i++) {
        put64(qts, BUGCHECK_PA + i * 8, 0x1000 + i);
    }
    put64(qts, KPB_PA, KBASE + PRCB_PA);
    put64(qts, PRCB_PA + PRCB_CONTEXT, KBASE + CTX_PA);
    memset(ctx, 0xc0, sizeof(WinContext64));
    qtest_memwrite(qts, CTX_PA, ctx, sizeof(WinContext64));

    stl_le_p(note, 11);
    stl_le_p(note + 4, sizeof(WinDumpHeader64));
    memcpy(note + 12, "VMCOREINFO", 11);
    build_header(h);
    if (edit) {
        edit(h);
    }
    qtest_memwrite(qts, NOTE_PA, note, VMCOREINFO_WIN_DUMP_NOTE_SIZE64);
    return g;
}

static void guest_publish(Guest *g)
{
    FWCfgVMCoreInfo info = {
        .guest_format = cpu_to_le16(FW_CFG_VMCOREINFO_FORMAT_ELF),
        .size = cpu_to_le32(VMCOREINFO_WIN_DUMP_NOTE_SIZE64),
        .paddr = cpu_to_le64(NOTE_PA),
    };

    g_assert_cmpint(qfw_cfg_write_file(g->fw_cfg, g->qs,
                                       FW_CFG_VMCOREINFO_FILENAME,
                                       &info, sizeof(info)), ==, sizeof(info));
}

static void guest_end(Guest *g)
{
    if (g->fw_cfg) {
        pc_fw_cfg_uninit(g->fw_cfg);
    }
    qtest_shutdown(g->qs);
    unlink(g->path);
    g_free(g->path);
    g_free(g);
}

/*
 * Dump over QMP with @extra arguments (JSON members, may be empty);
 * NULL on success, else the error's description
 */
static char *dump_qmp(Guest *g, const char *extra)
{
    g_autofree char *json = g_strdup_printf("{'format': 'win-dmp'%s%s}",
                                            strstr(extra, "paging") ? "" :
                                            ", 'paging': false", extra);
    g_autofree char *protocol = g_strdup_printf("file:%s", g->path);
    QDict *args = qobject_to(QDict, qobject_from_json(json, &error_abort));
    QDict *rsp;
    char *err = NULL;

    qdict_put_str(args, "protocol", protocol);
    rsp = qtest_qmp(g->qs->qts, "{'execute': 'dump-guest-memory',"
                    " 'arguments': %p}", args);
    if (qdict_haskey(rsp, "error")) {
        err = g_strdup(qdict_get_str(qdict_get_qdict(rsp, "error"), "desc"));
    }
    qobject_unref(rsp);
    return err;
}

static bool capability_has_win_dmp(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{'execute':"
                           " 'query-dump-guest-memory-capability'}");
    QList *formats = qdict_get_qlist(qdict_get_qdict(rsp, "return"),
                                     "formats");
    QListEntry *e;
    bool found = false;

    QLIST_FOREACH_ENTRY(formats, e) {
        found |= !strcmp(qstring_get_str(qobject_to(QString, e->value)),
                         "win-dmp");
    }
    qobject_unref(rsp);
    return found;
}

static uint8_t *read_dump(Guest *g, size_t *len)
{
    uint8_t *buf;

    g_assert(g_file_get_contents(g->path, (char **)&buf, len, NULL));
    return buf;
}

/* File offset of guest-physical @pa in a dump of build_header()'s runs */
static size_t file_offset(uint64_t pa)
{
    uint64_t pfn = pa >> 12;

    g_assert(pfn >= 1 && pfn != 0x9f && (pfn < 0x9f || pfn >= 0x100));
    if (pfn < 0x9f) {
        return sizeof(WinDumpHeader64) + ((pfn - 1) << 12) + (pa & 0xfff);
    }
    return sizeof(WinDumpHeader64) + ((0x9e + pfn - 0x100) << 12) +
           (pa & 0xfff);
}

static void check_dump(Guest *g, uint64_t kdbg_pa)
{
    QTestState *qts = g->qs->qts;
    g_autofree uint8_t *buf = NULL;
    g_autofree uint8_t *ram = g_malloc(sizeof(WinContext64));
    WinDumpHeader64 *h;
    WinContext64 ctx;
    uint64_t pages = 0x9e + (RAM_SIZE >> 12) - 0x100;
    size_t len, i;

    buf = read_dump(g, &len);
    g_assert_cmpuint(len, ==, sizeof(WinDumpHeader64) + pages * 4096);
    h = (WinDumpHeader64 *)buf;
    g_assert(!memcmp(h->Signature, "PAGE", 4));
    g_assert(!memcmp(h->ValidDump, "DU64", 4));
    g_assert_cmphex(le64_to_cpu(h->RequiredDumpSpace), ==, len);
    g_assert_cmphex(le64_to_cpu(h->PhysicalMemoryBlock.NumberOfPages), ==,
                    pages);
    g_assert_cmphex(le32_to_cpu(h->PhysicalMemoryBlock.unused), ==, 0);
    g_assert_cmphex(le32_to_cpu(h->unused1), ==, 0);
    g_assert_cmphex(le64_to_cpu(h->KdDebuggerDataBlock), ==, KBASE + kdbg_pa);
    g_assert_cmphex(le64_to_cpu(h->PfnDatabase), ==, PFN_DATABASE);
    g_assert_cmphex(le32_to_cpu(h->BugcheckCode), ==, 0xd1);
    g_assert_cmphex(le64_to_cpu(h->BugcheckParameter1), ==, 0x1001);
    g_assert_cmphex(le64_to_cpu(h->BugcheckParameter4), ==, 0x1004);
    /* refreshed from KUSER_SHARED_DATA */
    g_assert_cmphex(le64_to_cpu(h->SystemUpTime), ==, KUSD_UPTIME);
    g_assert_cmphex(le32_to_cpu(h->ProductType), ==, KUSD_PRODUCT);
    g_assert_cmphex(le32_to_cpu(h->SuiteMask), ==, KUSD_SUITE);

    /* the header's context is vCPU 0, still at its reset vector */
    memcpy(&ctx, h->ContextRecord, sizeof(ctx));
    g_assert_cmphex(le32_to_cpu(ctx.ContextFlags), ==, WIN_CTX64_ALL);
    g_assert_cmphex(le64_to_cpu(ctx.Rip), ==, 0xfff0);
    g_assert_cmphex(le16_to_cpu(ctx.SegCs), ==, 0xf000);
    g_assert_cmphex(le32_to_cpu(ctx.MxCsr), ==, 0x1f80);
    g_assert_cmphex(le32_to_cpu(ctx.FltSave.MxCsr), ==, 0x1f80);

    /* the KPRCB's context is in the file ... */
    g_assert(!memcmp(buf + file_offset(CTX_PA), h->ContextRecord,
                     sizeof(WinContext64)));
    /* ... but guest memory still holds what the guest put there */
    qtest_memread(qts, CTX_PA, ram, sizeof(WinContext64));
    for (i = 0; i < sizeof(WinContext64); i++) {
        g_assert_cmphex(ram[i], ==, 0xc0);
    }
    /* and every other page is guest memory */
    qtest_memread(qts, KDBG_PA, ram, 64);
    g_assert(!memcmp(buf + file_offset(KDBG_PA), ram, 64));
}

static void test_qmp(void)
{
    Guest *g = guest_start("-device vmcoreinfo", NULL, false);

    guest_publish(g);
    g_assert_null(dump_qmp(g, ""));
    check_dump(g, KDBG_PA);
    guest_end(g);
}

/*
 * A kernel memory dump: this guest's kernel maps all of its RAM, so the
 * bitmap lists every page of the runs, which follow a page-aligned
 * FirstPage; the header says DumpType 5 and how long the file is.
 */
static void test_kernel(void)
{
    Guest *g = guest_start("-device vmcoreinfo", NULL, false);
    uint64_t pages = 0x9e + (RAM_SIZE >> 12) - 0x100, first;
    g_autofree uint8_t *buf = NULL;
    WinDumpBitmapHeader *bh;
    WinDumpHeader64 *h;
    size_t len;
    g_autofree char *protocol = g_strdup_printf("file:%s", g->path);
    QDict *rsp;

    guest_publish(g);
    g_assert_null(dump_qmp(g, ", 'win-dmp-kernel': true"));
    buf = read_dump(g, &len);
    h = (WinDumpHeader64 *)buf;
    bh = (WinDumpBitmapHeader *)(buf + sizeof(*h));
    first = le64_to_cpu(bh->FirstPage);
    g_assert_cmphex(le32_to_cpu(h->DumpType), ==, WIN_DUMP_TYPE_BITMAP);
    g_assert_cmphex(le32_to_cpu(bh->Signature), ==, WIN_DUMP_BITMAP_SUMMARY);
    g_assert_cmphex(le32_to_cpu(bh->ValidDump), ==, WIN_DUMP_BITMAP_VALID);
    g_assert_cmpuint(le64_to_cpu(bh->TotalPresentPages), ==, pages);
    g_assert_cmpuint(le64_to_cpu(bh->BitmapSize) % 32, ==, 0);
    g_assert_cmpuint(first % 4096, ==, 0);
    g_assert_cmpuint(len, ==, first + pages * 4096);
    g_assert_cmphex(le64_to_cpu(h->RequiredDumpSpace), ==, len);

    /* only with win-dmp */
    rsp = qtest_qmp(g->qs->qts, "{'execute': 'dump-guest-memory',"
                    " 'arguments': {'paging': false, 'format': 'elf',"
                    " 'win-dmp-kernel': true, 'protocol': %s}}", protocol);
    g_assert_nonnull(strstr(qdict_get_str(qdict_get_qdict(rsp, "error"),
                                          "desc"),
                            "only valid with format win-dmp"));
    qobject_unref(rsp);
    guest_end(g);
}

static void test_encoded_kdbg(void)
{
    Guest *g = guest_start("-device vmcoreinfo", NULL, true);

    guest_publish(g);
    g_assert_null(dump_qmp(g, ""));
    check_dump(g, KDBG_COPY_PA);
    guest_end(g);
}

static void test_hmp(void)
{
    Guest *g = guest_start("-device vmcoreinfo", NULL, false);
    g_autofree char *out = NULL;

    guest_publish(g);
    out = qtest_hmp(g->qs->qts, "dump-guest-memory -w %s", g->path);
    g_assert_cmpstr(out, ==, "");
    check_dump(g, KDBG_PA);
    guest_end(g);
}

static void test_detach(void)
{
    Guest *g = guest_start("-device vmcoreinfo", NULL, false);
    QTestState *qts = g->qs->qts;
    QDict *rsp, *data;

    guest_publish(g);
    g_assert_null(dump_qmp(g, ", 'detach': true"));
    data = qtest_qmp_eventwait_ref(qts, "DUMP_COMPLETED");
    g_assert_false(qdict_haskey(qdict_get_qdict(data, "data"), "error"));
    qobject_unref(data);

    rsp = qtest_qmp(qts, "{'execute': 'query-dump'}");
    data = qdict_get_qdict(rsp, "return");
    g_assert_cmpstr(qdict_get_str(data, "status"), ==, "completed");
    g_assert_cmpint(qdict_get_int(data, "completed"), ==,
                    qdict_get_int(data, "total"));
    g_assert_cmpint(qdict_get_int(data, "total"), ==,
                    sizeof(WinDumpHeader64) +
                    (0x9e + (RAM_SIZE >> 12) - 0x100) * 4096);
    qobject_unref(rsp);
    check_dump(g, KDBG_PA);
    guest_end(g);
}

/* The formats that query-dump-guest-memory-capability offers live */
static char *live_formats(QTestState *qts)
{
    QDict *rsp = qtest_qmp(qts, "{'execute':"
                           " 'query-dump-guest-memory-capability'}");
    QList *formats = qdict_get_qlist(qdict_get_qdict(rsp, "return"),
                                     "live-formats");
    GString *s = g_string_new("");
    QListEntry *e;

    QLIST_FOREACH_ENTRY(formats, e) {
        g_string_append_printf(s, "%s%s", s->len ? "," : "",
                               qstring_get_str(qobject_to(QString, e->value)));
    }
    qobject_unref(rsp);
    return g_string_free(s, false);
}

/*
 * A live dump: refused without detach; with it, the VM runs on, the
 * main loop may write guest RAM meanwhile, and the file is complete
 */
static void test_live(void)
{
    Guest *g = guest_start("-device vmcoreinfo", NULL, false);
    QTestState *qts = g->qs->qts;
    g_autofree char *formats = NULL;
    g_autofree char *err = NULL;
    QDict *rsp, *data;

    guest_publish(g);
    formats = live_formats(qts);
    g_assert_cmpstr(formats, ==, "win-dmp");
    err = dump_qmp(g, ", 'live': true");
    g_assert_nonnull(strstr(err, "needs detach"));

    g_assert_null(dump_qmp(g, ", 'detach': true, 'live': true"));
    qtest_writel(qts, RAM_SIZE - 0x1000, 0x4c495645);
    data = qtest_qmp_eventwait_ref(qts, "DUMP_COMPLETED");
    g_assert_false(qdict_haskey(qdict_get_qdict(data, "data"), "error"));
    qobject_unref(data);
    g_assert_cmphex(qtest_readl(qts, RAM_SIZE - 0x1000), ==, 0x4c495645);

    rsp = qtest_qmp(qts, "{'execute': 'query-status'}");
    g_assert_cmpstr(qdict_get_str(qdict_get_qdict(rsp, "return"), "status"),
                    ==, "running");
    qobject_unref(rsp);
    check_dump(g, KDBG_PA);
    guest_end(g);
}

static void test_capability(void)
{
    Guest *g = guest_start("-device vmcoreinfo", NULL, false);
    g_autofree char *err = NULL;

    g_assert_false(capability_has_win_dmp(g->qs->qts));
    err = dump_qmp(g, "");
    g_assert_nonnull(strstr(err, "has not published a Windows crash dump"));
    guest_publish(g);
    g_assert_true(capability_has_win_dmp(g->qs->qts));
    guest_end(g);
}

static void test_no_device(void)
{
    Guest *g = guest_start("", NULL, false);
    g_autofree char *err = NULL;

    g_assert_false(capability_has_win_dmp(g->qs->qts));
    err = dump_qmp(g, "");
    g_assert_nonnull(strstr(err, "vmcoreinfo"));
    guest_end(g);
}

static void test_paging_refused(void)
{
    Guest *g = guest_start("-device vmcoreinfo", NULL, false);
    g_autofree char *err1 = NULL;
    g_autofree char *err2 = NULL;

    guest_publish(g);
    err1 = dump_qmp(g, ", 'paging': true");
    g_assert_nonnull(strstr(err1, "win-dmp format doesn't support paging"));
    err2 = dump_qmp(g, ", 'begin': 0, 'length': 4096");
    g_assert_nonnull(strstr(err2, "win-dmp format doesn't support paging"));
    guest_end(g);
}

/* While an incoming migration loads guest RAM, nothing is read from it */
static void test_incoming_migration(void)
{
    Guest *g = guest_start("-device vmcoreinfo -incoming defer", NULL, false);
    g_autofree char *err = NULL;

    guest_publish(g);
    g_assert_false(capability_has_win_dmp(g->qs->qts));
    err = dump_qmp(g, "");
    g_assert_nonnull(strstr(err, "not allowed during migration"));
    guest_end(g);
}

static void too_many_runs(WinDumpHeader64 *h)
{
    h->PhysicalMemoryBlock.NumberOfRuns = cpu_to_le32(43);
}

static void run_outside_ram(WinDumpHeader64 *h)
{
    h->PhysicalMemoryBlock.Run[1].PageCount =
        cpu_to_le64((RAM_SIZE >> 12) - 0x100 + 1);
}

static void too_many_cpus(WinDumpHeader64 *h)
{
    h->NumberProcessors = cpu_to_le32(64);
}

static void bad_dtb(WinDumpHeader64 *h)
{
    h->DirectoryTableBase = cpu_to_le64(0xfee00000);
}

typedef struct BadHeader {
    const char *name;
    void (*edit)(WinDumpHeader64 *h);
    const char *error;
} BadHeader;

static const BadHeader bad_headers[] = {
    { "run-outside-ram", run_outside_ram, "is not all guest RAM" },
    { "too-many-cpus", too_many_cpus, "64 processors" },
    { "bad-dtb", bad_dtb, "no usable KDBG" },
};

/*
 * A header that lists more runs than it holds: every page of guest RAM,
 * behind an FDMP bitmap whose counts agree with the file
 */
static void test_too_many_runs(void)
{
    Guest *g = guest_start("-device vmcoreinfo", too_many_runs, false);
    g_autofree uint8_t *buf = NULL;
    WinDumpBitmapHeader *bh;
    WinDumpHeader64 *h;
    uint64_t first, pages;
    size_t len;

    guest_publish(g);
    g_assert_null(dump_qmp(g, ""));
    buf = read_dump(g, &len);
    h = (WinDumpHeader64 *)buf;
    bh = (WinDumpBitmapHeader *)(buf + sizeof(*h));
    first = le64_to_cpu(bh->FirstPage);
    pages = le64_to_cpu(bh->TotalPresentPages);
    g_assert_cmphex(le32_to_cpu(h->DumpType), ==, WIN_DUMP_TYPE_BITMAP);
    g_assert_cmphex(le32_to_cpu(bh->Signature), ==, WIN_DUMP_BITMAP_FULL);
    /* all of RAM above 1 MiB, whatever QEMU has below it */
    g_assert_cmpuint(pages, >=, (RAM_SIZE >> 12) - 0x100);
    g_assert_cmpuint(le64_to_cpu(h->PhysicalMemoryBlock.NumberOfPages), ==,
                     pages);
    g_assert_cmpuint(len, ==, first + pages * 4096);
    g_assert_cmphex(le64_to_cpu(h->RequiredDumpSpace), ==, len);
    guest_end(g);
}

/* A bad header is refused before anything is written */
static void test_bad_header(gconstpointer data)
{
    const BadHeader *bad = data;
    Guest *g = guest_start("-device vmcoreinfo", bad->edit, false);
    g_autofree char *err = NULL;
    g_autofree uint8_t *buf = NULL;
    size_t len;

    guest_publish(g);
    err = dump_qmp(g, "");
    g_assert_nonnull(err);
    g_assert_nonnull(strstr(err, bad->error));
    buf = read_dump(g, &len);
    g_assert_cmpuint(len, ==, 0);
    guest_end(g);
}

int main(int argc, char **argv)
{
    size_t i;

    g_test_init(&argc, &argv, NULL);

    if (strcmp(qtest_get_arch(), "x86_64")) {
        /* win-dmp exists only in qemu-system-x86_64 */
        return 0;
    }

    qtest_add_func("win-dump/qmp", test_qmp);
    qtest_add_func("win-dump/encoded-kdbg", test_encoded_kdbg);
    qtest_add_func("win-dump/kernel", test_kernel);
    qtest_add_func("win-dump/too-many-runs", test_too_many_runs);
    qtest_add_func("win-dump/hmp", test_hmp);
    qtest_add_func("win-dump/detach", test_detach);
    qtest_add_func("win-dump/live", test_live);
    qtest_add_func("win-dump/capability", test_capability);
    qtest_add_func("win-dump/no-device", test_no_device);
    qtest_add_func("win-dump/paging-refused", test_paging_refused);
    qtest_add_func("win-dump/incoming-migration", test_incoming_migration);
    for (i = 0; i < ARRAY_SIZE(bad_headers); i++) {
        g_autofree char *path = g_strdup_printf("win-dump/bad-header/%s",
                                                bad_headers[i].name);
        qtest_add_data_func(path, &bad_headers[i], test_bad_header);
    }

    return g_test_run();
}
