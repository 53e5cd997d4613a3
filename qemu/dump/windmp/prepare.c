/*
 * Windows crash dump core: check and patch the guest's header
 *
 * The Windows driver (virtio-win fwcfg) can only publish a header that it
 * built at boot.  What it could not know is filled in here from the
 * stopped guest: the KDBG that WinDbg bootstraps from, the bugcheck, the
 * PFN database and each processor's registers.  Every value taken from
 * the guest is bounded before use: this file is the trust boundary.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
#include "qemu/bitmap.h"
#include "qemu/range.h"
#include "windmp.h"

#define NOTE_NAME       "VMCOREINFO"
#define NOTE_NAME_SIZE  sizeof(NOTE_NAME)       /* with its NUL */

/*
 * A bitmap dump's bitmap may take this much (RAM that ends at up to
 * 256 GiB), or 1/64 of guest RAM
 */
#define WIN_DUMP_BITMAP_MIN_BUDGET  (8 * 1024 * 1024)

/* A guest-physical range that readers of the dump depend on */
typedef struct Protected {
    Range r;
    const char *what;
} Protected;

/* One vCPU context to be shown in its KPRCB: up to two pages */
typedef struct CpuContext {
    uint64_t va;
    unsigned nr_chunks;
    Range chunk[2];
    bool ok;
} CpuContext;

static void G_GNUC_PRINTF(2, 3)
windmp_warn(const WinDumpGuest *g, const char *fmt, ...)
{
    g_autofree char *msg = NULL;
    va_list ap;

    if (!g->ops->warn) {
        return;
    }
    va_start(ap, fmt);
    msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g->ops->warn(g->opaque, msg);
}

static void fourcc(char out[5], const char in[4])
{
    int i;

    for (i = 0; i < 4; i++) {
        out[i] = g_ascii_isprint(in[i]) ? in[i] : '?';
    }
    out[4] = 0;
}

size_t windmp_ram_find(const WinDumpGuest *g, uint64_t pa)
{
    size_t lo = 0, hi = g->nr_ram;

    /*
     * A dump file read by the windmp tool can have one range per page, and
     * every page table entry read comes here: a binary search
     */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (g->ram[mid].end <= pa) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool windmp_is_ram(const WinDumpGuest *g, uint64_t pa, uint64_t len)
{
    uint64_t end = pa + len;
    size_t i;

    if (len == 0 || end < pa) {
        return false;
    }
    /* adjacent ranges may split what the guest sees as one */
    for (i = windmp_ram_find(g, pa);
         i < g->nr_ram && pa < end && pa >= g->ram[i].start; i++) {
        pa = g->ram[i].end;
    }
    return pa >= end;
}

bool windmp_read_phys(const WinDumpGuest *g, uint64_t pa, void *buf,
                      uint64_t len, Error **errp)
{
    if (!windmp_is_ram(g, pa, len)) {
        error_setg(errp, "physical range 0x%" PRIx64 "+0x%" PRIx64
                   " is not guest RAM", pa, len);
        return false;
    }
    if (!g->ops->read(g->opaque, pa, buf, len)) {
        error_setg(errp, "cannot read guest RAM at 0x%" PRIx64, pa);
        return false;
    }
    return true;
}

bool windmp_note_check(const void *note, size_t size, Error **errp)
{
    const uint8_t *p = note;
    uint32_t namesz, descsz;
    const char *h;
    char got[5];

    if (size < VMCOREINFO_ELF_NOTE_HDR_SIZE) {
        error_setg(errp, "the guest's vmcoreinfo note is too short (%zu bytes)"
                   " to hold a Windows crash dump header", size);
        return false;
    }
    namesz = ldl_le_p(p);
    descsz = ldl_le_p(p + 4);
    if (namesz != NOTE_NAME_SIZE || memcmp(p + 12, NOTE_NAME, namesz)) {
        error_setg(errp, "the guest's vmcoreinfo note is not named "
                   NOTE_NAME ", so it holds no Windows crash dump header");
        return false;
    }
    if (descsz != sizeof(WinDumpHeader64) &&
        descsz != sizeof(WinDumpHeader32)) {
        error_setg(errp, "the guest's vmcoreinfo note holds %" PRIu32
                   " bytes; a Windows crash dump header has %zu (x64)"
                   " or %zu (x86): is this a Linux guest?", descsz,
                   sizeof(WinDumpHeader64), sizeof(WinDumpHeader32));
        return false;
    }
    if (size != VMCOREINFO_ELF_NOTE_HDR_SIZE + descsz) {
        error_setg(errp, "the guest's vmcoreinfo note is %zu bytes but its"
                   " header says %" PRIu32, size,
                   VMCOREINFO_ELF_NOTE_HDR_SIZE + descsz);
        return false;
    }

    /* bytes, not the header's type: a note in a file need not be aligned */
    h = (const char *)p + VMCOREINFO_ELF_NOTE_HDR_SIZE;
    if (memcmp(h + offsetof(WinDumpHeader64, Signature), "PAGE", 4)) {
        fourcc(got, h + offsetof(WinDumpHeader64, Signature));
        error_setg(errp, "invalid Windows crash dump header: expected"
                   " signature 'PAGE', got '%s'", got);
        return false;
    }
    /* the signature must agree with the size the note gives */
    if (memcmp(h + offsetof(WinDumpHeader64, ValidDump),
               descsz == sizeof(WinDumpHeader64) ? "DU64" : "DUMP", 4)) {
        fourcc(got, h + offsetof(WinDumpHeader64, ValidDump));
        error_setg(errp, "invalid Windows crash dump header: a %" PRIu32
                   "-byte header must be '%s', got '%s'", descsz,
                   descsz == sizeof(WinDumpHeader64) ? "DU64" : "DUMP", got);
        return false;
    }
    return true;
}

uint32_t windmp_header_nr_runs(const WinDumpHeader *h, bool x64)
{
    return x64 ? le32_to_cpu(h->x64.PhysicalMemoryBlock.NumberOfRuns) :
                 le32_to_cpu(h->x32.PhysicalMemoryBlock.NumberOfRuns);
}

uint64_t windmp_header_nr_pages(const WinDumpHeader *h, bool x64)
{
    return x64 ? le64_to_cpu(h->x64.PhysicalMemoryBlock.NumberOfPages) :
                 le32_to_cpu(h->x32.PhysicalMemoryBlock.NumberOfPages);
}

bool windmp_header_runs(const WinDumpHeader *h, bool x64, GArray *runs,
                        uint64_t *pages, Error **errp)
{
    uint32_t nr = windmp_header_nr_runs(h, x64);
    uint32_t max = x64 ? WIN_DUMP_MAX_RUNS64 : WIN_DUMP_MAX_RUNS32;
    uint32_t i;

    /* "PAGE" (WIN_DUMP_PAGE_FILL): Windows did not fill the block in */
    if (nr == 0 || nr > max) {
        error_setg(errp, "the header lists %" PRIu32 " memory runs;"
                   " between 1 and %" PRIu32 " fit in it", nr, max);
        return false;
    }
    for (i = 0; i < nr; i++) {
        uint64_t base, count;
        WinDumpRange run;

        if (x64) {
            base = le64_to_cpu(h->x64.PhysicalMemoryBlock.Run[i].BasePage);
            count = le64_to_cpu(h->x64.PhysicalMemoryBlock.Run[i].PageCount);
        } else {
            base = le32_to_cpu(h->x32.PhysicalMemoryBlock.Run[i].BasePage);
            count = le32_to_cpu(h->x32.PhysicalMemoryBlock.Run[i].PageCount);
        }
        /* 52 bits of physical address is all x86 has */
        if (count == 0 || base >= (1ull << 40) || count >= (1ull << 40) ||
            base + count > (1ull << 40)) {
            error_setg(errp, "memory run %" PRIu32 " (base page 0x%" PRIx64
                       ", 0x%" PRIx64 " pages) is not a valid page range",
                       i, base, count);
            return false;
        }
        run.start = base << WIN_DUMP_PAGE_BITS;
        run.end = (base + count) << WIN_DUMP_PAGE_BITS;
        g_array_append_val(runs, run);
        *pages += count;
    }
    return true;
}

bool windmp_runs_check_order(const WinDumpRange *runs, size_t nr,
                             Error **errp)
{
    size_t i;

    for (i = 1; i < nr; i++) {
        if (runs[i].start < runs[i - 1].end) {
            error_setg(errp, "memory run %zu (base page 0x%" PRIx64 ")"
                       " overlaps or precedes the run before it; runs must"
                       " be sorted and disjoint", i,
                       runs[i].start >> WIN_DUMP_PAGE_BITS);
            return false;
        }
    }
    return true;
}

uint64_t windmp_header_dtb(const WinDumpHeader *h, bool x64,
                           WinDumpPaging *paging)
{
    /*
     * CR3's low bits are flags (or a PCID), not part of the address;
     * a PAE CR3 is 32-byte aligned.
     */
    if (x64) {
        *paging = WIN_DUMP_PAGING_LM4;
        return le64_to_cpu(h->x64.DirectoryTableBase) & ~0xfffull;
    }
    if (h->x32.PaeEnabled) {
        *paging = WIN_DUMP_PAGING_PAE;
        return le32_to_cpu(h->x32.DirectoryTableBase) & ~0x1full;
    }
    *paging = WIN_DUMP_PAGING_X86;
    return le32_to_cpu(h->x32.DirectoryTableBase) & ~0xfffull;
}

bool windmp_kdbg_check(const uint8_t *kdbg, uint32_t *size, Error **errp)
{
    char got[5];

    if (ldl_le_p(kdbg + KDBG_OWNER_TAG_OFFSET64) != ldl_le_p("KDBG")) {
        fourcc(got, (const char *)kdbg + KDBG_OWNER_TAG_OFFSET64);
        error_setg(errp, "OwnerTag is '%s', not 'KDBG'", got);
        return false;
    }
    *size = ldl_le_p(kdbg + KDBG_SIZE_OFFSET64);
    if (*size < KDBG_MIN_SIZE) {
        error_setg(errp, "its Size is 0x%" PRIx32 ", too small to reach"
                   " OffsetPrcbContext (0x%x)", *size, KDBG_MIN_SIZE);
        return false;
    }
    return true;
}

/* A kernel pointer: 32-bit kernels keep them sign-extended in the KDBG */
uint64_t windmp_kdbg_ptr(const uint8_t *kdbg, bool x64, unsigned off)
{
    uint64_t v = ldq_le_p(kdbg + off);

    return x64 ? v : (uint32_t)v;
}

bool windmp_read_ptr(WinDumpSpace *as, bool x64, uint64_t va, uint64_t *ptr,
                     Error **errp)
{
    uint8_t b[8];

    if (!windmp_read_virt(as, va, b, x64 ? 8 : 4, errp)) {
        return false;
    }
    *ptr = x64 ? ldq_le_p(b) : (uint32_t)ldl_le_p(b);
    return true;
}

bool windmp_prcb_context(WinDumpSpace *as, bool x64, const uint8_t *kdbg,
                         unsigned i, uint64_t *prcb, uint64_t *ctx,
                         Error **errp)
{
    ERRP_GUARD();
    uint64_t kpb = windmp_kdbg_ptr(kdbg, x64, KDBG_KI_PROCESSOR_BLOCK_OFFSET64);
    uint16_t off = lduw_le_p(kdbg + KDBG_OFFSET_PRCB_CONTEXT_OFFSET64);

    *prcb = 0;
    if (!windmp_read_ptr(as, x64, kpb + (uint64_t)i * (x64 ? 8 : 4), prcb,
                         errp)) {
        error_prepend(errp, "cannot read KiProcessorBlock[%u]: ", i);
        return false;
    }
    if (!*prcb) {
        error_setg(errp, "KiProcessorBlock[%u] is NULL", i);
        return false;
    }
    if (!windmp_read_ptr(as, x64, *prcb + off, ctx, errp)) {
        error_prepend(errp, "cannot read KPRCB.Context at 0x%" PRIx64 ": ",
                      *prcb + off);
        return false;
    }
    if (!*ctx) {
        error_setg(errp, "its KPRCB.Context is NULL");
        return false;
    }
    return true;
}

static gint range_cmp(gconstpointer a, gconstpointer b)
{
    const WinDumpRange *x = a, *y = b;

    return x->start < y->start ? -1 : x->start > y->start;
}

/*
 * Memory hot-plugged after the guest published its header is RAM that
 * its runs miss: add it as runs of its own, so that the dump has it.
 */
static void add_hotplugged(const WinDumpGuest *g, GArray *runs)
{
    guint nr = runs->len, k;
    size_t h, r;

    for (h = 0; h < g->nr_hotplug; h++) {
        for (r = 0; r < g->nr_ram; r++) {
            uint64_t cur = ROUND_UP(MAX(g->hotplug[h].start, g->ram[r].start),
                                    WIN_DUMP_PAGE_SIZE);
            uint64_t end = ROUND_DOWN(MIN(g->hotplug[h].end, g->ram[r].end),
                                      WIN_DUMP_PAGE_SIZE);

            for (k = 0; k < nr && cur < end; k++) {
                WinDumpRange run = g_array_index(runs, WinDumpRange, k);

                if (run.end <= cur || run.start >= end) {
                    continue;
                }
                if (run.start > cur) {
                    WinDumpRange add = { cur, run.start };
                    g_array_append_val(runs, add);
                }
                cur = MAX(cur, run.end);
            }
            if (cur < end) {
                WinDumpRange add = { cur, end };
                g_array_append_val(runs, add);
            }
        }
    }
    for (k = nr; k < runs->len; k++) {
        WinDumpRange *add = &g_array_index(runs, WinDumpRange, k);

        windmp_warn(g, "memory at 0x%" PRIx64 "-0x%" PRIx64 " was"
                    " hot-plugged after the guest published its header;"
                    " adding it to the runs", add->start, add->end - 1);
    }
    g_array_sort(runs, range_cmp);
}

/* Copy the runs out of the header, checked against guest RAM */
static bool check_runs(WinDump *wd, const WinDumpGuest *g, Error **errp)
{
    uint32_t nr_runs = windmp_header_nr_runs(&wd->hdr, wd->x64);
    uint32_t max_runs = wd->x64 ? WIN_DUMP_MAX_RUNS64 : WIN_DUMP_MAX_RUNS32;
    uint64_t pages = 0, claimed = windmp_header_nr_pages(&wd->hdr, wd->x64);
    g_autoptr(GArray) runs = g_array_new(false, false, sizeof(WinDumpRange));
    uint32_t i, nr_listed;

    if (nr_runs > max_runs && nr_runs != WIN_DUMP_PAGE_FILL) {
        /*
         * The guest has more runs than the header can list, so a dump of
         * runs would miss memory: write a bitmap of all RAM instead.
         */
        windmp_warn(g, "the header lists %" PRIu32 " memory runs, more than"
                    " the %" PRIu32 " that fit in it: the dump holds every"
                    " page of guest RAM behind a bitmap (DumpType 5, FDMP)",
                    nr_runs, max_runs);
        wd->all_ram = true;
        return true;
    }
    if (!windmp_header_runs(&wd->hdr, wd->x64, runs, &pages, errp) ||
        !windmp_runs_check_order((WinDumpRange *)runs->data, runs->len,
                                 errp)) {
        return false;
    }
    for (i = 0; i < runs->len; i++) {
        WinDumpRange *r = &g_array_index(runs, WinDumpRange, i);

        if (!windmp_is_ram(g, r->start, r->end - r->start)) {
            error_setg(errp, "memory run %" PRIu32 " (0x%" PRIx64 "-0x%"
                       PRIx64 ") is not all guest RAM; the header may be"
                       " stale (memory hot-unplug?) or corrupt", i,
                       r->start, r->end - 1);
            return false;
        }
    }
    if (pages != claimed) {
        windmp_warn(g, "the header claims %" PRIu64 " pages but its"
                    " runs hold %" PRIu64 "; using the runs", claimed, pages);
    }

    nr_listed = runs->len;
    add_hotplugged(g, runs);
    if (runs->len > max_runs) {
        windmp_warn(g, "with the hot-plugged memory there are %u memory"
                    " runs, more than the %" PRIu32 " that fit in the"
                    " header: the dump holds every page of guest RAM"
                    " behind a bitmap (DumpType 5, FDMP)", runs->len,
                    max_runs);
        wd->all_ram = true;
        return true;
    }
    if (runs->len != nr_listed) {
        pages = 0;
        for (i = 0; i < runs->len; i++) {
            WinDumpRange *r = &g_array_index(runs, WinDumpRange, i);
            uint64_t base = r->start >> WIN_DUMP_PAGE_BITS;
            uint64_t count = (r->end - r->start) >> WIN_DUMP_PAGE_BITS;

            pages += count;
            if (wd->x64) {
                wd->hdr.x64.PhysicalMemoryBlock.Run[i].BasePage =
                    cpu_to_le64(base);
                wd->hdr.x64.PhysicalMemoryBlock.Run[i].PageCount =
                    cpu_to_le64(count);
            } else {
                wd->hdr.x32.PhysicalMemoryBlock.Run[i].BasePage =
                    cpu_to_le32(base);
                wd->hdr.x32.PhysicalMemoryBlock.Run[i].PageCount =
                    cpu_to_le32(count);
            }
        }
        if (wd->x64) {
            wd->hdr.x64.PhysicalMemoryBlock.NumberOfRuns =
                cpu_to_le32(runs->len);
        } else {
            wd->hdr.x32.PhysicalMemoryBlock.NumberOfRuns =
                cpu_to_le32(runs->len);
        }
    }

    /* adjacent runs are back to back in the file too: one extent */
    wd->extents = g_new(WinDumpRange, runs->len);
    for (i = 0; i < runs->len; i++) {
        WinDumpRange *r = &g_array_index(runs, WinDumpRange, i);

        if (wd->nr_extents && wd->extents[wd->nr_extents - 1].end == r->start) {
            wd->extents[wd->nr_extents - 1].end = r->end;
        } else {
            wd->extents[wd->nr_extents++] = *r;
        }
    }

    if (wd->x64) {
        wd->hdr.x64.PhysicalMemoryBlock.NumberOfPages = cpu_to_le64(pages);
    } else {
        /* runs are below 2^40 bytes, but x86 counts pages in 32 bits */
        if (pages > UINT32_MAX) {
            error_setg(errp, "%" PRIu64 " pages do not fit in a 32-bit"
                       " Windows crash dump header", pages);
            g_free(wd->extents);
            wd->extents = NULL;
            wd->nr_extents = 0;
            return false;
        }
        wd->hdr.x32.PhysicalMemoryBlock.NumberOfPages = cpu_to_le32(pages);
    }
    wd->total_size = wd->hdr_size + (pages << WIN_DUMP_PAGE_BITS);
    return true;
}

/* Remember the physical pages behind [va, va + len) */
static bool protect_virt(GArray *prot, WinDumpSpace *as, uint64_t va,
                         uint64_t len, const char *what, Error **errp)
{
    while (len) {
        uint64_t pa, left;
        Protected p;

        if (!windmp_translate(as, va, &pa, &left, errp)) {
            return false;
        }
        range_init_nofail(&p.r, pa, MIN(left, len));
        p.what = what;
        g_array_append_val(prot, p);
        va += range_size(&p.r);
        len -= range_size(&p.r);
    }
    return true;
}

static bool try_kdbg(WinDump *wd, WinDumpSpace *as, GArray *prot,
                     uint64_t va, Error **errp)
{
    uint32_t size;

    if (!wd->x64) {
        va = (uint32_t)va;
    }
    if (!windmp_read_virt(as, va, wd->kdbg, KDBG_SIZE_OFFSET64 + 4, errp)) {
        return false;
    }
    if (!windmp_kdbg_check(wd->kdbg, &size, errp)) {
        return false;
    }
    /*
     * Readers use fields past OffsetPrcbContext too: keep the whole block
     * free of overlays, as far as the guest's Size goes within a page.
     */
    if (!windmp_read_virt(as, va, wd->kdbg, KDBG_MIN_SIZE, errp) ||
        !protect_virt(prot, as, va, MIN(size, WIN_DUMP_PAGE_SIZE),
                      "the KDBG", errp)) {
        return false;
    }
    wd->kdbg_va = va;
    return true;
}

/*
 * Windows 8 and later keep the KDBG encoded; the driver then leaves the
 * address of a decoded copy in BugcheckParameter1.  WinDbg needs the
 * header to point at a decoded one.
 */
static bool find_kdbg(WinDump *wd, WinDumpSpace *as, GArray *prot,
                      Error **errp)
{
    ERRP_GUARD();
    uint64_t va, fallback;
    Error *err = NULL;

    if (wd->x64) {
        va = le64_to_cpu(wd->hdr.x64.KdDebuggerDataBlock);
        fallback = le64_to_cpu(wd->hdr.x64.BugcheckParameter1);
    } else {
        va = le32_to_cpu(wd->hdr.x32.KdDebuggerDataBlock);
        fallback = le32_to_cpu(wd->hdr.x32.BugcheckParameter1);
    }

    if (try_kdbg(wd, as, prot, va, &err)) {
        return true;
    }
    if (try_kdbg(wd, as, prot, fallback, errp)) {
        error_free(err);
        if (wd->x64) {
            wd->hdr.x64.KdDebuggerDataBlock = cpu_to_le64(wd->kdbg_va);
        } else {
            wd->hdr.x32.KdDebuggerDataBlock = cpu_to_le32(wd->kdbg_va);
        }
        return true;
    }
    error_prepend(errp, "no usable KDBG: at KdDebuggerDataBlock 0x%" PRIx64
                  ": %s; at the driver's copy (BugcheckParameter1) 0x%"
                  PRIx64 ": ", va, error_get_pretty(err), fallback);
    error_free(err);
    return false;
}

/* The first vCPU that reported the crash through the Hyper-V crash MSRs */
static int hv_crash_cpu(const WinDumpGuest *g, unsigned nr)
{
    unsigned i;

    for (i = 0; i < nr; i++) {
        if (g->cpus[i].hv_crash) {
            return i;
        }
    }
    return -1;
}

/* The bugcheck a vCPU's Hyper-V crash MSRs hold, as KiBugcheckData */
static void hv_bugcheck(const WinDump *wd, const WinDumpCpu *cpu,
                        uint8_t *data)
{
    int i;

    /* x64: a 32-bit code, 4 bytes of padding, 64-bit parameters */
    stl_le_p(data, cpu->hv_crash_params[0]);
    if (wd->x64) {
        stl_le_p(data + 4, 0);
    }
    for (i = 0; i < 4; i++) {
        if (wd->x64) {
            stq_le_p(data + 8 + 8 * i, cpu->hv_crash_params[i + 1]);
        } else {
            stl_le_p(data + 4 + 4 * i, cpu->hv_crash_params[i + 1]);
        }
    }
}

static void patch_bugcheck(WinDump *wd, WinDumpSpace *as, GArray *prot,
                           unsigned nr)
{
    uint64_t va = windmp_kdbg_ptr(wd->kdbg, wd->x64,
                                  KDBG_KI_BUGCHECK_DATA_OFFSET64);
    uint8_t *data = wd->x64 ? wd->hdr.x64.BugcheckData :
                              wd->hdr.x32.BugcheckData;
    size_t size = wd->x64 ? sizeof(wd->hdr.x64.BugcheckData) :
                            sizeof(wd->hdr.x32.BugcheckData);
    g_autofree uint8_t *buf = g_malloc(size);
    int hv = hv_crash_cpu(as->g, nr);
    Error *err = NULL;

    if (windmp_read_virt(as, va, buf, size, &err)) {
        protect_virt(prot, as, va, size, "KiBugcheckData", NULL);
        if (ldl_le_p(buf) || hv < 0) {
            memcpy(data, buf, size);
        } else {
            /* KeBugCheckEx fills KiBugcheckData late, or not at all */
            windmp_warn(as->g, "KiBugcheckData is empty; the bugcheck is"
                        " from the Hyper-V crash MSRs of vCPU %d", hv);
            hv_bugcheck(wd, &as->g->cpus[hv], data);
        }
    } else if (hv >= 0) {
        windmp_warn(as->g, "cannot read KiBugcheckData at 0x%" PRIx64
                    " (%s); the bugcheck is from the Hyper-V crash MSRs of"
                    " vCPU %d", va, error_get_pretty(err), hv);
        error_free(err);
        hv_bugcheck(wd, &as->g->cpus[hv], data);
    } else {
        windmp_warn(as->g, "cannot read KiBugcheckData at 0x%" PRIx64
                    " (%s); keeping the header's bugcheck", va,
                    error_get_pretty(err));
        error_free(err);
    }

    /* a system that did not crash is dumped "live" */
    if (ldl_le_p(data) == 0) {
        stl_le_p(data, LIVE_SYSTEM_DUMP);
    }
}

/*
 * KUSER_SHARED_DATA: the page the kernel keeps current for user mode, at
 * a fixed kernel address (x64 keeps it there with LA57 too)
 */
#define KUSD_VA64               0xfffff78000000000ull
#define KUSD_VA32               0xffdf0000ull
#define KUSD_INTERRUPT_TIME     0x008   /* KSYSTEM_TIME */
#define KUSD_PRODUCT_TYPE       0x264   /* NT_PRODUCT_TYPE */
#define KUSD_SUITE_MASK         0x2d0
#define KUSD_SIZE               0x2d4   /* as far as we read */
/* NtProductWinNt, NtProductLanManNt, NtProductServer */
#define PRODUCT_TYPE_MIN        1
#define PRODUCT_TYPE_MAX        3
/* VER_SUITE_SMALLBUSINESS (0x1) .. VER_SUITE_MULTIUSERTS (0x20000) */
#define SUITE_MASK_VALID        0x3ffffu

/*
 * The driver built the header at boot.  How long the system has been up,
 * and its product type and suite as they are now (elf2dmp takes these
 * two from here too), are in KUSER_SHARED_DATA.  Each value replaces the
 * header's only if it can be read and is sane.
 */
static void patch_from_kuser(WinDump *wd, WinDumpSpace *as)
{
    uint64_t va = wd->x64 ? KUSD_VA64 : KUSD_VA32;
    uint8_t ku[KUSD_SIZE];
    uint32_t low, type, suite;
    int32_t high1, high2;
    Error *err = NULL;

    if (!windmp_read_virt(as, va, ku, sizeof(ku), &err)) {
        windmp_warn(as->g, "cannot read KUSER_SHARED_DATA at 0x%" PRIx64
                    " (%s); keeping the header's SystemUpTime, ProductType"
                    " and SuiteMask", va, error_get_pretty(err));
        error_free(err);
        return;
    }

    /*
     * KSYSTEM_TIME: the kernel writes High2Time, LowPart, then High1Time;
     * halves that differ were caught in the middle of an update.
     */
    low = ldl_le_p(ku + KUSD_INTERRUPT_TIME);
    high1 = ldl_le_p(ku + KUSD_INTERRUPT_TIME + 4);
    high2 = ldl_le_p(ku + KUSD_INTERRUPT_TIME + 8);
    if (high1 != high2 || high1 < 0) {
        windmp_warn(as->g, "KUSER_SHARED_DATA's InterruptTime is not"
                    " consistent (High1Time 0x%" PRIx32 ", High2Time 0x%"
                    PRIx32 "); keeping the header's SystemUpTime",
                    (uint32_t)high1, (uint32_t)high2);
    } else {
        uint64_t up = cpu_to_le64((uint64_t)high1 << 32 | low);

        if (wd->x64) {
            wd->hdr.x64.SystemUpTime = up;
        } else {
            wd->hdr.x32.SystemUpTime = up;
        }
    }

    type = ldl_le_p(ku + KUSD_PRODUCT_TYPE);
    if (type < PRODUCT_TYPE_MIN || type > PRODUCT_TYPE_MAX) {
        windmp_warn(as->g, "KUSER_SHARED_DATA's ProductType is %" PRIu32
                    ", not 1, 2 or 3; keeping the header's", type);
    } else if (wd->x64) {
        wd->hdr.x64.ProductType = cpu_to_le32(type);
    } else {
        wd->hdr.x32.ProductType = cpu_to_le32(type);
    }

    suite = ldl_le_p(ku + KUSD_SUITE_MASK);
    if (suite & ~SUITE_MASK_VALID) {
        windmp_warn(as->g, "KUSER_SHARED_DATA's SuiteMask 0x%" PRIx32
                    " has unknown bits; keeping the header's", suite);
    } else if (wd->x64) {
        wd->hdr.x64.SuiteMask = cpu_to_le32(suite);
    } else {
        wd->hdr.x32.SuiteMask = cpu_to_le32(suite);
    }
}

static void build_context64(WinContext64 *c, const WinDumpCpu *cpu)
{
    int i;

    memset(c, 0, sizeof(*c));
    c->ContextFlags = cpu_to_le32(WIN_CTX64_ALL);
    c->SegEs = cpu_to_le16(cpu->sel[0]);
    c->SegCs = cpu_to_le16(cpu->sel[1]);
    c->SegSs = cpu_to_le16(cpu->sel[2]);
    c->SegDs = cpu_to_le16(cpu->sel[3]);
    c->SegFs = cpu_to_le16(cpu->sel[4]);
    c->SegGs = cpu_to_le16(cpu->sel[5]);
    c->EFlags = cpu_to_le32(cpu->rflags);
    c->Dr0 = cpu_to_le64(cpu->dr[0]);
    c->Dr1 = cpu_to_le64(cpu->dr[1]);
    c->Dr2 = cpu_to_le64(cpu->dr[2]);
    c->Dr3 = cpu_to_le64(cpu->dr[3]);
    c->Dr6 = cpu_to_le64(cpu->dr[6]);
    c->Dr7 = cpu_to_le64(cpu->dr[7]);
    c->Rax = cpu_to_le64(cpu->regs[0]);
    c->Rcx = cpu_to_le64(cpu->regs[1]);
    c->Rdx = cpu_to_le64(cpu->regs[2]);
    c->Rbx = cpu_to_le64(cpu->regs[3]);
    c->Rsp = cpu_to_le64(cpu->regs[4]);
    c->Rbp = cpu_to_le64(cpu->regs[5]);
    c->Rsi = cpu_to_le64(cpu->regs[6]);
    c->Rdi = cpu_to_le64(cpu->regs[7]);
    c->R8 = cpu_to_le64(cpu->regs[8]);
    c->R9 = cpu_to_le64(cpu->regs[9]);
    c->R10 = cpu_to_le64(cpu->regs[10]);
    c->R11 = cpu_to_le64(cpu->regs[11]);
    c->R12 = cpu_to_le64(cpu->regs[12]);
    c->R13 = cpu_to_le64(cpu->regs[13]);
    c->R14 = cpu_to_le64(cpu->regs[14]);
    c->R15 = cpu_to_le64(cpu->regs[15]);
    c->Rip = cpu_to_le64(cpu->rip);

    c->FltSave.ControlWord = cpu_to_le16(cpu->fx.ControlWord);
    c->FltSave.StatusWord = cpu_to_le16(cpu->fx.StatusWord);
    c->FltSave.TagWord = cpu->fx.TagWord;
    c->FltSave.ErrorOpcode = cpu_to_le16(cpu->fx.ErrorOpcode);
    c->FltSave.ErrorOffset = cpu_to_le32(cpu->fx.ErrorOffset);
    c->FltSave.ErrorSelector = cpu_to_le16(cpu->fx.ErrorSelector);
    c->FltSave.DataOffset = cpu_to_le32(cpu->fx.DataOffset);
    c->FltSave.DataSelector = cpu_to_le16(cpu->fx.DataSelector);
    /* kdmp-parser rejects a dump whose two MxCsr copies differ */
    c->MxCsr = cpu_to_le32(cpu->fx.MxCsr);
    c->FltSave.MxCsr = c->MxCsr;
    c->FltSave.MxCsr_Mask = cpu_to_le32(cpu->fx.MxCsr_Mask);
    for (i = 0; i < 8; i++) {
        c->FltSave.FloatRegisters[i].low =
            cpu_to_le64(cpu->fx.FloatRegisters[i].low);
        c->FltSave.FloatRegisters[i].high =
            cpu_to_le64(cpu->fx.FloatRegisters[i].high);
    }
    for (i = 0; i < 16; i++) {
        c->FltSave.XmmRegisters[i].low =
            cpu_to_le64(cpu->fx.XmmRegisters[i].low);
        c->FltSave.XmmRegisters[i].high =
            cpu_to_le64(cpu->fx.XmmRegisters[i].high);
    }
}

static void build_context32(WinContext32 *c, const WinDumpCpu *cpu)
{
    WinXmmSaveArea32 fx = cpu->fx;
    int i;

    memset(c, 0, sizeof(*c));
    c->ContextFlags = cpu_to_le32(WIN_CTX32_FULL | WIN_CTX_DBG | WIN_CTX_EXT);
    c->Dr0 = cpu_to_le32(cpu->dr[0]);
    c->Dr1 = cpu_to_le32(cpu->dr[1]);
    c->Dr2 = cpu_to_le32(cpu->dr[2]);
    c->Dr3 = cpu_to_le32(cpu->dr[3]);
    c->Dr6 = cpu_to_le32(cpu->dr[6]);
    c->Dr7 = cpu_to_le32(cpu->dr[7]);
    c->SegEs = cpu_to_le32(cpu->sel[0]);
    c->SegCs = cpu_to_le32(cpu->sel[1]);
    c->SegSs = cpu_to_le32(cpu->sel[2]);
    c->SegDs = cpu_to_le32(cpu->sel[3]);
    c->SegFs = cpu_to_le32(cpu->sel[4]);
    c->SegGs = cpu_to_le32(cpu->sel[5]);
    c->Eax = cpu_to_le32(cpu->regs[0]);
    c->Ecx = cpu_to_le32(cpu->regs[1]);
    c->Edx = cpu_to_le32(cpu->regs[2]);
    c->Ebx = cpu_to_le32(cpu->regs[3]);
    c->Esp = cpu_to_le32(cpu->regs[4]);
    c->Ebp = cpu_to_le32(cpu->regs[5]);
    c->Esi = cpu_to_le32(cpu->regs[6]);
    c->Edi = cpu_to_le32(cpu->regs[7]);
    c->Eip = cpu_to_le32(cpu->rip);
    c->EFlags = cpu_to_le32(cpu->rflags);

    /* ExtendedRegisters is an FXSAVE image; only 8 XMM registers on x86 */
    fx.ControlWord = cpu_to_le16(fx.ControlWord);
    fx.StatusWord = cpu_to_le16(fx.StatusWord);
    fx.ErrorOpcode = cpu_to_le16(fx.ErrorOpcode);
    fx.ErrorOffset = cpu_to_le32(fx.ErrorOffset);
    fx.ErrorSelector = cpu_to_le16(fx.ErrorSelector);
    fx.DataOffset = cpu_to_le32(fx.DataOffset);
    fx.DataSelector = cpu_to_le16(fx.DataSelector);
    fx.MxCsr = cpu_to_le32(fx.MxCsr);
    fx.MxCsr_Mask = cpu_to_le32(fx.MxCsr_Mask);
    for (i = 0; i < 8; i++) {
        fx.FloatRegisters[i].low = cpu_to_le64(fx.FloatRegisters[i].low);
        fx.FloatRegisters[i].high = cpu_to_le64(fx.FloatRegisters[i].high);
    }
    for (i = 0; i < 16; i++) {
        fx.XmmRegisters[i].low = i < 8 ? cpu_to_le64(fx.XmmRegisters[i].low)
                                       : 0;
        fx.XmmRegisters[i].high = i < 8 ? cpu_to_le64(fx.XmmRegisters[i].high)
                                        : 0;
    }
    memcpy(c->ExtendedRegisters, &fx, sizeof(fx));
}

static void build_context(const WinDump *wd, void *ctx, const WinDumpCpu *cpu)
{
    if (wd->x64) {
        build_context64(ctx, cpu);
    } else {
        build_context32(ctx, cpu);
    }
}

/* Find where each processor's KPRCB.Context lives, without touching it */
static void locate_context(WinDump *wd, WinDumpSpace *as, GArray *prot,
                           unsigned i, uint64_t ctx_size, CpuContext *cc)
{
    uint64_t kpb = windmp_kdbg_ptr(wd->kdbg, wd->x64,
                                   KDBG_KI_PROCESSOR_BLOCK_OFFSET64);
    uint16_t off = lduw_le_p(wd->kdbg + KDBG_OFFSET_PRCB_CONTEXT_OFFSET64);
    unsigned ptr_size = wd->x64 ? 8 : 4;
    uint64_t prcb, va, len;
    bool found;
    Error *err = NULL;

    found = windmp_prcb_context(as, wd->x64, wd->kdbg, i, &prcb, &va, &err);
    /* the pointers that lead to the context are read from the dump too */
    protect_virt(prot, as, kpb + (uint64_t)i * ptr_size, ptr_size,
                 "KiProcessorBlock", NULL);
    if (prcb) {
        protect_virt(prot, as, prcb + off, ptr_size, "a KPRCB", NULL);
    }
    if (!found) {
        goto fail;
    }
    cc->va = va;
    len = ctx_size;
    while (len) {
        uint64_t pa, left, n;

        if (cc->nr_chunks == ARRAY_SIZE(cc->chunk) ||
            !windmp_translate(as, va, &pa, &left, &err)) {
            error_prepend(&err, "context at 0x%" PRIx64 ": ", cc->va);
            goto fail;
        }
        n = MIN(left, len);
        if (!windmp_is_ram(as->g, pa, n)) {
            error_setg(&err, "context at 0x%" PRIx64 " maps to 0x%" PRIx64
                       ", which is not guest RAM", cc->va, pa);
            goto fail;
        }
        range_init_nofail(&cc->chunk[cc->nr_chunks++], pa, n);
        va += n;
        len -= n;
    }
    cc->ok = true;
    return;

fail:
    windmp_warn(as->g, "processor %u gets no context in its KPRCB: %s",
                i, error_get_pretty(err));
    error_free(err);
}

/* Is @r inside the memory runs, i.e. will the file hold it? */
static bool in_extents(const WinDump *wd, const Range *r)
{
    size_t i;

    for (i = 0; i < wd->nr_extents; i++) {
        Range e;

        range_init_nofail(&e, wd->extents[i].start,
                          wd->extents[i].end - wd->extents[i].start);
        if (range_contains_range(&e, r)) {
            return true;
        }
    }
    return false;
}

static gint overlay_cmp(gconstpointer a, gconstpointer b)
{
    const WinDumpOverlay *x = a, *y = b;

    return x->pa < y->pa ? -1 : x->pa > y->pa;
}

/*
 * Show each processor's registers where KPRCB.Context points, as Windows
 * itself does when it crashes.  A context that would cover something the
 * reader needs (page tables, the KDBG, another context) is left out
 * rather than corrupt the dump.
 */
static void patch_contexts(WinDump *wd, const WinDumpGuest *g,
                           WinDumpSpace *as, GArray *prot, unsigned nr)
{
    uint64_t ctx_size = wd->x64 ? sizeof(WinContext64) : sizeof(WinContext32);
    g_autofree CpuContext *cc = g_new0(CpuContext, nr);
    GArray *ov = g_array_new(false, false, sizeof(WinDumpOverlay));
    unsigned i, j, k;
    guint t;

    for (i = 0; i < nr; i++) {
        locate_context(wd, as, prot, i, ctx_size, &cc[i]);
    }

    /* all translations are done: as->tables is complete now */
    for (t = 0; t < as->tables->len; t++) {
        WinDumpRange *r = &g_array_index(as->tables, WinDumpRange, t);
        Protected p = { .what = "a page table" };

        range_init_nofail(&p.r, r->start, r->end - r->start);
        g_array_append_val(prot, p);
    }

    for (i = 0; i < nr; i++) {
        const char *clash = NULL;
        uint64_t done = 0;
        g_autofree uint8_t *ctx = NULL;

        for (j = 0; cc[i].ok && j < cc[i].nr_chunks && !clash; j++) {
            if (!in_extents(wd, &cc[i].chunk[j])) {
                clash = "memory that is not in the dump";
            }
            for (t = 0; t < prot->len && !clash; t++) {
                Protected *p = &g_array_index(prot, Protected, t);
                if (range_overlaps_range(&cc[i].chunk[j], &p->r)) {
                    clash = p->what;
                }
            }
            for (k = 0; k < ov->len && !clash; k++) {
                WinDumpOverlay *o = &g_array_index(ov, WinDumpOverlay, k);
                if (ranges_overlap(range_lob(&cc[i].chunk[j]),
                                   range_size(&cc[i].chunk[j]),
                                   o->pa, o->len)) {
                    clash = "another processor's context";
                }
            }
        }
        if (clash) {
            windmp_warn(g, "processor %u gets no context in its KPRCB:"
                        " its context at 0x%" PRIx64 " overlaps %s",
                        i, cc[i].va, clash);
            continue;
        }
        if (!cc[i].ok) {
            continue;
        }

        ctx = g_malloc(ctx_size);
        build_context(wd, ctx, &g->cpus[i]);
        for (j = 0; j < cc[i].nr_chunks; j++) {
            WinDumpOverlay o = {
                .pa = range_lob(&cc[i].chunk[j]),
                .len = range_size(&cc[i].chunk[j]),
            };
            o.data = g_memdup2(ctx + done, o.len);
            done += o.len;
            g_array_append_val(ov, o);
        }
        wd->nr_contexts++;
    }

    g_array_sort(ov, overlay_cmp);
    wd->nr_overlays = ov->len;
    wd->overlays = (WinDumpOverlay *)g_array_free(ov, false);
}

/* Set the bits of the pages that [start, end) touches */
static void mark_pages(unsigned long *pages, uint64_t nr_pfns,
                       uint64_t start, uint64_t end)
{
    uint64_t first = start >> WIN_DUMP_PAGE_BITS;
    uint64_t last = MIN(DIV_ROUND_UP(end, WIN_DUMP_PAGE_SIZE), nr_pfns);

    if (first < last) {
        bitmap_set(pages, first, last - first);
    }
}

/*
 * Describe guest RAM in the header's runs, as readers of a bitmap dump
 * expect; if there are more ranges than fit, the last run spans the rest.
 */
static void set_runs_from_ram(WinDump *wd, const WinDumpGuest *g)
{
    unsigned max = wd->x64 ? WIN_DUMP_MAX_RUNS64 : WIN_DUMP_MAX_RUNS32;
    uint64_t base[WIN_DUMP_MAX_RUNS32], end[WIN_DUMP_MAX_RUNS32];
    uint64_t pages = 0;
    unsigned n = 0, i;
    size_t r;

    for (r = 0; r < g->nr_ram; r++) {
        uint64_t s = DIV_ROUND_UP(g->ram[r].start, WIN_DUMP_PAGE_SIZE);
        uint64_t e = g->ram[r].end >> WIN_DUMP_PAGE_BITS;

        if (s >= e) {
            continue;
        }
        if (n < max) {
            base[n] = s;
            n++;
        }
        end[n - 1] = e;
    }
    for (i = 0; i < n; i++) {
        pages += end[i] - base[i];
        if (wd->x64) {
            wd->hdr.x64.PhysicalMemoryBlock.Run[i].BasePage =
                cpu_to_le64(base[i]);
            wd->hdr.x64.PhysicalMemoryBlock.Run[i].PageCount =
                cpu_to_le64(end[i] - base[i]);
        } else {
            wd->hdr.x32.PhysicalMemoryBlock.Run[i].BasePage =
                cpu_to_le32(base[i]);
            wd->hdr.x32.PhysicalMemoryBlock.Run[i].PageCount =
                cpu_to_le32(end[i] - base[i]);
        }
    }
    if (wd->x64) {
        wd->hdr.x64.PhysicalMemoryBlock.NumberOfRuns = cpu_to_le32(n);
        wd->hdr.x64.PhysicalMemoryBlock.NumberOfPages = cpu_to_le64(pages);
    } else {
        wd->hdr.x32.PhysicalMemoryBlock.NumberOfRuns = cpu_to_le32(n);
        wd->hdr.x32.PhysicalMemoryBlock.NumberOfPages = cpu_to_le32(pages);
    }
}

/*
 * Keep only the memory Windows has (its runs), as in its own kernel
 * dumps: the kernel also maps what is not memory to it, such as the PC's
 * legacy ROM window.  Without runs, guest RAM: a table the walk looked
 * for outside it is not there to be dumped.
 */
static void keep_memory(const WinDump *wd, const WinDumpGuest *g,
                        unsigned long *pages, uint64_t nr_pfns)
{
    const WinDumpRange *r = wd->all_ram ? g->ram : wd->extents;
    size_t nr = wd->all_ram ? g->nr_ram : wd->nr_extents;
    uint64_t from = 0;
    size_t k;

    /* whole pages only: a page that is partly memory is not dumped */
    for (k = 0; k <= nr; k++) {
        uint64_t to = k < nr ? DIV_ROUND_UP(r[k].start, WIN_DUMP_PAGE_SIZE) :
                               nr_pfns;

        to = MIN(to, nr_pfns);
        if (from < to) {
            bitmap_clear(pages, from, to - from);
        }
        if (k < nr) {
            from = MAX(from, r[k].end >> WIN_DUMP_PAGE_BITS);
        }
    }
}

/*
 * Plan a bitmap dump (DumpType 5): the pages in PFN order behind a bitmap
 * of them.  A kernel memory dump ("SDMP") holds what the kernel half of
 * the address space maps, every page table, and what the header and the
 * KDBG lead to (in the kernel half on Windows, but the reader needs them
 * wherever they are); a complete one ("FDMP") every page of guest RAM.
 */
static bool plan_bitmap(WinDump *wd, WinDumpSpace *as, GArray *prot,
                        bool kernel, Error **errp)
{
    const WinDumpGuest *g = as->g;
    uint64_t nr_pfns = DIV_ROUND_UP(g->ram[g->nr_ram - 1].end,
                                    WIN_DUMP_PAGE_SIZE);
    /*
     * kdmp-parser reads BitmapSize / 8 bytes, volatility3 / 32 dwords;
     * whole longs, so that the bitmap is made little-endian in place
     */
    uint64_t bits = ROUND_UP(nr_pfns, 64), ram = 0;
    g_autofree unsigned long *pages = NULL;
    GArray *ext;
    WinDumpBitmapHeader *bh;
    uint64_t pfn = 0, count = 0, first;
    guint i;

    /*
     * One bit per page frame up to the end of RAM: RAM that is sparse
     * (or a core that says so) must not make that a lot of memory
     */
    for (i = 0; i < g->nr_ram; i++) {
        ram += g->ram[i].end - g->ram[i].start;
    }
    if (bits / 8 > MAX(WIN_DUMP_BITMAP_MIN_BUDGET, ram / 64)) {
        error_setg(errp, "guest RAM ends at 0x%" PRIx64 " but holds only"
                   " %" PRIu64 " MiB: a bitmap dump over it would take %"
                   PRIu64 " MiB", g->ram[g->nr_ram - 1].end, ram >> 20,
                   bits >> 23);
        return false;
    }
    pages = bitmap_new(bits);
    ext = g_array_new(false, false, sizeof(WinDumpRange));

    if (kernel) {
        windmp_kernel_pages(as, pages, nr_pfns);
        for (i = 0; i < prot->len; i++) {
            Protected *p = &g_array_index(prot, Protected, i);
            mark_pages(pages, nr_pfns, range_lob(&p->r),
                       range_upb(&p->r) + 1);
        }
        for (i = 0; i < as->tables->len; i++) {
            WinDumpRange *t = &g_array_index(as->tables, WinDumpRange, i);
            mark_pages(pages, nr_pfns, t->start, t->end);
        }
        keep_memory(wd, g, pages, nr_pfns);
    } else {
        for (i = 0; i < g->nr_ram; i++) {
            uint64_t s = DIV_ROUND_UP(g->ram[i].start, WIN_DUMP_PAGE_SIZE);
            uint64_t e = g->ram[i].end >> WIN_DUMP_PAGE_BITS;

            if (s < e) {
                bitmap_set(pages, s, e - s);
            }
        }
    }
    if (wd->all_ram) {
        set_runs_from_ram(wd, g);
    }

    for (;;) {
        WinDumpRange r;
        uint64_t end;

        pfn = find_next_bit(pages, nr_pfns, pfn);
        if (pfn >= nr_pfns) {
            break;
        }
        end = find_next_zero_bit(pages, nr_pfns, pfn);
        r.start = pfn << WIN_DUMP_PAGE_BITS;
        r.end = end << WIN_DUMP_PAGE_BITS;
        g_array_append_val(ext, r);
        count += end - pfn;
        pfn = end;
    }

    if (!count) {
        /* not even the KDBG: WinDbg could not open the file */
        error_setg(errp, kernel ?
                   "no page that the kernel maps is in the guest's memory"
                   " runs: a kernel memory dump would be empty" :
                   "guest RAM holds no whole page: a bitmap dump would be"
                   " empty");
        g_array_free(ext, true);
        return false;
    }
    first = ROUND_UP(wd->hdr_size + sizeof(*bh) + bits / 8,
                     WIN_DUMP_PAGE_SIZE);
    wd->bitmap_size = first - wd->hdr_size;
    wd->bitmap = g_malloc0(wd->bitmap_size);
    bh = (WinDumpBitmapHeader *)wd->bitmap;
    bh->Signature = cpu_to_le32(kernel ? WIN_DUMP_BITMAP_SUMMARY :
                                         WIN_DUMP_BITMAP_FULL);
    bh->ValidDump = cpu_to_le32(WIN_DUMP_BITMAP_VALID);
    bh->DumpOptions = cpu_to_le32(kernel ? WIN_DUMP_SUMMARY_KERNEL_VA : 0);
    bh->FirstPage = cpu_to_le64(first);
    bh->TotalPresentPages = cpu_to_le64(count);
    bh->BitmapSize = cpu_to_le64(bits);
    bitmap_to_le((unsigned long *)(wd->bitmap + sizeof(*bh)), pages, bits);

    g_free(wd->extents);
    wd->nr_extents = ext->len;
    wd->extents = (WinDumpRange *)g_array_free(ext, false);
    wd->total_size = first + (count << WIN_DUMP_PAGE_BITS);
    return true;
}

static bool check_processors(WinDump *wd, const WinDumpGuest *g,
                             unsigned *nr, Error **errp)
{
    uint32_t n = wd->x64 ? le32_to_cpu(wd->hdr.x64.NumberProcessors) :
                           le32_to_cpu(wd->hdr.x32.NumberProcessors);

    if (n == 0 || n > g->nr_cpus) {
        error_setg(errp, "the header says the guest has %" PRIu32
                   " processors, but the VM has %u vCPUs", n, g->nr_cpus);
        return false;
    }
    if (n < g->nr_cpus) {
        /* e.g. a desktop edition that uses only some of the sockets */
        windmp_warn(g, "the VM has %u vCPUs but Windows uses %" PRIu32
                    "; the registers of the others are not in the dump",
                    g->nr_cpus, n);
    }
    *nr = n;
    return true;
}

bool windmp_prepare(WinDump *wd, const WinDumpGuest *g,
                    const void *note, size_t size,
                    const WinDumpOptions *opts, Error **errp)
{
    ERRP_GUARD();
    WinDumpSpace as = { 0 };
    GArray *prot = NULL;
    WinDumpPaging paging;
    uint64_t dtb;
    unsigned nr, i;
    bool ok = false;

    memset(wd, 0, sizeof(*wd));
    if (!windmp_note_check(note, size, errp)) {
        return false;
    }
    wd->hdr_size = size - VMCOREINFO_ELF_NOTE_HDR_SIZE;
    wd->x64 = wd->hdr_size == sizeof(WinDumpHeader64);
    memcpy(&wd->hdr, (const uint8_t *)note + VMCOREINFO_ELF_NOTE_HDR_SIZE,
           wd->hdr_size);

    if (!check_processors(wd, g, &nr, errp) || !check_runs(wd, g, errp)) {
        goto out;
    }

    /* readers expect a clean table address in the header */
    dtb = windmp_header_dtb(&wd->hdr, wd->x64, &paging);
    if (wd->x64) {
        wd->hdr.x64.DirectoryTableBase = cpu_to_le64(dtb);
        if (!windmp_x64_paging(g, nr, &paging, errp)) {
            goto out;
        }
    } else {
        wd->hdr.x32.DirectoryTableBase = cpu_to_le32(dtb);
    }
    wd->paging = paging;
    windmp_space_init(&as, g, paging, dtb);
    prot = g_array_new(false, false, sizeof(Protected));

    if (!find_kdbg(wd, &as, prot, errp)) {
        error_prepend(errp, "DirectoryTableBase 0x%" PRIx64 "%s: ", dtb,
                      paging == WIN_DUMP_PAGING_LM5 ? " (5-level paging)" :
                      paging == WIN_DUMP_PAGING_LM4 ? " (4-level paging)" :
                      "");
        goto out;
    }

    if (wd->x64) {
        /* as stock QEMU: the address of nt!MmPfnDatabase */
        wd->hdr.x64.PfnDatabase =
            cpu_to_le64(ldq_le_p(wd->kdbg + KDBG_MM_PFN_DATABASE_OFFSET64));
    } else {
        wd->hdr.x32.PfnDatabase =
            cpu_to_le32(windmp_kdbg_ptr(wd->kdbg, false,
                                        KDBG_MM_PFN_DATABASE_OFFSET64));
    }
    patch_bugcheck(wd, &as, prot, nr);
    patch_from_kuser(wd, &as);
    if (((opts && opts->kernel_only) || wd->all_ram) &&
        !plan_bitmap(wd, &as, prot, opts && opts->kernel_only, errp)) {
        goto out;
    }
    patch_contexts(wd, g, &as, prot, nr);

    /*
     * The header's own context is the boot-time one the driver captured;
     * show the processor that crashed instead (or the first one): the one
     * that wrote the Hyper-V crash MSRs, else one that reported a panic.
     */
    if (hv_crash_cpu(g, nr) >= 0) {
        wd->current_cpu = hv_crash_cpu(g, nr);
    } else {
        for (i = 0; i < nr; i++) {
            if (g->cpus[i].crashed) {
                wd->current_cpu = i;
                break;
            }
        }
    }
    if (wd->x64) {
        WinDumpHeader64 *h = &wd->hdr.x64;
        WinContext64 c;

        build_context64(&c, &g->cpus[wd->current_cpu]);
        memcpy(h->ContextRecord, &c, sizeof(c));
        h->PhysicalMemoryBlock.unused = 0;
        h->unused1 = 0;
        h->DumpType = cpu_to_le32(wd->bitmap ? WIN_DUMP_TYPE_BITMAP :
                                               WIN_DUMP_TYPE_FULL);
        h->RequiredDumpSpace = cpu_to_le64(wd->total_size);
        if (opts && opts->system_time) {
            h->SystemTime = cpu_to_le64(opts->system_time);
        }
    } else {
        WinDumpHeader32 *h = &wd->hdr.x32;
        WinContext32 c;

        build_context32(&c, &g->cpus[wd->current_cpu]);
        memcpy(h->ContextRecord, &c, sizeof(c));
        h->DumpType = cpu_to_le32(wd->bitmap ? WIN_DUMP_TYPE_BITMAP :
                                               WIN_DUMP_TYPE_FULL);
        h->RequiredDumpSpace = cpu_to_le64(wd->total_size);
        if (opts && opts->system_time) {
            h->SystemTime = cpu_to_le64(opts->system_time);
        }
    }
    ok = true;

out:
    windmp_space_destroy(&as);
    if (prot) {
        g_array_free(prot, true);
    }
    if (!ok) {
        windmp_cleanup(wd);
    }
    return ok;
}

void windmp_cleanup(WinDump *wd)
{
    size_t i;

    for (i = 0; i < wd->nr_overlays; i++) {
        g_free(wd->overlays[i].data);
    }
    g_free(wd->overlays);
    g_free(wd->extents);
    g_free(wd->bitmap);
    wd->bitmap = NULL;
    wd->overlays = NULL;
    wd->extents = NULL;
    wd->nr_overlays = 0;
    wd->nr_extents = 0;
}
