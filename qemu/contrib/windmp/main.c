/*
 * windmp: inspect, verify and convert Windows crash dumps of QEMU guests
 *
 * The same core as QEMU's dump-guest-memory -w (dump/windmp/) turns a
 * QEMU ELF core whose vmcoreinfo note holds the guest's Windows header
 * into the .dmp the in-tree backend would have written.  Input files are
 * only ever mapped read-only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include <elf.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include "dump/windmp/windmp.h"
#include "elfcore.h"
#include "dmpfile.h"
#include "qobject/json-writer.h"

/* Exit codes: see windmp(1) */
enum {
    EXIT_OK = 0,
    EXIT_FAIL = 1,          /* verify: the dump fails; read: not available */
    EXIT_USAGE = 2,
    EXIT_INPUT = 3,         /* the input cannot be read or is not usable */
    EXIT_OUTPUT = 4,        /* the output cannot be written */
};

/* 100 ns ticks from 1601-01-01 to 1970-01-01 */
#define FILETIME_UNIX_EPOCH 116444736000000000ull

static const char *prog = "windmp";

/* Options; check_options() says which command takes which */
static gboolean opt_json;
static gboolean opt_quiet;
static gboolean opt_version;
static gint opt_cpu = -1;
static gchar *opt_time;
static gboolean opt_kernel;
static gchar *opt_against;
static gchar *opt_phys, *opt_virt, *opt_dtb;
static gboolean opt_raw;
static gint opt_paging;

static void G_GNUC_PRINTF(1, 2) warn(const char *fmt, ...)
{
    va_list ap;

    if (opt_quiet) {
        return;
    }
    va_start(ap, fmt);
    fprintf(stderr, "%s: warning: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static int G_GNUC_PRINTF(2, 3) fail(int code, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    fprintf(stderr, "%s: ", prog);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return code;
}

static int fail_err(int code, Error *err)
{
    int ret = fail(code, "%s", error_get_pretty(err));

    error_free(err);
    return ret;
}

/* ------------------------------------------------------------ input */

typedef struct Input {
    const char *path;
    const uint8_t *data;
    uint64_t size;
    struct stat st;
    bool is_elf;
    ElfCore elf;
    DmpFile dmp;
} Input;

static bool input_open(Input *in, const char *path, Error **errp)
{
    int fd;

    memset(in, 0, sizeof(*in));
    in->path = path;
    fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &in->st) < 0) {
        error_setg(errp, "%s: %s", path, strerror(errno));
        if (fd >= 0) {
            close(fd);
        }
        return false;
    }
    if (!S_ISREG(in->st.st_mode)) {
        error_setg(errp, "%s: not a regular file (a dump is read through"
                   " mmap)", path);
        close(fd);
        return false;
    }
    in->size = in->st.st_size;
    if (in->size) {
        /* read-only and private: nothing we do can reach the file */
        void *p = mmap(NULL, in->size, PROT_READ, MAP_PRIVATE | MAP_NORESERVE,
                       fd, 0);

        if (p == MAP_FAILED) {
            error_setg(errp, "%s: cannot map: %s", path, strerror(errno));
            close(fd);
            return false;
        }
        in->data = p;
    } else {
        in->data = (const uint8_t *)"";
    }
    close(fd);
    return true;
}

/*
 * Parse as what it is: a QEMU ELF core or a Windows crash dump; @check
 * also reads a dump's KDBG and contexts through its page tables.
 */
static bool input_parse(Input *in, bool check, Error **errp)
{
    ERRP_GUARD();
    in->is_elf = elfcore_is_elf(in->data, in->size);
    if (in->is_elf) {
        if (!elfcore_parse(&in->elf, in->data, in->size, errp)) {
            error_prepend(errp, "%s: ", in->path);
            return false;
        }
        return true;
    }
    if (in->size >= 4 && !memcmp(in->data, "PAGE", 4)) {
        if (!dmpfile_parse(&in->dmp, in->data, in->size, errp)) {
            error_prepend(errp, "%s: ", in->path);
            return false;
        }
        if (in->dmp.x64 && opt_paging) {
            in->dmp.paging = opt_paging == 5 ? WIN_DUMP_PAGING_LM5 :
                                               WIN_DUMP_PAGING_LM4;
        }
        if (check) {
            dmpfile_check(&in->dmp);
        }
        return true;
    }
    error_setg(errp, "%s: neither a QEMU ELF core nor a Windows crash dump",
               in->path);
    return false;
}

static void input_close(Input *in)
{
    if (in->is_elf) {
        elfcore_free(&in->elf);
    } else if (in->dmp.findings) {
        dmpfile_free(&in->dmp);
    }
    if (in->size) {
        munmap((void *)in->data, in->size);
    }
}

static void core_warn(void *opaque, const char *msg)
{
    warn("%s", msg);
}

/* The core's view of the ELF core, with warnings printed */
static void elf_guest(Input *in, WinDumpGuest *g, WinDumpGuestOps *ops)
{
    elfcore_guest(&in->elf, g);
    *ops = *g->ops;
    ops->warn = core_warn;
    g->ops = ops;
}

/* ------------------------------------------------------------ text */

static const char *dump_type_name(uint32_t t)
{
    switch (t) {
    case 1:
        return "full";
    case 2:
        return "summary";
    case 4:
        return "triage";
    case 5:
        return "bitmap";
    case 6:
        return "bitmap kernel";
    default:
        return "unknown";
    }
}

static char *filetime_str(uint64_t ft)
{
    time_t t;
    struct tm tm;
    char buf[64];

    if (ft < FILETIME_UNIX_EPOCH) {
        return g_strdup("(before 1970)");
    }
    t = (ft - FILETIME_UNIX_EPOCH) / 10000000;
    if (!gmtime_r(&t, &tm) ||
        !strftime(buf, sizeof(buf), "%Y-%m-%d %H:%M:%S UTC", &tm)) {
        return g_strdup("(invalid)");
    }
    return g_strdup(buf);
}

static const char *severity_name(DmpSeverity s)
{
    return s == DMP_ERROR ? "error" : s == DMP_WARNING ? "warning" : "info";
}

static void print_context_text(const WinContext *c, bool x64)
{
    if (x64) {
        const WinContext64 *x = &c->x64;

        printf("rip=%016" PRIx64 " rsp=%016" PRIx64 " rax=%016" PRIx64
               " cs=%04x ss=%04x rflags=%08" PRIx32 "\n",
               le64_to_cpu(x->Rip), le64_to_cpu(x->Rsp),
               le64_to_cpu(x->Rax), le16_to_cpu(x->SegCs),
               le16_to_cpu(x->SegSs), le32_to_cpu(x->EFlags));
    } else {
        const WinContext32 *x = &c->x32;

        printf("eip=%08" PRIx32 " esp=%08" PRIx32 " eax=%08" PRIx32
               " cs=%04x ss=%04x eflags=%08" PRIx32 "\n",
               le32_to_cpu(x->Eip), le32_to_cpu(x->Esp), le32_to_cpu(x->Eax),
               le32_to_cpu(x->SegCs) & 0xffff, le32_to_cpu(x->SegSs) & 0xffff,
               le32_to_cpu(x->EFlags));
    }
}

/*
 * Addresses as "0x..." strings: they do not fit in the doubles that many
 * JSON readers use for numbers
 */
static void json_hex(JSONWriter *j, const char *name, uint64_t val)
{
    g_autofree char *s = g_strdup_printf("0x%" PRIx64, val);

    json_writer_str(j, name, s);
}

static void json_context(JSONWriter *j, const char *key, const WinContext *c,
                         bool x64)
{
    json_writer_start_object(j, key);
    if (x64) {
        const WinContext64 *x = &c->x64;

        json_hex(j, "rip", le64_to_cpu(x->Rip));
        json_hex(j, "rsp", le64_to_cpu(x->Rsp));
        json_hex(j, "rax", le64_to_cpu(x->Rax));
        json_hex(j, "rflags", le32_to_cpu(x->EFlags));
        json_hex(j, "cs", le16_to_cpu(x->SegCs));
        json_hex(j, "ss", le16_to_cpu(x->SegSs));
        json_hex(j, "mxcsr", le32_to_cpu(x->MxCsr));
    } else {
        const WinContext32 *x = &c->x32;

        json_hex(j, "eip", le32_to_cpu(x->Eip));
        json_hex(j, "esp", le32_to_cpu(x->Esp));
        json_hex(j, "eax", le32_to_cpu(x->Eax));
        json_hex(j, "eflags", le32_to_cpu(x->EFlags));
        json_hex(j, "cs", le32_to_cpu(x->SegCs) & 0xffff);
        json_hex(j, "ss", le32_to_cpu(x->SegSs) & 0xffff);
    }
    json_writer_end_object(j);
}

static void json_findings(JSONWriter *j, const DmpFile *df)
{
    guint i;

    json_writer_start_array(j, "findings");
    for (i = 0; i < df->findings->len; i++) {
        const DmpFinding *f = &g_array_index(df->findings, DmpFinding, i);

        json_writer_start_object(j, NULL);
        json_writer_str(j, "severity", severity_name(f->severity));
        json_writer_str(j, "message", f->msg);
        json_writer_end_object(j);
    }
    json_writer_end_array(j);
}

static void print_findings(const DmpFile *df)
{
    guint i;

    if (!df->findings->len) {
        printf("findings:           none\n");
        return;
    }
    printf("findings:           %u error(s), %u warning(s)\n",
           dmpfile_count(df, DMP_ERROR),
           dmpfile_count(df, DMP_WARNING) - dmpfile_count(df, DMP_ERROR));
    for (i = 0; i < df->findings->len; i++) {
        const DmpFinding *f = &g_array_index(df->findings, DmpFinding, i);

        printf("  %s: %s\n", severity_name(f->severity), f->msg);
    }
}

static const WinContext *header_context(const DmpFile *df)
{
    return df->x64 ? (const void *)df->hdr->x64.ContextRecord :
                     (const void *)df->hdr->x32.ContextRecord;
}

static void info_dmp_text(const Input *in)
{
    const DmpFile *df = &in->dmp;
    g_autofree char *t = filetime_str(df->system_time);
    size_t i;

    printf("file:               %s\n", in->path);
    printf("format:             Windows crash dump, %s (PAGE %s), DumpType"
           " %" PRIu32 " (%s)\n", df->x64 ? "x64" : "x86",
           df->x64 ? "DU64" : "DUMP", df->dump_type,
           dump_type_name(df->dump_type));
    printf("version:            %" PRIu32 ".%" PRIu32 ", MachineImageType"
           " 0x%" PRIx32 "\n", df->major, df->minor, df->machine);
    printf("system time:        %s\n", t);
    printf("DirectoryTableBase: 0x%" PRIx64 "%s\n", df->dtb,
           !df->x64 ? (df->hdr->x32.PaeEnabled ? " (PAE)" : " (non-PAE)") :
           df->paging == WIN_DUMP_PAGING_LM5 ? " (5-level paging, LA57)" :
           " (4-level paging)");
    printf("KdDebuggerDataBlock: 0x%" PRIx64 " (%s)\n", df->kdbg_va,
           df->kdbg_ok ? "reads as KDBG through the DTB" :
           "does NOT read as KDBG through the DTB");
    printf("PfnDatabase:        0x%" PRIx64 "\n", df->pfn_database);
    printf("PsLoadedModuleList: 0x%" PRIx64 "\n", df->ps_loaded_module_list);
    printf("PsActiveProcessHead: 0x%" PRIx64 "\n", df->ps_active_process_head);
    printf("bugcheck:           0x%08" PRIx32 " (0x%" PRIx64 ", 0x%" PRIx64
           ", 0x%" PRIx64 ", 0x%" PRIx64 ")\n", df->bugcheck_code,
           df->bugcheck_param[0], df->bugcheck_param[1],
           df->bugcheck_param[2], df->bugcheck_param[3]);
    printf("header context:     ");
    print_context_text(header_context(df), df->x64);
    printf("processors:         %" PRIu32 "\n", df->nr_processors);
    for (i = 0; df->cpus && i < MIN(df->nr_processors, 4096); i++) {
        const DmpProcessor *p = &df->cpus[i];

        printf("  %zu: KPRCB 0x%" PRIx64 ", CONTEXT 0x%" PRIx64 ": ", i,
               p->prcb, p->context_va);
        if (p->has_context) {
            print_context_text(&p->context, df->x64);
        } else {
            printf("(unreadable)\n");
        }
    }
    if (df->bitmap) {
        printf("bitmap:             %s, %" PRIu64 " pages present\n",
               df->summary ? "SDMP (kernel memory)" : "FDMP (all memory)",
               df->pages);
    } else {
        printf("runs:               %" PRIu32 " in the header, %" PRIu64
               " pages (%" PRIu64 " MiB)\n",
               df->x64 ?
               le32_to_cpu(df->hdr->x64.PhysicalMemoryBlock.NumberOfRuns) :
               le32_to_cpu(df->hdr->x32.PhysicalMemoryBlock.NumberOfRuns),
               df->pages, df->pages >> 8);
    }
    for (i = 0; i < df->nr_extents && (i < 64 || !df->bitmap); i++) {
        const DmpExtent *e = &df->extents[i];

        printf("  0x%012" PRIx64 "-0x%012" PRIx64 " (0x%" PRIx64
               " pages) at file offset 0x%" PRIx64 "\n", e->pa,
               e->pa + e->len - 1, e->len >> WIN_DUMP_PAGE_BITS, e->offset);
    }
    if (i < df->nr_extents) {
        printf("  ... and %zu more ranges\n", df->nr_extents - i);
    }
    printf("size:               0x%" PRIx64 " bytes; expected 0x%" PRIx64
           "; RequiredDumpSpace 0x%" PRIx64 "\n", df->size,
           df->expected_size, df->required_space);
    print_findings(df);
}

static void info_dmp_json(const Input *in)
{
    const DmpFile *df = &in->dmp;
    g_autoptr(JSONWriter) j = json_writer_new(false);
    size_t i;
    json_writer_start_object(j, NULL);
    json_writer_str(j, "file", in->path);
    json_writer_str(j, "format", "dmp");
    json_writer_str(j, "arch", df->x64 ? "x64" : "x86");
    json_writer_uint64(j, "dump_type", df->dump_type);
    json_writer_uint64(j, "major_version", df->major);
    json_writer_uint64(j, "minor_version", df->minor);
    json_hex(j, "machine", df->machine);
    json_hex(j, "system_time", df->system_time);
    json_hex(j, "dtb", df->dtb);
    if (!df->x64) {
        json_writer_bool(j, "pae", df->hdr->x32.PaeEnabled);
    } else {
        json_writer_uint64(j, "paging_levels",
                           df->paging == WIN_DUMP_PAGING_LM5 ? 5 : 4);
    }
    json_hex(j, "kdbg", df->kdbg_va);
    json_writer_bool(j, "kdbg_ok", df->kdbg_ok);
    json_hex(j, "pfn_database", df->pfn_database);
    json_hex(j, "ps_loaded_module_list", df->ps_loaded_module_list);
    json_hex(j, "ps_active_process_head", df->ps_active_process_head);
    json_hex(j, "bugcheck_code", df->bugcheck_code);
    json_writer_start_array(j, "bugcheck_parameters");
    for (i = 0; i < 4; i++) {
        json_hex(j, NULL, df->bugcheck_param[i]);
    }
    json_writer_end_array(j);
    json_context(j, "context", header_context(df), df->x64);
    json_writer_uint64(j, "number_processors", df->nr_processors);
    json_writer_start_array(j, "processors");
    for (i = 0; df->cpus && i < MIN(df->nr_processors, 4096); i++) {
        const DmpProcessor *p = &df->cpus[i];

        json_writer_start_object(j, NULL);
        json_hex(j, "prcb", p->prcb);
        json_hex(j, "context_va", p->context_va);
        if (p->has_context) {
            json_context(j, "context", &p->context, df->x64);
        } else {
            json_writer_null(j, "context");
        }
        json_writer_end_object(j);
    }
    json_writer_end_array(j);
    json_writer_bool(j, "bitmap", df->bitmap);
    json_writer_bool(j, "kernel_only", df->summary);
    json_writer_uint64(j, "pages", df->pages);
    json_writer_uint64(j, "claimed_pages", df->claimed_pages);
    json_writer_start_array(j, "ranges");
    for (i = 0; i < df->nr_extents; i++) {
        json_writer_start_object(j, NULL);
        json_hex(j, "start", df->extents[i].pa);
        json_hex(j, "end", df->extents[i].pa + df->extents[i].len);
        json_hex(j, "offset", df->extents[i].offset);
        json_writer_end_object(j);
    }
    json_writer_end_array(j);
    json_writer_uint64(j, "size", df->size);
    json_writer_uint64(j, "expected_size", df->expected_size);
    json_writer_uint64(j, "required_dump_space", df->required_space);
    json_writer_uint64(j, "errors", dmpfile_count(df, DMP_ERROR));
    json_writer_uint64(j, "warnings", dmpfile_count(df, DMP_WARNING) -
                       dmpfile_count(df, DMP_ERROR));
    json_findings(j, df);
    json_writer_end_object(j);
    printf("%s\n", json_writer_get(j));
}

/* What the guest note of an ELF core is, in one line */
static char *note_summary(const ElfCore *ec, const WinDumpHeader **hdr)
{
    Error *err = NULL;
    char *s;

    *hdr = NULL;
    if (!ec->guest_note) {
        return g_strdup("none (no vmcoreinfo device, or the guest published"
                        " nothing)");
    }
    if (!windmp_note_check(ec->guest_note, ec->guest_note_size, &err)) {
        s = g_strdup_printf("%zu bytes, not a Windows crash dump header: %s",
                            ec->guest_note_size, error_get_pretty(err));
        error_free(err);
        return s;
    }
    *hdr = (const WinDumpHeader *)(ec->guest_note +
                                   VMCOREINFO_ELF_NOTE_HDR_SIZE);
    return g_strdup_printf("a Windows %s crash dump header (%zu bytes)",
                           ec->guest_note_size - VMCOREINFO_ELF_NOTE_HDR_SIZE
                           == sizeof(WinDumpHeader64) ? "x64" : "x86",
                           ec->guest_note_size);
}

static void info_elf(const Input *in)
{
    const ElfCore *ec = &in->elf;
    const WinDumpHeader *h;
    g_autofree char *note = note_summary(ec, &h);
    bool x64 = h && !memcmp(h->x64.ValidDump, "DU64", 4);
    size_t i;

    if (opt_json) {
        g_autoptr(JSONWriter) j = json_writer_new(false);
        json_writer_start_object(j, NULL);
        json_writer_str(j, "file", in->path);
        json_writer_str(j, "format", "elf");
        json_writer_uint64(j, "class", ec->elf64 ? 64 : 32);
        json_writer_str(j, "machine",
                        ec->machine == EM_X86_64 ? "x86_64" : "i386");
        json_writer_bool(j, "paging", ec->paging);
        json_writer_start_array(j, "segments");
        for (i = 0; i < ec->nr_segs; i++) {
            json_writer_start_object(j, NULL);
            json_hex(j, "paddr", ec->segs[i].pa);
            json_hex(j, "vaddr", ec->segs[i].va);
            json_hex(j, "offset", ec->segs[i].offset);
            json_writer_uint64(j, "filesz", ec->segs[i].filesz);
            json_writer_uint64(j, "memsz", ec->segs[i].memsz);
            json_writer_end_object(j);
        }
        json_writer_end_array(j);
        json_writer_uint64(j, "memory_bytes", ec->ram_bytes);
        json_writer_start_object(j, "guest_note");
        json_writer_uint64(j, "size", ec->guest_note_size);
        json_writer_bool(j, "windows_header", h != NULL);
        json_writer_str(j, "summary", note);
        if (h) {
            json_writer_str(j, "arch", x64 ? "x64" : "x86");
            json_hex(j, "dtb", x64 ? le64_to_cpu(h->x64.DirectoryTableBase) :
                     le32_to_cpu(h->x32.DirectoryTableBase));
            json_hex(j, "kdbg", x64 ? le64_to_cpu(h->x64.KdDebuggerDataBlock) :
                     le32_to_cpu(h->x32.KdDebuggerDataBlock));
            json_writer_uint64(j, "number_processors",
                               le32_to_cpu(x64 ? h->x64.NumberProcessors :
                                           h->x32.NumberProcessors));
        }
        json_writer_end_object(j);
        json_writer_start_array(j, "cpus");
        for (i = 0; i < ec->nr_cpus; i++) {
            const ElfCoreCpu *c = &ec->cpus[i];

            json_writer_start_object(j, NULL);
            json_hex(j, "rip", c->regs.rip);
            json_hex(j, "rsp", c->regs.regs[4]);
            json_hex(j, "rflags", c->regs.rflags);
            json_hex(j, "cs", c->regs.sel[1]);
            if (c->has_qemu_note) {
                json_hex(j, "cr0", c->cr[0]);
                json_hex(j, "cr3", c->cr[3]);
                json_hex(j, "cr4", c->cr[4]);
            }
            json_writer_end_object(j);
        }
        json_writer_end_array(j);
        json_writer_start_array(j, "warnings");
        for (i = 0; i < ec->warnings->len; i++) {
            json_writer_str(j, NULL, ec->warnings->pdata[i]);
        }
        json_writer_end_array(j);
        json_writer_end_object(j);
        printf("%s\n", json_writer_get(j));
        return;
    }

    printf("file:               %s\n", in->path);
    printf("format:             QEMU ELF core, ELF%d, %s%s\n",
           ec->elf64 ? 64 : 32, ec->machine == EM_X86_64 ? "x86-64" : "i386",
           ec->paging ? ", taken with paging (only mapped memory)" : "");
    printf("memory:             %" PRIu64 " bytes (%" PRIu64 " MiB) in %zu"
           " segments\n", ec->ram_bytes, ec->ram_bytes >> 20, ec->nr_segs);
    for (i = 0; i < ec->nr_segs && (i < 64 || !ec->paging); i++) {
        const ElfCoreSegment *s = &ec->segs[i];

        printf("  paddr 0x%012" PRIx64 " +0x%09" PRIx64 " vaddr 0x%016"
               PRIx64 " at file offset 0x%" PRIx64 "\n", s->pa, s->filesz,
               s->va, s->offset);
    }
    if (i < ec->nr_segs) {
        printf("  ... and %zu more\n", ec->nr_segs - i);
    }
    printf("guest note:         %s\n", note);
    if (h) {
        printf("  DirectoryTableBase 0x%" PRIx64 ", KdDebuggerDataBlock 0x%"
               PRIx64 ", NumberProcessors %" PRIu32 ", BugcheckCode 0x%"
               PRIx32 "\n",
               x64 ? le64_to_cpu(h->x64.DirectoryTableBase) :
               le32_to_cpu(h->x32.DirectoryTableBase),
               x64 ? le64_to_cpu(h->x64.KdDebuggerDataBlock) :
               le32_to_cpu(h->x32.KdDebuggerDataBlock),
               le32_to_cpu(x64 ? h->x64.NumberProcessors :
                           h->x32.NumberProcessors),
               le32_to_cpu(x64 ? h->x64.BugcheckCode : h->x32.BugcheckCode));
        printf("  'windmp convert' turns this core into a Windows crash"
               " dump\n");
    }
    printf("cpus:               %u\n", ec->nr_cpus);
    for (i = 0; i < ec->nr_cpus; i++) {
        const ElfCoreCpu *c = &ec->cpus[i];

        printf("  %zu: rip=%016" PRIx64 " rsp=%016" PRIx64 " rflags=%08"
               PRIx64 " cs=%04x", i, c->regs.rip, c->regs.regs[4],
               c->regs.rflags, c->regs.sel[1]);
        if (c->has_qemu_note) {
            printf(" cr0=%08" PRIx64 " cr3=%016" PRIx64 " cr4=%08" PRIx64,
                   c->cr[0], c->cr[3], c->cr[4]);
        }
        printf("\n");
    }
    for (i = 0; i < ec->warnings->len; i++) {
        printf("warning:            %s\n", (char *)ec->warnings->pdata[i]);
    }
}

static int cmd_info(Input *in)
{
    if (in->is_elf) {
        info_elf(in);
    } else if (opt_json) {
        info_dmp_json(in);
    } else {
        info_dmp_text(in);
    }
    return EXIT_OK;
}

/* ------------------------------------------------------------ convert */

#define WRITE_MAX   (256 * 1024)

typedef struct Output {
    int fd;
    char *path;
    char *tmp;                  /* NULL when writing to stdout */
    uint64_t written;
    uint64_t total;
    uint64_t next_report;
    bool progress;
    bool sparse;                /* all-zero pages are holes */
} Output;

/* The temporary file, for the signal handler to remove */
static char *volatile cleanup_path;

static void on_signal(int sig)
{
    struct sigaction sa = { .sa_handler = SIG_DFL };
    char *p = cleanup_path;

    if (p) {
        unlink(p);
    }
    sigaction(sig, &sa, NULL);
    raise(sig);
}

static void progress(Output *o, bool done)
{
    if (!o->progress || !o->total) {
        return;
    }
    if (done || o->written >= o->next_report) {
        fprintf(stderr, "\rconverting: %3" PRIu64 "%% (%" PRIu64 " of %"
                PRIu64 " MiB)%s", o->written * 100 / o->total,
                o->written >> 20, o->total >> 20, done ? "\n" : "");
        o->next_report = o->written + o->total / 100;
    }
}

static bool write_out(void *opaque, const void *buf, size_t len,
                      Error **errp)
{
    Output *o = opaque;
    const uint8_t *p = buf;

    while (len) {
        /*
         * Bounded writes: from a mapped core, 256 KiB at a time runs about
         * twice as fast as the core's 64 MiB chunks in one go.
         */
        ssize_t n = write(o->fd, p, MIN(len, WRITE_MAX));

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            error_setg(errp, "cannot write %s: %s", o->path,
                       n < 0 ? strerror(errno) : "short write");
            return false;
        }
        p += n;
        len -= n;
        o->written += n;
    }
    progress(o, false);
    return true;
}

static bool skip_out(void *opaque, uint64_t len, Error **errp)
{
    Output *o = opaque;

    if (lseek(o->fd, len, SEEK_CUR) < 0) {
        error_setg(errp, "cannot seek in %s: %s", o->path, strerror(errno));
        return false;
    }
    o->written += len;
    progress(o, false);
    return true;
}


static bool output_open(Output *o, const char *path, const Input *in,
                        Error **errp)
{
    g_autofree char *dir = NULL, *base = NULL;
    struct stat st;

    memset(o, 0, sizeof(*o));
    o->path = g_strdup(path);
    if (!strcmp(path, "-")) {
        o->fd = STDOUT_FILENO;
        if (isatty(o->fd)) {
            error_setg(errp, "refusing to write a crash dump to a terminal");
            return false;
        }
        o->sparse = windmp_fd_can_skip(o->fd);
        return true;
    }
    if (stat(path, &st) == 0 && st.st_dev == in->st.st_dev &&
        st.st_ino == in->st.st_ino) {
        error_setg(errp, "%s is the input file", path);
        return false;
    }
    dir = g_path_get_dirname(path);
    base = g_path_get_basename(path);
    o->tmp = g_strdup_printf("%s/.%s.XXXXXX", dir, base);
    o->fd = g_mkstemp_full(o->tmp, O_WRONLY | O_CLOEXEC, 0666);
    if (o->fd < 0) {
        error_setg(errp, "cannot create a file in %s: %s", dir,
                   strerror(errno));
        g_free(o->tmp);
        o->tmp = NULL;
        return false;
    }
    cleanup_path = o->tmp;
    o->sparse = windmp_fd_can_skip(o->fd);
    return true;
}

/* Keep the file only if it is complete */
static bool output_close(Output *o, bool ok, Error **errp)
{
    /* a trailing hole was skipped, not written: give the file its length */
    if (ok && o->sparse) {
        off_t end = lseek(o->fd, 0, SEEK_CUR);

        if (end < 0 || ftruncate(o->fd, end) < 0) {
            error_setg(errp, "cannot write %s: %s", o->path, strerror(errno));
            ok = false;
        }
    }
    if (o->tmp) {
        if (close(o->fd) < 0 && ok) {
            error_setg(errp, "cannot write %s: %s", o->path, strerror(errno));
            ok = false;
        }
        if (ok && rename(o->tmp, o->path) < 0) {
            error_setg(errp, "cannot rename %s to %s: %s", o->tmp, o->path,
                       strerror(errno));
            ok = false;
        }
        if (!ok) {
            unlink(o->tmp);
        }
        cleanup_path = NULL;
        g_free(o->tmp);
    }
    g_free(o->path);
    return ok;
}

/*
 * A core taken with paging holds only what the vCPUs had mapped, and
 * cannot always be told from one taken without: if the header's runs are
 * not all in the core, say how much is, and what to do.
 */
static void hint_missing_runs(const ElfCore *ec, const WinDumpGuest *g)
{
    const WinDumpHeader *h = (const void *)(ec->guest_note +
                                            VMCOREINFO_ELF_NOTE_HDR_SIZE);
    bool x64 = !memcmp(h->x64.ValidDump, "DU64", 4);
    g_autoptr(GArray) runs = g_array_new(false, false, sizeof(WinDumpRange));
    uint64_t listed = 0, held = 0;
    guint i;
    size_t k;

    if (!windmp_header_runs(h, x64, runs, &listed, NULL)) {
        return;     /* not a question of the core, but of the header */
    }
    for (i = 0; i < runs->len; i++) {
        const WinDumpRange *r = &g_array_index(runs, WinDumpRange, i);

        for (k = 0; k < g->nr_ram; k++) {
            if (g->ram[k].start < r->end && r->start < g->ram[k].end) {
                held += (MIN(r->end, g->ram[k].end) -
                         MAX(r->start, g->ram[k].start)) >> WIN_DUMP_PAGE_BITS;
            }
        }
    }
    if (held < listed) {
        fprintf(stderr, "The core holds %" PRIu64 " of the %" PRIu64 " pages"
                " that the header's memory runs list.  A core taken with"
                " paging holds only the memory the vCPUs had mapped: take it"
                " without paging (as virsh dump --memory-only does).\n",
                held, listed);
    }
}

static int cmd_convert(Input *in, const char *out_path)
{
    ElfCore *ec = &in->elf;
    WinDumpGuestOps ops;
    WinDumpGuest g;
    WinDumpOptions opts = { 0 };
    g_autofree WinDumpCpu *cpus = NULL;
    Error *err = NULL;
    WinDump wd;
    Output o;
    WinDumpSink sink = { .write = write_out, .opaque = &o };
    bool ok;

    if (!in->is_elf) {
        return fail(EXIT_INPUT, "%s: convert reads a QEMU ELF core (taken"
                    " without -w); this is already a Windows crash dump",
                    in->path);
    }
    if (!ec->guest_note) {
        return fail(EXIT_INPUT, "%s: the core has no vmcoreinfo note, so no"
                    " Windows crash dump header: the guest published none"
                    " (QEMU needs -device vmcoreinfo, libvirt <vmcoreinfo"
                    " state='on'/>, and the guest the virtio-win fwcfg"
                    " driver), or QEMU left out a malformed one (it then"
                    " warned \"Invalid guest note header\")", in->path);
    }
    if (!windmp_note_check(ec->guest_note, ec->guest_note_size, &err)) {
        error_prepend(&err, "%s: ", in->path);
        return fail_err(EXIT_INPUT, err);
    }

    elf_guest(in, &g, &ops);
    if (opt_cpu >= (gint)ec->nr_cpus) {
        return fail(EXIT_USAGE, "--cpu %d: the core has %u vCPUs", opt_cpu,
                    ec->nr_cpus);
    }
    if (opt_cpu >= 0) {
        /* the ELF does not say which vCPU crashed: the user does */
        cpus = g_memdup2(ec->win_cpus, sizeof(WinDumpCpu) * ec->nr_cpus);
        cpus[opt_cpu].crashed = true;
        g.cpus = cpus;
    }

    if (!opt_time || !strcmp(opt_time, "input")) {
        /* QEMU wrote the core when it dumped the guest */
        opts.system_time = (uint64_t)in->st.st_mtim.tv_sec * 10000000 +
                           in->st.st_mtim.tv_nsec / 100 + FILETIME_UNIX_EPOCH;
    } else if (!strcmp(opt_time, "now")) {
        opts.system_time = g_get_real_time() * 10 + FILETIME_UNIX_EPOCH;
    }

    opts.kernel_only = opt_kernel;
    if (!windmp_prepare(&wd, &g, ec->guest_note, ec->guest_note_size, &opts,
                        &err)) {
        error_prepend(&err, "%s: ", in->path);
        fail(EXIT_INPUT, "%s", error_get_pretty(err));
        error_free(err);
        hint_missing_runs(ec, &g);
        return EXIT_INPUT;
    }

    if (!output_open(&o, out_path, in, &err)) {
        windmp_cleanup(&wd);
        return fail_err(EXIT_OUTPUT, err);
    }
    o.total = wd.total_size;
    o.progress = !opt_quiet && isatty(STDERR_FILENO) && o.tmp;
    sink.skip = o.sparse ? skip_out : NULL;
    ok = windmp_write(&wd, &g, &sink, &err);
    if (o.progress && o.written) {
        /* end the progress line, complete or not */
        progress(&o, true);
    }
    ok = output_close(&o, ok, ok ? &err : NULL);
    if (ok && !opt_quiet && strcmp(out_path, "-")) {
        fprintf(stderr, "%s: wrote %s: %s Windows crash dump, %" PRIu64
                " bytes, %u of %u processors with a context\n", prog,
                out_path, wd.x64 ? "x64" : "x86", wd.total_size,
                wd.nr_contexts, ec->nr_cpus);
    }
    windmp_cleanup(&wd);
    return ok ? EXIT_OK : fail_err(EXIT_OUTPUT, err);
}

/* ------------------------------------------------------------ verify */

typedef struct Diff {
    uint64_t compared, differ, missing_in_dmp, missing_in_elf, patched;
    unsigned header_diffs;      /* header bytes unlike the plan's */
    unsigned contexts, context_diffs;
    int header_cpu;             /* whose registers the header holds, or -1 */
} Diff;

/* Does @c hold @cpu's general, control and segment registers? */
static bool context_matches(const WinContext *c, bool x64,
                            const WinDumpCpu *cpu)
{
    int i;

    if (x64) {
        const WinContext64 *x = &c->x64;
        const uint64_t *gpr = &x->Rax;      /* Rax..R15 as regs[] */

        for (i = 0; i < 16; i++) {
            if (ldq_le_p(gpr + i) != cpu->regs[i]) {
                return false;
            }
        }
        return le64_to_cpu(x->Rip) == cpu->rip &&
               le32_to_cpu(x->EFlags) == (uint32_t)cpu->rflags &&
               le16_to_cpu(x->SegCs) == cpu->sel[1] &&
               le16_to_cpu(x->SegSs) == cpu->sel[2];
    } else {
        const WinContext32 *x = &c->x32;

        return le32_to_cpu(x->Eax) == (uint32_t)cpu->regs[0] &&
               le32_to_cpu(x->Ecx) == (uint32_t)cpu->regs[1] &&
               le32_to_cpu(x->Edx) == (uint32_t)cpu->regs[2] &&
               le32_to_cpu(x->Ebx) == (uint32_t)cpu->regs[3] &&
               le32_to_cpu(x->Esp) == (uint32_t)cpu->regs[4] &&
               le32_to_cpu(x->Ebp) == (uint32_t)cpu->regs[5] &&
               le32_to_cpu(x->Esi) == (uint32_t)cpu->regs[6] &&
               le32_to_cpu(x->Edi) == (uint32_t)cpu->regs[7] &&
               le32_to_cpu(x->Eip) == (uint32_t)cpu->rip &&
               le32_to_cpu(x->EFlags) == (uint32_t)cpu->rflags &&
               (le32_to_cpu(x->SegCs) & 0xffff) == cpu->sel[1] &&
               (le32_to_cpu(x->SegSs) & 0xffff) == cpu->sel[2];
    }
}

/*
 * The header against the plan, but for what the core cannot know from
 * an ELF core: SystemTime, and which vCPU's registers the header shows
 * (checked to be some vCPU's, below).
 */
static unsigned header_diffs(const DmpFile *df, const WinDump *wd)
{
    size_t ctx = df->x64 ? offsetof(WinDumpHeader64, ContextRecord) :
                           offsetof(WinDumpHeader32, ContextRecord);
    size_t ctx_size = df->x64 ? sizeof(WinContext64) : sizeof(WinContext32);
    size_t time = df->x64 ? offsetof(WinDumpHeader64, SystemTime) :
                            offsetof(WinDumpHeader32, SystemTime);
    const uint8_t *a = (const uint8_t *)df->hdr;
    const uint8_t *b = (const uint8_t *)&wd->hdr;
    unsigned n = 0;
    size_t k;

    if (df->x64 != wd->x64) {
        warn("the dump is %s, the core's header %s", df->x64 ? "x64" : "x86",
             wd->x64 ? "x64" : "x86");
        return 1;
    }
    for (k = 0; k < wd->hdr_size; k++) {
        if ((k >= ctx && k < ctx + ctx_size) || (k >= time && k < time + 8)) {
            continue;
        }
        if (a[k] != b[k] && n++ < 10) {
            warn("header byte 0x%zx is 0x%02x; converting the core gives"
                 " 0x%02x", k, a[k], b[k]);
        }
    }
    return n;
}

/*
 * Do the pages differ outside the plan's overlays?  *patched says whether
 * an overlay covered part of the page; @diff gets where they first differ.
 */
static bool page_differs(const WinDump *wd, uint64_t pa, const uint8_t *a,
                         const uint8_t *b, bool *patched, uint64_t *diff)
{
    uint64_t k;
    size_t i = 0;

    *patched = false;
    for (k = 0; k < WIN_DUMP_PAGE_SIZE; k++) {
        /* overlays are sorted by address */
        while (i < wd->nr_overlays &&
               wd->overlays[i].pa + wd->overlays[i].len <= pa + k) {
            i++;
        }
        if (i < wd->nr_overlays && wd->overlays[i].pa <= pa + k) {
            *patched = true;
            continue;
        }
        if (a[k] != b[k]) {
            *diff = pa + k;
            return true;
        }
    }
    return false;
}

/*
 * Compare the dump page by page with the ELF core it claims to show.  The
 * core plans the same conversion to learn which bytes are patched (the
 * contexts in the KPRCBs) and leaves them out: a dump QEMU wrote has x87,
 * SSE and debug registers there that the ELF core does not carry.
 */
static bool verify_against(Input *dmp, Input *elf, Diff *d, Error **errp)
{
    ERRP_GUARD();
    DmpFile *df = &dmp->dmp;
    WinDumpGuestOps ops;
    WinDumpGuest g;
    WinDumpOptions opts = { .kernel_only = df->summary };
    WinDump wd;
    size_t i;
    unsigned shown = 0;
    bool patched = false;
    uint64_t where = 0;

    elf_guest(elf, &g, &ops);
    if (!elf->elf.guest_note) {
        error_setg(errp, "%s has no vmcoreinfo note to compare with",
                   elf->path);
        return false;
    }
    /* a kernel memory dump is compared with the same plan */
    if (!windmp_prepare(&wd, &g, elf->elf.guest_note,
                        elf->elf.guest_note_size, &opts, errp)) {
        error_prepend(errp, "%s: ", elf->path);
        return false;
    }
    memset(d, 0, sizeof(*d));
    for (i = 0; i < wd.nr_extents; i++) {
        uint64_t pa;

        for (pa = wd.extents[i].start; pa < wd.extents[i].end;
             pa += WIN_DUMP_PAGE_SIZE) {
            uint64_t n1 = WIN_DUMP_PAGE_SIZE, n2 = WIN_DUMP_PAGE_SIZE;
            const uint8_t *a = dmpfile_ptr(df, pa, &n1);
            const uint8_t *b = elfcore_ptr(&elf->elf, pa, &n2);

            if (!a || n1 < WIN_DUMP_PAGE_SIZE) {
                d->missing_in_dmp++;
                continue;
            }
            if (!b || n2 < WIN_DUMP_PAGE_SIZE) {
                d->missing_in_elf++;
                continue;
            }
            d->compared++;
            if (!memcmp(a, b, WIN_DUMP_PAGE_SIZE)) {
                continue;
            }
            if (page_differs(&wd, pa, a, b, &patched, &where)) {
                d->differ++;
                if (shown++ < 10) {
                    warn("page 0x%" PRIx64 " differs from the ELF core, first"
                         " at 0x%" PRIx64, pa, where);
                }
            } else if (patched) {
                d->patched++;
            }
        }
    }

    d->header_diffs = header_diffs(df, &wd);
    d->header_cpu = -1;
    for (i = 0; i < elf->elf.nr_cpus && d->header_cpu < 0; i++) {
        if (context_matches((const WinContext *)(df->x64 ?
                            df->hdr->x64.ContextRecord :
                            df->hdr->x32.ContextRecord), df->x64,
                            &elf->elf.win_cpus[i])) {
            d->header_cpu = i;
        }
    }
    /* the contexts are left out above: their registers must be the core's */
    for (i = 0; df->cpus && i < MIN(df->nr_processors, elf->elf.nr_cpus);
         i++) {
        if (!df->cpus[i].has_context) {
            continue;
        }
        d->contexts++;
        if (!context_matches(&df->cpus[i].context, df->x64,
                             &elf->elf.win_cpus[i])) {
            d->context_diffs++;
            warn("processor %zu: the registers in its KPRCB context are not"
                 " the core's", i);
        }
    }

    /* the dump must not hold pages the guest's runs do not list */
    for (i = 0; i < df->nr_extents; i++) {
        WinDumpRange r = { df->extents[i].pa,
                           df->extents[i].pa + df->extents[i].len };
        size_t k;
        bool in = false;

        for (k = 0; k < wd.nr_extents && !in; k++) {
            in = r.start >= wd.extents[k].start && r.end <= wd.extents[k].end;
        }
        if (!in) {
            d->missing_in_elf++;
        }
    }
    windmp_cleanup(&wd);
    return true;
}

static int cmd_verify(Input *in)
{
    DmpFile *df = &in->dmp;
    Input elf;
    Diff d;
    Error *err = NULL;
    bool pass;

    if (in->is_elf) {
        return fail(EXIT_INPUT, "%s: verify checks a Windows crash dump; this"
                    " is an ELF core (try 'windmp info', or 'windmp convert'"
                    " and verify the result --against it)", in->path);
    }
    pass = dmpfile_count(df, DMP_ERROR) == 0;
    if (opt_against) {
        if (!input_open(&elf, opt_against, &err)) {
            return fail_err(EXIT_INPUT, err);
        }
        if (!input_parse(&elf, false, &err)) {
            input_close(&elf);
            return fail_err(EXIT_INPUT, err);
        }
        if (!elf.is_elf) {
            input_close(&elf);
            return fail(EXIT_INPUT, "--against %s: not a QEMU ELF core but a"
                        " Windows crash dump", opt_against);
        }
        if (!verify_against(in, &elf, &d, &err)) {
            input_close(&elf);
            return fail_err(EXIT_INPUT, err);
        }
        input_close(&elf);
        pass = pass && !d.differ && !d.missing_in_dmp && !d.missing_in_elf &&
               d.compared && !d.header_diffs && !d.context_diffs;
    }

    if (opt_json) {
        g_autoptr(JSONWriter) j = json_writer_new(false);
        json_writer_start_object(j, NULL);
        json_writer_str(j, "file", in->path);
        json_writer_bool(j, "pass", pass);
        json_writer_uint64(j, "errors", dmpfile_count(df, DMP_ERROR));
        json_writer_uint64(j, "warnings", dmpfile_count(df, DMP_WARNING) -
                           dmpfile_count(df, DMP_ERROR));
        json_findings(j, df);
        if (opt_against) {
            json_writer_start_object(j, "against");
            json_writer_str(j, "file", opt_against);
            json_writer_uint64(j, "pages_compared", d.compared);
            json_writer_uint64(j, "pages_patched", d.patched);
            json_writer_uint64(j, "pages_differ", d.differ);
            json_writer_uint64(j, "pages_missing_in_dump", d.missing_in_dmp);
            json_writer_uint64(j, "ranges_not_in_core", d.missing_in_elf);
            json_writer_uint64(j, "header_bytes_differ", d.header_diffs);
            if (d.header_cpu >= 0) {
                json_writer_uint64(j, "header_context_cpu", d.header_cpu);
            } else {
                json_writer_null(j, "header_context_cpu");
            }
            json_writer_uint64(j, "contexts_compared", d.contexts);
            json_writer_uint64(j, "contexts_differ", d.context_diffs);
            json_writer_end_object(j);
        }
        json_writer_end_object(j);
        printf("%s\n", json_writer_get(j));
    } else {
        print_findings(df);
        if (opt_against) {
            printf("against %s: %" PRIu64 " pages compared, %" PRIu64
                   " identical, %" PRIu64 " identical outside the processor"
                   " contexts, %" PRIu64 " differ, %" PRIu64 " missing from"
                   " the dump, %" PRIu64 " not in the core\n", opt_against,
                   d.compared, d.compared - d.differ - d.patched, d.patched,
                   d.differ, d.missing_in_dmp, d.missing_in_elf);
            g_autofree char *whose = d.header_cpu < 0 ?
                g_strdup("no vCPU's registers (stale? stock QEMU keeps the"
                         " driver's boot-time context)") :
                g_strdup_printf("vCPU %d's registers", d.header_cpu);

            printf("against %s: header %s (SystemTime aside); its context"
                   " holds %s; %u of %u processor contexts hold the core's"
                   " registers\n", opt_against,
                   d.header_diffs ? "DIFFERS from the conversion" :
                   "equals the conversion", whose,
                   d.contexts - d.context_diffs, d.contexts);
        }
        printf("%s: %s\n", in->path, pass ? "PASS" : "FAIL");
    }
    return pass ? EXIT_OK : EXIT_FAIL;
}

/* ------------------------------------------------------------ read */

static bool parse_u64(const char *s, uint64_t *v)
{
    char *end;

    errno = 0;
    *v = g_ascii_strtoull(s, &end, 0);
    return !errno && end != s && !*end;
}

static void hexdump(uint64_t addr, const uint8_t *p, size_t len)
{
    size_t i, k;

    for (i = 0; i < len; i += 16) {
        printf("%016" PRIx64 ": ", addr + i);
        for (k = 0; k < 16; k++) {
            if (i + k < len) {
                printf("%02x ", p[i + k]);
            } else {
                printf("   ");
            }
        }
        printf(" |");
        for (k = 0; k < 16 && i + k < len; k++) {
            putchar(g_ascii_isprint(p[i + k]) ? p[i + k] : '.');
        }
        printf("|\n");
    }
}

/* The address space to read virtual addresses in */
static bool read_space(Input *in, const WinDumpGuest *g, WinDumpSpace *as,
                       Error **errp)
{
    WinDumpPaging paging;
    uint64_t dtb;

    if (!in->is_elf) {
        paging = dmpfile_paging(&in->dmp);
        dtb = in->dmp.dtb;
    } else {
        const ElfCore *ec = &in->elf;
        const WinDumpHeader *h = NULL;

        if (ec->guest_note &&
            windmp_note_check(ec->guest_note, ec->guest_note_size, NULL)) {
            h = (const void *)(ec->guest_note + VMCOREINFO_ELF_NOTE_HDR_SIZE);
        }
        if (h && !memcmp(h->x64.ValidDump, "DU64", 4)) {
            /* as convert does: from the vCPUs' CR4.LA57, unless told */
            paging = WIN_DUMP_PAGING_LM4;
            if (!opt_paging &&
                !windmp_x64_paging(g, le32_to_cpu(h->x64.NumberProcessors),
                                   &paging, errp)) {
                return false;
            }
            dtb = le64_to_cpu(h->x64.DirectoryTableBase);
        } else if (h) {
            paging = h->x32.PaeEnabled ? WIN_DUMP_PAGING_PAE :
                                         WIN_DUMP_PAGING_X86;
            dtb = le32_to_cpu(h->x32.DirectoryTableBase);
        } else if (ec->cpus[0].has_qemu_note && (ec->cpus[0].cr[0] >> 31)) {
            /* no Windows header: the first vCPU's page tables */
            paging = ec->machine != EM_X86_64 ?
                     ((ec->cpus[0].cr[4] & 0x20) ? WIN_DUMP_PAGING_PAE :
                      WIN_DUMP_PAGING_X86) :
                     (ec->cpus[0].cr[4] & 0x1000) ? WIN_DUMP_PAGING_LM5 :
                     WIN_DUMP_PAGING_LM4;
            dtb = ec->cpus[0].cr[3];
        } else {
            error_setg(errp, "the core has no Windows header, and no control"
                       " registers of its first vCPU with paging on: give the"
                       " page tables' address with --dtb");
            return false;
        }
    }
    if (opt_dtb && !parse_u64(opt_dtb, &dtb)) {
        error_setg(errp, "--dtb %s: not a number", opt_dtb);
        return false;
    }
    if (opt_paging && (paging == WIN_DUMP_PAGING_LM4 ||
                       paging == WIN_DUMP_PAGING_LM5)) {
        paging = opt_paging == 5 ? WIN_DUMP_PAGING_LM5 : WIN_DUMP_PAGING_LM4;
    }
    dtb &= paging == WIN_DUMP_PAGING_PAE ? ~0x1full : ~0xfffull;
    windmp_space_init(as, g, paging, dtb);
    return true;
}

static int cmd_read(Input *in, const char *len_arg)
{
    WinDumpGuest g;
    WinDumpSpace as = { 0 };
    uint64_t addr, len = 256, done = 0;
    g_autofree uint8_t *buf = NULL;
    Error *err = NULL;
    bool virt = opt_virt != NULL;
    int ret = EXIT_OK;

    if (!opt_phys == !opt_virt) {
        return fail(EXIT_USAGE, "read wants one of --phys ADDR or --virt ADDR");
    }
    if (!parse_u64(virt ? opt_virt : opt_phys, &addr)) {
        return fail(EXIT_USAGE, "%s: not an address",
                    virt ? opt_virt : opt_phys);
    }
    if (len_arg && (!parse_u64(len_arg, &len) || !len ||
                    len > 64 * 1024 * 1024)) {
        return fail(EXIT_USAGE, "%s: the length must be 1 to 64 MiB", len_arg);
    }
    if (in->is_elf) {
        /* all of it: firmware is worth a look too */
        elfcore_memory(&in->elf, &g);
    } else {
        dmpfile_guest(&in->dmp, &g);
    }
    if (virt && !read_space(in, &g, &as, &err)) {
        return fail_err(EXIT_USAGE, err);
    }

    buf = g_malloc(len);
    while (done < len) {
        uint64_t pa, n = len - done;

        if (virt) {
            if (!windmp_translate(&as, addr + done, &pa, &n, &err)) {
                break;
            }
            n = MIN(n, len - done);
        } else {
            pa = addr + done;
            n = MIN(n, WIN_DUMP_PAGE_SIZE - (pa & (WIN_DUMP_PAGE_SIZE - 1)));
        }
        if (!windmp_is_ram(&g, pa, n)) {
            error_setg(&err, "%s physical page 0x%" PRIx64 "%s not in the"
                       " %s", virt ? "it maps to" : "the",
                       pa & ~(uint64_t)(WIN_DUMP_PAGE_SIZE - 1),
                       virt ? ", which is" : " is",
                       in->is_elf ? "core" : "dump");
            break;
        }
        if (!windmp_read_phys(&g, pa, buf + done, n, &err)) {
            break;
        }
        done += n;
    }
    if (opt_raw) {
        fwrite(buf, 1, done, stdout);
    } else {
        hexdump(addr, buf, done);
    }
    if (err) {
        fflush(stdout);
        fail(EXIT_FAIL, "%s address 0x%" PRIx64 ": memory not available: %s",
             virt ? "virtual" : "physical", addr + done,
             error_get_pretty(err));
        error_free(err);
        ret = EXIT_FAIL;
    }
    if (virt) {
        windmp_space_destroy(&as);
    }
    return ret;
}

/* ------------------------------------------------------------ main */

/* Each command's options only, with values that make sense */
static bool check_options(const char *cmd)
{
    bool convert = !strcmp(cmd, "convert"), read = !strcmp(cmd, "read");
    const char *stray = NULL;

    if (!convert && opt_cpu != -1) {
        stray = "--cpu";
    } else if (!convert && opt_time) {
        stray = "--system-time";
    } else if (!convert && opt_kernel) {
        stray = "--kernel";
    } else if (strcmp(cmd, "verify") && opt_against) {
        stray = "--against";
    } else if (!read && (opt_phys || opt_virt || opt_dtb || opt_raw)) {
        stray = opt_phys ? "--phys" : opt_virt ? "--virt" :
                opt_dtb ? "--dtb" : "--raw";
    } else if (opt_json && (convert || read)) {
        stray = "--json";
    } else if (convert && opt_paging) {
        stray = "--paging";
    }
    if (stray) {
        fail(EXIT_USAGE, "%s is not an option of '%s'", stray, cmd);
        return false;
    }
    if (convert && opt_cpu < -1) {
        fail(EXIT_USAGE, "--cpu %d: not a vCPU index", opt_cpu);
        return false;
    }
    if (opt_paging && opt_paging != 4 && opt_paging != 5) {
        fail(EXIT_USAGE, "--paging %d: x64 page tables have 4 or 5 levels",
             opt_paging);
        return false;
    }
    if (opt_time && strcmp(opt_time, "input") && strcmp(opt_time, "now") &&
        strcmp(opt_time, "guest")) {
        fail(EXIT_USAGE, "--system-time %s: use input, now or guest",
             opt_time);
        return false;
    }
    return true;
}

static const char *usage =
    "COMMAND FILE...\n\n"
    "Commands:\n"
    "  info FILE                       what a .dmp or QEMU ELF core holds\n"
    "  convert IN.elf OUT.dmp          QEMU ELF core -> Windows crash dump\n"
    "  verify FILE.dmp [--against IN.elf]\n"
    "                                  check a dump; exit 0 if it passes\n"
    "  read FILE (--phys|--virt) ADDR [LEN]\n"
    "                                  hexdump memory from a dump or core\n\n"
    "Exit status: 0 ok, 1 check failed or memory not available, 2 usage,\n"
    "3 bad input, 4 cannot write the output.  See windmp(1).";

static GOptionEntry common_entries[] = {
    { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json,
      "Machine-readable output (info, verify)", NULL },
    { "quiet", 'q', 0, G_OPTION_ARG_NONE, &opt_quiet,
      "No warnings or progress", NULL },
    { "version", 0, 0, G_OPTION_ARG_NONE, &opt_version,
      "Print the version", NULL },
    { NULL }
};

static GOptionEntry convert_entries[] = {
    { "cpu", 0, 0, G_OPTION_ARG_INT, &opt_cpu,
      "convert: the vCPU that crashed, whose registers go in the header"
      " (default 0)", "N" },
    { "system-time", 0, 0, G_OPTION_ARG_STRING, &opt_time,
      "convert: SystemTime from the core's mtime (input, default), now,"
      " or the guest's header (guest)", "WHEN" },
    { "kernel", 'k', 0, G_OPTION_ARG_NONE, &opt_kernel,
      "convert: a kernel memory dump (DumpType 5): only what the kernel"
      " maps, not all of RAM", NULL },
    { "against", 0, 0, G_OPTION_ARG_FILENAME, &opt_against,
      "verify: compare every page with this ELF core", "IN.elf" },
    { "phys", 0, 0, G_OPTION_ARG_STRING, &opt_phys,
      "read: a guest-physical address", "ADDR" },
    { "virt", 0, 0, G_OPTION_ARG_STRING, &opt_virt,
      "read: a virtual address, through the dump's page tables", "ADDR" },
    { "dtb", 0, 0, G_OPTION_ARG_STRING, &opt_dtb,
      "read: page tables at this physical address instead", "ADDR" },
    { "raw", 0, 0, G_OPTION_ARG_NONE, &opt_raw,
      "read: write the bytes, not a hexdump", NULL },
    { "paging", 0, 0, G_OPTION_ARG_INT, &opt_paging,
      "info, verify, read: walk x64 page tables with 4 or 5 (LA57) levels"
      " (default: what reaches the KDBG, or the vCPUs' CR4)", "LEVELS" },
    { NULL }
};

int main(int argc, char **argv)
{
    g_autoptr(GOptionContext) ctx = g_option_context_new(usage);
    GOptionGroup *group;
    Error *err = NULL;
    const char *cmd;
    Input in;
    int nargs, ret;

    g_option_context_add_main_entries(ctx, common_entries, NULL);
    group = g_option_group_new("command", "Command options:",
                               "Show command options", NULL, NULL);
    g_option_group_add_entries(group, convert_entries);
    g_option_context_add_group(ctx, group);
    g_option_context_set_summary(ctx, "Inspect, verify and convert Windows"
                                 " crash dumps of QEMU guests.");
    {
        GError *gerr = NULL;

        if (!g_option_context_parse(ctx, &argc, &argv, &gerr)) {
            fprintf(stderr, "%s: %s (try --help)\n", prog, gerr->message);
            g_error_free(gerr);
            return EXIT_USAGE;
        }
    }
    if (opt_version) {
        printf("windmp " WINDMP_VERSION "\n");
        return EXIT_OK;
    }
    if (argc < 3) {
        fprintf(stderr, "usage: %s %s\n", prog, usage);
        return EXIT_USAGE;
    }
    cmd = argv[1];
    nargs = argc - 2;
    if (!strcmp(cmd, "info") || !strcmp(cmd, "verify")) {
        if (nargs != 1) {
            return fail(EXIT_USAGE, "%s takes one file", cmd);
        }
    } else if (!strcmp(cmd, "convert")) {
        if (nargs != 2) {
            return fail(EXIT_USAGE, "convert takes IN.elf and OUT.dmp");
        }
    } else if (!strcmp(cmd, "read")) {
        if (nargs < 1 || nargs > 2) {
            return fail(EXIT_USAGE, "read takes FILE and an optional LEN");
        }
    } else {
        return fail(EXIT_USAGE, "unknown command '%s' (try --help)", cmd);
    }
    if (!check_options(cmd)) {
        return EXIT_USAGE;
    }

    if (!strcmp(cmd, "convert")) {
        /* leave no temporary file behind; a closed pipe is an error */
        struct sigaction sa = { .sa_handler = on_signal };

        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        sigaction(SIGHUP, &sa, NULL);
        sa.sa_handler = SIG_IGN;
        sigaction(SIGPIPE, &sa, NULL);
    }

    if (!input_open(&in, argv[2], &err)) {
        return fail_err(EXIT_INPUT, err);
    }
    if (!input_parse(&in, !strcmp(cmd, "info") || !strcmp(cmd, "verify"),
                     &err)) {
        input_close(&in);
        return fail_err(EXIT_INPUT, err);
    }
    if (in.is_elf && !opt_json && strcmp(cmd, "info")) {
        guint i;

        for (i = 0; i < in.elf.warnings->len; i++) {
            warn("%s: %s", in.path, (char *)in.elf.warnings->pdata[i]);
        }
    }

    if (!strcmp(cmd, "info")) {
        ret = cmd_info(&in);
    } else if (!strcmp(cmd, "convert")) {
        ret = cmd_convert(&in, argv[3]);
    } else if (!strcmp(cmd, "verify")) {
        ret = cmd_verify(&in);
    } else {
        ret = cmd_read(&in, nargs == 2 ? argv[3] : NULL);
    }
    fflush(stdout);
    if (ferror(stdout) && ret == EXIT_OK) {
        ret = fail(EXIT_OUTPUT, "cannot write to standard output");
    }
    input_close(&in);
    return ret;
}
