/*
 * Windows crash dumps (.dmp) as seen by windmp
 *
 * The checks follow what readers rely on (WinDbg, kdmp-parser,
 * volatility; see the project's format notes): a finding is an error when
 * a reader refuses the file or reads wrong data, a warning when readers
 * cope but the writer got something wrong.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "dmpfile.h"

/* More processors than Windows supports: don't walk a bogus count */
#define DMP_MAX_PROCESSORS  4096

static void G_GNUC_PRINTF(3, 4)
finding(DmpFile *df, DmpSeverity sev, const char *fmt, ...)
{
    DmpFinding f = { .severity = sev };
    va_list ap;

    va_start(ap, fmt);
    f.msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    g_array_append_val(df->findings, f);
}

unsigned dmpfile_count(const DmpFile *df, DmpSeverity severity)
{
    unsigned i, n = 0;

    for (i = 0; i < df->findings->len; i++) {
        n += g_array_index(df->findings, DmpFinding, i).severity >= severity;
    }
    return n;
}

static void add_extent(GArray *ext, uint64_t pa, uint64_t len, uint64_t off)
{
    DmpExtent *last = ext->len ?
        &g_array_index(ext, DmpExtent, ext->len - 1) : NULL;

    if (last && last->pa + last->len == pa && last->offset + last->len == off) {
        last->len += len;
    } else {
        DmpExtent e = { pa, len, off };

        g_array_append_val(ext, e);
    }
}

static void map_runs(DmpFile *df, GArray *ext)
{
    g_autoptr(GArray) runs = g_array_new(false, false, sizeof(WinDumpRange));
    uint64_t off = df->hdr_size;
    Error *err = NULL;
    bool located;
    guint i;

    /* the core's checks, as windmp_prepare() makes them */
    located = windmp_header_runs(df->hdr, df->x64, runs, &df->pages, &err);
    if (!located) {
        finding(df, DMP_ERROR, "%s; the pages from there on cannot be"
                " located", error_get_pretty(err));
        error_free(err);
        err = NULL;
    }
    if (!windmp_runs_check_order((WinDumpRange *)runs->data, runs->len,
                                 &err)) {
        finding(df, DMP_ERROR, "%s", error_get_pretty(err));
        error_free(err);
    }
    for (i = 0; i < runs->len; i++) {
        WinDumpRange *r = &g_array_index(runs, WinDumpRange, i);

        add_extent(ext, r->start, r->end - r->start, off);
        off += r->end - r->start;
    }
    if (located) {
        df->expected_size = off;
    }
}

static void map_bitmap(DmpFile *df, GArray *ext)
{
    const WinDumpBitmapHeader *bh;
    uint64_t bits, present, first, nbytes, set = 0, p;
    const uint8_t *map;

    if (df->size < df->hdr_size + sizeof(*bh)) {
        finding(df, DMP_ERROR, "DumpType %" PRIu32 " needs a bitmap header at"
                " 0x%" PRIx64 ", past the end of the file", df->dump_type,
                df->hdr_size);
        return;
    }
    bh = (const WinDumpBitmapHeader *)(df->data + df->hdr_size);
    if ((le32_to_cpu(bh->Signature) != WIN_DUMP_BITMAP_SUMMARY &&
         le32_to_cpu(bh->Signature) != WIN_DUMP_BITMAP_FULL) ||
        le32_to_cpu(bh->ValidDump) != WIN_DUMP_BITMAP_VALID) {
        finding(df, DMP_ERROR, "the bitmap header's signature is not"
                " SDMP/FDMP + DUMP");
        return;
    }
    df->summary = le32_to_cpu(bh->Signature) == WIN_DUMP_BITMAP_SUMMARY;
    first = le64_to_cpu(bh->FirstPage);
    present = le64_to_cpu(bh->TotalPresentPages);
    bits = le64_to_cpu(bh->BitmapSize);
    nbytes = (bits + 7) / 8;
    if (bits > (1ull << 40) ||
        nbytes > df->size - df->hdr_size - sizeof(*bh)) {
        finding(df, DMP_ERROR, "the bitmap of 0x%" PRIx64 " bits does not fit"
                " in the file", bits);
        return;
    }
    if (first < df->hdr_size + sizeof(*bh) + nbytes || first > df->size) {
        finding(df, DMP_ERROR, "the first page (file offset 0x%" PRIx64 ")"
                " is not between the bitmap and the end of the file", first);
        return;
    }
    if (first & (WIN_DUMP_PAGE_SIZE - 1)) {
        finding(df, DMP_WARNING, "the first page (file offset 0x%" PRIx64 ")"
                " is not page-aligned", first);
    }
    if (bits % 32) {
        finding(df, DMP_WARNING, "the bitmap has 0x%" PRIx64 " bits, not a"
                " multiple of 32: kdmp-parser drops the last partial byte",
                bits);
    }
    map = df->data + df->hdr_size + sizeof(*bh);
    for (p = 0; p < bits; p++) {
        if (!(p % 8) && !map[p / 8] && p + 8 <= bits) {
            p += 7;
            continue;
        }
        if (map[p / 8] & (1u << (p % 8))) {
            /* map only what the file holds: the bitmap may claim more */
            if (set < (df->size - first) >> WIN_DUMP_PAGE_BITS) {
                add_extent(ext, p << WIN_DUMP_PAGE_BITS, WIN_DUMP_PAGE_SIZE,
                           first + (set << WIN_DUMP_PAGE_BITS));
            }
            set++;
        }
    }
    if (set != present) {
        finding(df, DMP_WARNING, "the bitmap header says %" PRIu64 " pages"
                " are present; the bitmap has %" PRIu64, present, set);
    }
    df->pages = set;
    df->expected_size = first + (set << WIN_DUMP_PAGE_BITS);
}

static gint extent_cmp(gconstpointer a, gconstpointer b)
{
    const DmpExtent *x = a, *y = b;

    return x->pa < y->pa ? -1 : x->pa > y->pa;
}

static void decode_header(DmpFile *df)
{
    if (df->x64) {
        const WinDumpHeader64 *h = &df->hdr->x64;

        df->major = le32_to_cpu(h->MajorVersion);
        df->minor = le32_to_cpu(h->MinorVersion);
        df->dtb = le64_to_cpu(h->DirectoryTableBase);
        df->pfn_database = le64_to_cpu(h->PfnDatabase);
        df->ps_loaded_module_list = le64_to_cpu(h->PsLoadedModuleList);
        df->ps_active_process_head = le64_to_cpu(h->PsActiveProcessHead);
        df->machine = le32_to_cpu(h->MachineImageType);
        df->nr_processors = le32_to_cpu(h->NumberProcessors);
        df->bugcheck_code = le32_to_cpu(h->BugcheckCode);
        df->bugcheck_param[0] = le64_to_cpu(h->BugcheckParameter1);
        df->bugcheck_param[1] = le64_to_cpu(h->BugcheckParameter2);
        df->bugcheck_param[2] = le64_to_cpu(h->BugcheckParameter3);
        df->bugcheck_param[3] = le64_to_cpu(h->BugcheckParameter4);
        df->kdbg_va = le64_to_cpu(h->KdDebuggerDataBlock);
        df->dump_type = le32_to_cpu(h->DumpType);
        df->system_time = le64_to_cpu(h->SystemTime);
        df->required_space = le64_to_cpu(h->RequiredDumpSpace);
        df->claimed_pages = le64_to_cpu(h->PhysicalMemoryBlock.NumberOfPages);
    } else {
        const WinDumpHeader32 *h = &df->hdr->x32;

        df->major = le32_to_cpu(h->MajorVersion);
        df->minor = le32_to_cpu(h->MinorVersion);
        df->dtb = le32_to_cpu(h->DirectoryTableBase);
        df->pfn_database = le32_to_cpu(h->PfnDatabase);
        df->ps_loaded_module_list = le32_to_cpu(h->PsLoadedModuleList);
        df->ps_active_process_head = le32_to_cpu(h->PsActiveProcessHead);
        df->machine = le32_to_cpu(h->MachineImageType);
        df->nr_processors = le32_to_cpu(h->NumberProcessors);
        df->bugcheck_code = le32_to_cpu(h->BugcheckCode);
        df->bugcheck_param[0] = le32_to_cpu(h->BugcheckParameter1);
        df->bugcheck_param[1] = le32_to_cpu(h->BugcheckParameter2);
        df->bugcheck_param[2] = le32_to_cpu(h->BugcheckParameter3);
        df->bugcheck_param[3] = le32_to_cpu(h->BugcheckParameter4);
        df->kdbg_va = le32_to_cpu(h->KdDebuggerDataBlock);
        df->dump_type = le32_to_cpu(h->DumpType);
        df->system_time = le64_to_cpu(h->SystemTime);
        df->required_space = le64_to_cpu(h->RequiredDumpSpace);
        df->claimed_pages = le32_to_cpu(h->PhysicalMemoryBlock.NumberOfPages);
    }
}

/* DirectoryTableBase without flag bits, as the core reads it */
static uint64_t dtb_clean(const DmpFile *df)
{
    WinDumpPaging paging;

    return windmp_header_dtb(df->hdr, df->x64, &paging);
}

static void check_header(DmpFile *df)
{
    if (df->machine != (df->x64 ? WIN_DUMP_MACHINE_AMD64 :
                                  WIN_DUMP_MACHINE_I386)) {
        finding(df, DMP_WARNING, "MachineImageType is 0x%" PRIx32 ", not"
                " 0x%x for a%s dump", df->machine,
                df->x64 ? WIN_DUMP_MACHINE_AMD64 : WIN_DUMP_MACHINE_I386,
                df->x64 ? "n x64" : "n x86");
    }
    if (df->nr_processors == 0) {
        finding(df, DMP_ERROR, "NumberProcessors is 0");
    }
    if (df->dtb == 0) {
        finding(df, DMP_ERROR, "DirectoryTableBase is 0: no virtual address"
                " can be read");
    } else if (df->dtb != dtb_clean(df)) {
        finding(df, DMP_WARNING, "DirectoryTableBase 0x%" PRIx64 " has flag"
                " bits set", df->dtb);
    }
    if (df->bugcheck_code == 0) {
        finding(df, DMP_WARNING, "BugcheckCode is 0; a live dump says 0x%x",
                LIVE_SYSTEM_DUMP);
    }
    if (df->x64) {
        const WinContext64 *c = (const void *)df->hdr->x64.ContextRecord;

        if (c->MxCsr != c->FltSave.MxCsr) {
            finding(df, DMP_ERROR, "the header's CONTEXT has MxCsr 0x%" PRIx32
                    " but FltSave.MxCsr 0x%" PRIx32 ": kdmp-parser refuses"
                    " the file", le32_to_cpu(c->MxCsr),
                    le32_to_cpu(c->FltSave.MxCsr));
        }
    }
    if (!df->bitmap && df->claimed_pages != df->pages && df->nr_extents) {
        finding(df, DMP_WARNING, "NumberOfPages is %" PRIu64 " but the runs"
                " hold %" PRIu64, df->claimed_pages, df->pages);
    }
    if (!df->nr_extents) {
        finding(df, DMP_ERROR, "the file holds no page of guest memory");
    }
    if (df->nr_extents || df->expected_size) {
        if (df->size < df->expected_size) {
            finding(df, DMP_ERROR, "the file is truncated: it has 0x%" PRIx64
                    " bytes, its page map needs 0x%" PRIx64, df->size,
                    df->expected_size);
        } else if (df->size > df->expected_size) {
            finding(df, DMP_WARNING, "0x%" PRIx64 " bytes follow the last"
                    " page", df->size - df->expected_size);
        }
        if (df->size < df->required_space &&
            df->size >= df->expected_size) {
            /* readers that size the file from the header fail on it */
            finding(df, DMP_ERROR, "the file has 0x%" PRIx64 " bytes, less"
                    " than its RequiredDumpSpace 0x%" PRIx64 ": truncated,"
                    " or a damaged header", df->size, df->required_space);
        } else if (df->required_space != df->expected_size) {
            finding(df, DMP_WARNING, "RequiredDumpSpace is 0x%" PRIx64
                    " but the file should be 0x%" PRIx64 " bytes",
                    df->required_space, df->expected_size);
        }
    }
}

static void detect_paging(DmpFile *df);

bool dmpfile_parse(DmpFile *df, const void *data, uint64_t size,
                   Error **errp)
{
    GArray *ext = g_array_new(false, false, sizeof(DmpExtent));
    GArray *sorted;
    size_t i;

    memset(df, 0, sizeof(*df));
    df->data = data;
    df->size = size;
    df->findings = g_array_new(false, false, sizeof(DmpFinding));

    if (size < 8 || memcmp(data, "PAGE", 4)) {
        error_setg(errp, "not a Windows crash dump (no 'PAGE' signature)");
        goto fail;
    }
    if (!memcmp(df->data + 4, "DU64", 4)) {
        df->x64 = true;
        df->hdr_size = sizeof(WinDumpHeader64);
    } else if (!memcmp(df->data + 4, "DUMP", 4)) {
        df->hdr_size = sizeof(WinDumpHeader32);
    } else {
        error_setg(errp, "not a Windows crash dump: 'PAGE' is followed by"
                   " neither 'DU64' (x64) nor 'DUMP' (x86)");
        goto fail;
    }
    if (size < df->hdr_size) {
        error_setg(errp, "the file (%" PRIu64 " bytes) is shorter than its"
                   " %s header (%" PRIu64 " bytes): truncated", size,
                   df->x64 ? "x64" : "x86", df->hdr_size);
        goto fail;
    }
    df->hdr = data;
    decode_header(df);

    switch (df->dump_type) {
    case WIN_DUMP_TYPE_FULL:
        map_runs(df, ext);
        break;
    case WIN_DUMP_TYPE_BITMAP:
    case WIN_DUMP_TYPE_BITMAP_KERNEL:
        df->bitmap = true;
        map_bitmap(df, ext);
        break;
    default:
        finding(df, DMP_ERROR, "DumpType %" PRIu32 " is neither a full (1)"
                " nor a bitmap (5, 6) dump: its pages cannot be located",
                df->dump_type);
    }

    /* only what the file holds is mapped; sorted, first copy wins */
    sorted = g_array_new(false, false, sizeof(DmpExtent));
    g_array_sort(ext, extent_cmp);
    for (i = 0; i < ext->len; i++) {
        DmpExtent e = g_array_index(ext, DmpExtent, i);
        DmpExtent *last = sorted->len ?
            &g_array_index(sorted, DmpExtent, sorted->len - 1) : NULL;

        if (e.offset >= size) {
            continue;
        }
        e.len = MIN(e.len, (size - e.offset) & ~(uint64_t)0xfff);
        if (last && e.pa < last->pa + last->len) {
            uint64_t skip = MIN(last->pa + last->len - e.pa, e.len);

            e.pa += skip;
            e.offset += skip;
            e.len -= skip;
        }
        if (e.len) {
            g_array_append_val(sorted, e);
        }
    }
    g_array_free(ext, true);
    df->nr_extents = sorted->len;
    df->extents = (DmpExtent *)g_array_free(sorted, false);
    df->ram = g_new(WinDumpRange, df->nr_extents + 1);
    df->ram_data = g_new(const uint8_t *, df->nr_extents + 1);
    for (i = 0; i < df->nr_extents; i++) {
        df->ram[i].start = df->extents[i].pa;
        df->ram[i].end = df->extents[i].pa + df->extents[i].len;
        df->ram_data[i] = df->data + df->extents[i].offset;
    }
    df->mem.ram = df->ram;
    df->mem.data = df->ram_data;
    df->mem.nr = df->nr_extents;

    check_header(df);
    detect_paging(df);
    return true;

fail:
    g_array_free(ext, true);
    dmpfile_free(df);
    return false;
}

void dmpfile_free(DmpFile *df)
{
    guint i;

    if (df->findings) {
        for (i = 0; i < df->findings->len; i++) {
            g_free(g_array_index(df->findings, DmpFinding, i).msg);
        }
        g_array_free(df->findings, true);
    }
    g_free(df->extents);
    g_free(df->ram);
    g_free(df->ram_data);
    g_free(df->cpus);
    memset(df, 0, sizeof(*df));
}

const uint8_t *dmpfile_ptr(const DmpFile *df, uint64_t pa, uint64_t *len)
{
    return filemem_ptr(&df->mem, pa, len);
}

void dmpfile_guest(const DmpFile *df, WinDumpGuest *g)
{
    filemem_guest(&df->mem, g);
}

WinDumpPaging dmpfile_paging(const DmpFile *df)
{
    return df->paging;
}

/*
 * How well @paging reads the header's KDBG: 2 if it is tagged "KDBG",
 * 1 if it only translates (an encoded one), 0 if it does not
 */
static int kdbg_score(const DmpFile *df, WinDumpPaging paging)
{
    WinDumpGuest g;
    WinDumpSpace as;
    uint8_t tag[4];
    int score = 0;

    dmpfile_guest(df, &g);
    windmp_space_init(&as, &g, paging, dtb_clean(df));
    if (windmp_read_virt(&as, df->kdbg_va + KDBG_OWNER_TAG_OFFSET64, tag,
                         sizeof(tag), NULL)) {
        score = memcmp(tag, "KDBG", 4) ? 1 : 2;
    }
    windmp_space_destroy(&as);
    return score;
}

/*
 * The header does not say whether the kernel ran with 5-level paging
 * (CR4.LA57), and a PML5 walked as a PML4 rarely leads anywhere (LA57
 * kernel addresses are not even 48-bit canonical): take 5 levels when
 * they read the header's KDBG better than 4 do.
 */
static void detect_paging(DmpFile *df)
{
    windmp_header_dtb(df->hdr, df->x64, &df->paging);
    if (df->x64 && df->dtb && kdbg_score(df, WIN_DUMP_PAGING_LM5) >
                   kdbg_score(df, WIN_DUMP_PAGING_LM4)) {
        df->paging = WIN_DUMP_PAGING_LM5;
    }
}

static void check_processors(DmpFile *df, WinDumpSpace *as)
{
    size_t ctx_size = df->x64 ? sizeof(WinContext64) : sizeof(WinContext32);
    unsigned n = MIN(df->nr_processors, DMP_MAX_PROCESSORS), i;

    if (df->nr_processors > DMP_MAX_PROCESSORS) {
        finding(df, DMP_ERROR, "NumberProcessors is %" PRIu32 ", more than"
                " Windows supports; only %u are checked", df->nr_processors,
                DMP_MAX_PROCESSORS);
    }
    df->cpus = g_new0(DmpProcessor, n);
    for (i = 0; i < n; i++) {
        DmpProcessor *p = &df->cpus[i];
        Error *err = NULL;

        /* the core's way there, as windmp_prepare() takes it */
        if (!windmp_prcb_context(as, df->x64, df->kdbg, i, &p->prcb,
                                 &p->context_va, &err)) {
            finding(df, DMP_ERROR, "processor %u: %s", i,
                    error_get_pretty(err));
        } else if (!windmp_read_virt(as, p->context_va, &p->context, ctx_size,
                                     &err)) {
            finding(df, DMP_ERROR, "processor %u: its CONTEXT at 0x%" PRIx64
                    " cannot be read: %s", i, p->context_va,
                    error_get_pretty(err));
        } else {
            uint32_t flags = le32_to_cpu(p->context.x64.ContextFlags);

            p->has_context = true;
            if (df->x64 ? !(flags & WIN_CTX_X64) :
                !(le32_to_cpu(p->context.x32.ContextFlags) & WIN_CTX_X86)) {
                finding(df, DMP_WARNING, "processor %u: its CONTEXT has"
                        " ContextFlags 0x%" PRIx32 ", without the %s bit:"
                        " no registers were saved there", i,
                        df->x64 ? flags :
                        le32_to_cpu(p->context.x32.ContextFlags),
                        df->x64 ? "AMD64" : "i386");
            }
        }
        error_free(err);
    }
}

void dmpfile_check(DmpFile *df)
{
    WinDumpGuest g;
    WinDumpSpace as;
    Error *err = NULL;
    uint64_t va = df->x64 ? df->kdbg_va : (uint32_t)df->kdbg_va;
    uint64_t bc_va;
    uint32_t size;
    uint8_t bc[4];

    if (!df->dtb) {
        /* check_header() said why */
        return;
    }
    dmpfile_guest(df, &g);
    windmp_space_init(&as, &g, dmpfile_paging(df), dtb_clean(df));

    if (!windmp_read_virt(&as, va, df->kdbg, sizeof(df->kdbg), &err)) {
        finding(df, DMP_ERROR, "the KDBG at KdDebuggerDataBlock 0x%" PRIx64
                " cannot be read through DirectoryTableBase: %s; WinDbg"
                " cannot open the dump", va, error_get_pretty(err));
        error_free(err);
        goto out;
    }
    if (!windmp_kdbg_check(df->kdbg, &size, &err)) {
        finding(df, DMP_ERROR, "the KDBG at KdDebuggerDataBlock 0x%" PRIx64
                ": %s; WinDbg needs a decoded KDBG (an encoded one?)",
                va, error_get_pretty(err));
        error_free(err);
        goto out;
    }
    df->kdbg_ok = true;

    bc_va = windmp_kdbg_ptr(df->kdbg, df->x64, KDBG_KI_BUGCHECK_DATA_OFFSET64);
    if (windmp_read_virt(&as, bc_va, bc, 4, NULL) &&
        ldl_le_p(bc) && (uint32_t)ldl_le_p(bc) != df->bugcheck_code) {
        finding(df, DMP_WARNING, "BugcheckCode is 0x%" PRIx32 " but"
                " nt!KiBugcheckData says 0x%" PRIx32, df->bugcheck_code,
                (uint32_t)ldl_le_p(bc));
    }
    check_processors(df, &as);

out:
    windmp_space_destroy(&as);
}
