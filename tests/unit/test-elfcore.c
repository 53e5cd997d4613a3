/*
 * Unit tests of windmp's QEMU ELF core parser (qemu/contrib/windmp/elfcore.c):
 * synthetic cores as dump-guest-memory writes them, and every way a
 * truncated, corrupt or hostile one must be refused with a clear error.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "elfcore.h"
#include "windmp-synth.h"

#define RAM_SIZE    0x20000ull

typedef struct Case {
    SynthGuest sg;
    SynthElfOpts o;
    SynthElf e;
    ElfCore ec;
    bool parsed;
} Case;

static Case *case_new(WinDumpPaging paging, unsigned nr_cpus)
{
    Case *c = g_new0(Case, 1);

    synth_init(&c->sg, paging, false, RAM_SIZE, nr_cpus);
    c->o = synth_elf_default(&c->sg);
    return c;
}

static void case_build(Case *c)
{
    if (c->e.buf) {
        g_byte_array_free(c->e.buf, true);
    }
    synth_elf(&c->sg, &c->o, &c->e);
}

static void case_free(Case *c)
{
    if (c->parsed) {
        elfcore_free(&c->ec);
    }
    if (c->e.buf) {
        g_byte_array_free(c->e.buf, true);
    }
    synth_free(&c->sg);
    g_free(c);
}

static uint8_t *at(Case *c, uint64_t off)
{
    g_assert_cmpuint(off, <, c->e.buf->len);
    return c->e.buf->data + off;
}

/* Store @v in the field @f of program header @i, in the file's class */
#define SET_PH(c, i, f, v) \
    set_field(c, SYNTH_PH(&(c)->e, i, f, (c)->o.elf64), \
              (c)->o.elf64 ? sizeof(((Elf64_Phdr *)0)->f) : \
                             sizeof(((Elf32_Phdr *)0)->f), v)
#define SET_EH(c, f, v) \
    set_field(c, (c)->o.elf64 ? offsetof(Elf64_Ehdr, f) : \
                                offsetof(Elf32_Ehdr, f), \
              (c)->o.elf64 ? sizeof(((Elf64_Ehdr *)0)->f) : \
                             sizeof(((Elf32_Ehdr *)0)->f), v)

static void set_field(Case *c, uint64_t off, size_t size, uint64_t v)
{
    switch (size) {
    case 2:
        synth_put16(at(c, off), v);
        break;
    case 4:
        g_assert_cmphex(v, <=, UINT32_MAX);
        synth_put32(at(c, off), v);
        break;
    default:
        synth_put64(at(c, off), v);
    }
}

static void dump_warnings(const ElfCore *ec)
{
    guint i;

    for (i = 0; i < ec->warnings->len; i++) {
        g_test_message("warning: %s",
                       (char *)g_ptr_array_index(ec->warnings, i));
    }
}

static void parse_ok(Case *c)
{
    Error *err = NULL;

    if (!elfcore_parse(&c->ec, c->e.buf->data, c->e.buf->len, &err)) {
        g_test_message("elfcore_parse: %s", error_get_pretty(err));
        g_assert_not_reached();
    }
    c->parsed = true;
    dump_warnings(&c->ec);
}

/* elfcore_parse() must fail, say @needle, and leave nothing behind */
static void parse_fails_len(Case *c, uint64_t len, const char *needle)
{
    Error *err = NULL;
    ElfCore ec;

    memset(&ec, 0x5a, sizeof(ec));
    g_assert_false(elfcore_parse(&ec, c->e.buf->data, len, &err));
    g_assert_nonnull(err);
    g_test_message("error: %s", error_get_pretty(err));
    if (!strstr(error_get_pretty(err), needle)) {
        g_test_message("error lacks '%s'", needle);
        g_assert_not_reached();
    }
    g_assert_null(ec.segs);
    g_assert_null(ec.ram);
    g_assert_null(ec.cpus);
    g_assert_null(ec.warnings);
    error_free(err);
}

static void parse_fails(Case *c, const char *needle)
{
    parse_fails_len(c, c->e.buf->len, needle);
}

static bool warned(const ElfCore *ec, const char *needle)
{
    guint i;

    for (i = 0; i < ec->warnings->len; i++) {
        if (strstr(g_ptr_array_index(ec->warnings, i), needle)) {
            return true;
        }
    }
    return false;
}

/* Registers of every vCPU where WinDumpCpu says they go */
static void check_regs(Case *c, bool qemu_note)
{
    unsigned i, k;

    g_assert_cmpuint(c->ec.nr_cpus, ==, c->sg.nr_cpus);
    for (i = 0; i < c->ec.nr_cpus; i++) {
        const ElfCoreCpu *e = &c->ec.cpus[i];
        const WinDumpCpu *want = &c->sg.cpus[i];

        for (k = 0; k < 16; k++) {
            g_assert_cmphex(e->regs.regs[k], ==, want->regs[k]);
        }
        g_assert_cmphex(e->regs.rip, ==, want->rip);
        g_assert_cmphex(e->regs.rflags, ==, want->rflags);
        for (k = 0; k < 6; k++) {
            g_assert_cmphex(e->regs.sel[k], ==, want->sel[k]);
        }
        g_assert(e->has_qemu_note == qemu_note);
        for (k = 0; k < 5; k++) {
            g_assert_cmphex(e->cr[k], ==, qemu_note ? want->cr[k] : 0);
        }
        g_assert_cmphex(e->kernel_gs_base, ==,
                        qemu_note ? SYNTH_KERNEL_GS(i) : 0);
        /* what the core does not carry: reset values */
        g_assert_cmphex(e->regs.fx.MxCsr, ==, 0x1f80);
        g_assert_cmphex(e->regs.fx.ControlWord, ==, 0x37f);
        g_assert_cmphex(e->regs.dr[7], ==, 0x400);
        g_assert_false(e->regs.crashed);
        /* the core's copy is the same */
        g_assert(!memcmp(&c->ec.win_cpus[i], &e->regs, sizeof(e->regs)));
    }
}

/* elfcore_ptr() at @pa gives @want with @avail bytes to the range's end */
static void check_ptr(Case *c, uint64_t pa, const uint8_t *want,
                      uint64_t avail)
{
    uint64_t len = UINT64_MAX;
    const uint8_t *p = elfcore_ptr(&c->ec, pa, &len);

    g_assert(p == want);
    g_assert_cmphex(len, ==, avail);
    /* a shorter request is not lengthened */
    len = 3;
    g_assert(elfcore_ptr(&c->ec, pa, &len) == want);
    g_assert_cmpuint(len, ==, MIN(3, avail));
}

static void check_no_ptr(Case *c, uint64_t pa)
{
    uint64_t len = 8;

    g_assert_null(elfcore_ptr(&c->ec, pa, &len));
    g_assert_cmpuint(len, ==, 8);
}

static void check_guest_note(Case *c)
{
    Error *err = NULL;

    /* an aligned copy of the note as the guest wrote it */
    g_assert_cmpuint(c->ec.guest_note_size, ==,
                     VMCOREINFO_ELF_NOTE_HDR_SIZE + c->sg.hdr_size);
    g_assert(!memcmp(c->ec.guest_note, c->e.buf->data + c->e.vmci_off,
                     c->ec.guest_note_size));
    g_assert_cmpuint((uintptr_t)c->ec.guest_note % 8, ==, 0);
    g_assert_true(windmp_note_check(c->ec.guest_note, c->ec.guest_note_size,
                                    &err));
}

/* ---- QEMU's cores ---- */

static void test_good(WinDumpPaging paging, bool elf64)
{
    Case *c = case_new(paging, 2);
    const uint8_t *ram;
    uint64_t pa;

    c->o.elf64 = elf64;
    case_build(c);
    parse_ok(c);
    g_assert(c->ec.elf64 == elf64);
    g_assert_cmpuint(c->ec.machine, ==, c->sg.x64 ? EM_X86_64 : EM_386);
    g_assert_cmpuint(c->ec.warnings->len, ==, 0);
    g_assert_false(c->ec.paging);
    check_regs(c, true);

    g_assert_cmpuint(c->ec.nr_segs, ==, 1);
    g_assert_cmpuint(c->ec.nr_ram, ==, 1);
    g_assert_cmphex(c->ec.ram[0].start, ==, 0);
    g_assert_cmphex(c->ec.ram[0].end, ==, RAM_SIZE);
    g_assert_cmpuint(c->ec.ram_bytes, ==, RAM_SIZE);
    ram = c->e.buf->data + c->e.load_off[0];
    for (pa = 0; pa < RAM_SIZE; pa += 0x1008) {
        check_ptr(c, pa, ram + pa, RAM_SIZE - pa);
    }
    check_ptr(c, RAM_SIZE - 1, ram + RAM_SIZE - 1, 1);
    check_no_ptr(c, RAM_SIZE);
    check_no_ptr(c, UINT64_MAX);
    check_guest_note(c);
    case_free(c);
}

static void test_good_x64(void)
{
    test_good(WIN_DUMP_PAGING_LM4, true);
}

static void test_good_x86_elf32(void)
{
    test_good(WIN_DUMP_PAGING_PAE, false);
}

/* QEMU writes ELF64 for a 32-bit guest with RAM above 4 GiB */
static void test_good_x86_elf64(void)
{
    test_good(WIN_DUMP_PAGING_X86, true);
}

/*
 * An LA57 guest: its QEMU notes' CR4 says 5 levels, and with them the
 * core's KDBG is found where 4 levels cannot reach
 */
static void test_la57(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM5, 2);
    WinDumpPaging paging;
    WinDumpGuest g;
    WinDump wd;
    Error *err = NULL;

    case_build(c);
    parse_ok(c);
    check_regs(c, true);
    elfcore_guest(&c->ec, &g);
    g_assert_true(windmp_x64_paging(&g, 2, &paging, &err));
    g_assert_cmpint(paging, ==, WIN_DUMP_PAGING_LM5);
    if (!windmp_prepare(&wd, &g, c->ec.guest_note, c->ec.guest_note_size,
                        NULL, &err)) {
        g_test_message("windmp_prepare: %s", error_get_pretty(err));
        g_assert_not_reached();
    }
    g_assert_cmpint(wd.paging, ==, WIN_DUMP_PAGING_LM5);
    g_assert_cmphex(wd.kdbg_va, ==, synth_va(&c->sg, SYNTH_KDBG_PA));
    g_assert_cmpuint(wd.nr_contexts, ==, 2);
    windmp_cleanup(&wd);
    case_free(c);
}

/*
 * The offsets elfcore.c reads the "QEMU" note with are the ones the
 * tests' notes are written with, so a round trip cannot catch a slip in
 * them: check them by number against QEMU's layout
 * (target/i386/arch_dump.c: RAX, RBX, RCX, RDX, RSI, RDI, RSP, RBP and
 * R8-R15 from 0x8; CS, DS, ES, FS, GS and SS from 0x98, 24 bytes each).
 */
static void test_qemu_note_layout(void)
{
    /* WinDumpCpu.regs[]: RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8-R15 */
    static const size_t regs[16] = {
        0x08, 0x18, 0x20, 0x10, 0x38, 0x40, 0x28, 0x30,
        0x48, 0x50, 0x58, 0x60, 0x68, 0x70, 0x78, 0x80,
    };
    /* WinDumpCpu.sel[]: ES, CS, SS, DS, FS, GS */
    static const size_t segs[6] = { 0xc8, 0x98, 0x110, 0xb0, 0xe0, 0xf8 };
    unsigned k;

    for (k = 0; k < 16; k++) {
        g_assert_cmphex(elf_qemu_reg_offsets[k], ==, regs[k]);
    }
    for (k = 0; k < 6; k++) {
        g_assert_cmphex(elf_qemu_seg_offsets[k], ==, segs[k]);
    }
}

/* A core not written by QEMU: registers from NT_PRSTATUS alone */
static void test_prstatus_only(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 3);

    c->o.qemu_notes = false;
    case_build(c);
    parse_ok(c);
    check_regs(c, false);
    g_assert_true(warned(&c->ec, "no QEMU CPU notes"));
    case_free(c);
}

/* QEMU's 32-bit NT_PRSTATUS has no registers: QEMU notes are needed */
static void test_elf32_prstatus_only(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_X86, 1);

    c->o.elf64 = false;
    c->o.qemu_notes = false;
    case_build(c);
    parse_fails(c, "no CPU state");
    case_free(c);
}

static void test_no_vmcoreinfo(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    c->o.vmcoreinfo = false;
    case_build(c);
    parse_ok(c);
    g_assert_null(c->ec.guest_note);
    g_assert_cmpuint(c->ec.guest_note_size, ==, 0);
    case_free(c);
}

/* More CPUs in one note kind than in the other: tolerated, said */
static void test_note_count_mismatch(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 2);

    c->o.prstatus = true;
    case_build(c);
    /* the second NT_PRSTATUS becomes a note of another type */
    synth_put32(at(c, c->e.prstatus_off[1] + 8), 0x4242);
    parse_ok(c);
    g_assert_cmpuint(c->ec.nr_cpus, ==, 2);
    g_assert_true(warned(&c->ec, "1 NT_PRSTATUS notes but 2 QEMU notes"));
    case_free(c);
}

/* Contiguous PT_LOADs merge into one range */
static void test_ram_merge(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    c->o.nr_loads = 3;
    case_build(c);
    parse_ok(c);
    g_assert_cmpuint(c->ec.nr_segs, ==, 3);
    g_assert_cmpuint(c->ec.nr_ram, ==, 1);
    g_assert_cmphex(c->ec.ram[0].end, ==, RAM_SIZE);
    check_ptr(c, 0x5000, c->e.buf->data + c->e.load_off[0] + 0x5000,
              RAM_SIZE - 0x5000);
    case_free(c);
}

/* PT_LOADs out of order, with a hole: a sorted map with two ranges */
static void test_ram_sorted(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);
    uint64_t half = RAM_SIZE / 2, high = 0x100000000ull;
    uint8_t ph[sizeof(Elf64_Phdr)];

    c->o.nr_loads = 2;
    case_build(c);
    SET_PH(c, 2, p_paddr, high);
    SET_PH(c, 2, p_vaddr, high);
    /* the high one first in the table */
    memcpy(ph, at(c, SYNTH_PH(&c->e, 1, p_type, true)), sizeof(ph));
    memcpy(at(c, SYNTH_PH(&c->e, 1, p_type, true)),
           at(c, SYNTH_PH(&c->e, 2, p_type, true)), sizeof(ph));
    memcpy(at(c, SYNTH_PH(&c->e, 2, p_type, true)), ph, sizeof(ph));
    parse_ok(c);
    g_assert_cmpuint(c->ec.nr_ram, ==, 2);
    g_assert_cmphex(c->ec.ram[0].start, ==, 0);
    g_assert_cmphex(c->ec.ram[0].end, ==, half);
    g_assert_cmphex(c->ec.ram[1].start, ==, high);
    g_assert_cmphex(c->ec.ram[1].end, ==, high + half);
    g_assert_cmpuint(c->ec.ram_bytes, ==, RAM_SIZE);
    check_ptr(c, half - 8, c->e.buf->data + c->e.load_off[0] + half - 8, 8);
    check_no_ptr(c, half);
    check_ptr(c, high + 0x10, c->e.buf->data + c->e.load_off[1] + 0x10,
              half - 0x10);
    check_no_ptr(c, high + half);
    case_free(c);
}

/*
 * With paging, a page mapped twice is in two PT_LOADs: the first in the
 * table wins.  Here the second copy comes last, and then first.
 */
static void test_ram_duplicate(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);
    uint64_t dup = 2;           /* index of the duplicate's phdr */
    uint8_t ph[sizeof(Elf64_Phdr)];
    const uint8_t *main_ram, *dup_ram;

    c->o.dup_load = true;
    case_build(c);
    main_ram = c->e.buf->data + c->e.load_off[0];
    dup_ram = c->e.buf->data + c->e.load_off[1];
    parse_ok(c);
    g_assert_true(c->ec.paging);
    g_assert_cmpuint(c->ec.nr_segs, ==, 2);
    g_assert_cmpuint(c->ec.nr_ram, ==, 1);
    g_assert_cmpuint(c->ec.ram_bytes, ==, RAM_SIZE);
    check_ptr(c, 0, main_ram, RAM_SIZE);
    elfcore_free(&c->ec);
    c->parsed = false;

    memcpy(ph, at(c, SYNTH_PH(&c->e, 1, p_type, true)), sizeof(ph));
    memcpy(at(c, SYNTH_PH(&c->e, 1, p_type, true)),
           at(c, SYNTH_PH(&c->e, dup, p_type, true)), sizeof(ph));
    memcpy(at(c, SYNTH_PH(&c->e, dup, p_type, true)), ph, sizeof(ph));
    parse_ok(c);
    g_assert_cmpuint(c->ec.nr_ram, ==, 2);
    g_assert_cmphex(c->ec.ram[0].end, ==, 2 * SYNTH_PAGE);
    g_assert_cmphex(c->ec.ram[1].start, ==, 2 * SYNTH_PAGE);
    g_assert_cmphex(c->ec.ram[1].end, ==, RAM_SIZE);
    g_assert_cmpuint(c->ec.ram_bytes, ==, RAM_SIZE);
    check_ptr(c, 0x10, dup_ram + 0x10, 2 * SYNTH_PAGE - 0x10);
    g_assert_cmphex(dup_ram[0x10], ==, 0xee);
    check_ptr(c, 2 * SYNTH_PAGE, main_ram + 2 * SYNTH_PAGE,
              RAM_SIZE - 2 * SYNTH_PAGE);
    case_free(c);
}

/* A PT_LOAD with less in the file than in memory is said to be partial */
static void test_partial_load(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    SET_PH(c, 1, p_memsz, 2 * RAM_SIZE);
    parse_ok(c);
    g_assert_true(warned(&c->ec, "holds 0x20000 of its 0x40000 bytes"));
    g_assert_cmpuint(c->ec.ram_bytes, ==, RAM_SIZE);
    case_free(c);
}

/* Padding after the last note is tolerated, with a warning */
static void test_note_stray_bytes(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    g_assert_cmpuint(c->e.note_off + c->e.note_size + 8, <=,
                     c->e.load_off[0]);
    SET_PH(c, 0, p_filesz, c->e.note_size + 8);
    parse_ok(c);
    g_assert_true(warned(&c->ec, "8 stray bytes at the end of the notes"));
    check_guest_note(c);
    case_free(c);
}

static void test_xnum(gconstpointer data)
{
    Case *c = case_new(WIN_DUMP_PAGING_X86, 2);

    c->o.elf64 = GPOINTER_TO_INT(data);
    c->o.xnum = true;
    c->o.nr_loads = 2;
    case_build(c);
    parse_ok(c);
    g_assert_cmpuint(c->ec.nr_segs, ==, 2);
    g_assert_cmpuint(c->ec.nr_ram, ==, 1);
    check_regs(c, true);
    check_guest_note(c);
    case_free(c);

    /* no section header 0 to hold the count */
    c = case_new(WIN_DUMP_PAGING_X86, 1);
    c->o.elf64 = GPOINTER_TO_INT(data);
    c->o.xnum = true;
    case_build(c);
    SET_EH(c, e_shoff, 0);
    parse_fails(c, "PN_XNUM");
    SET_EH(c, e_shoff, c->e.buf->len - 4);
    parse_fails(c, "PN_XNUM");
    case_free(c);
}

/* ---- refused: not what QEMU writes ---- */

static void test_not_elf(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    parse_fails_len(c, 0, "not an ELF file");
    parse_fails_len(c, 3, "not an ELF file");
    parse_fails_len(c, EI_NIDENT - 1, "not an ELF file");
    memcpy(at(c, 0), "PAGEDU64", 8);
    parse_fails(c, "not an ELF file");
    g_assert_false(elfcore_is_elf(c->e.buf->data, c->e.buf->len));
    case_free(c);
}

static void test_bad_class(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    *at(c, EI_CLASS) = ELFCLASSNONE;
    parse_fails(c, "unknown ELF class 0");
    *at(c, EI_CLASS) = 7;
    parse_fails(c, "unknown ELF class 7");
    case_free(c);
}

static void test_big_endian(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    *at(c, EI_DATA) = ELFDATA2MSB;
    parse_fails(c, "big-endian");
    case_free(c);
}

static void test_short_header(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    parse_fails_len(c, sizeof(Elf64_Ehdr) - 1, "too short (63 bytes)");
    parse_fails_len(c, EI_NIDENT, "truncated?");
    case_free(c);

    c = case_new(WIN_DUMP_PAGING_X86, 1);
    c->o.elf64 = false;
    case_build(c);
    parse_fails_len(c, sizeof(Elf32_Ehdr) - 1, "too short (51 bytes)");
    case_free(c);
}

static void test_not_core(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    SET_EH(c, e_type, ET_EXEC);
    parse_fails(c, "not a core dump (e_type 2)");
    case_free(c);
}

static void test_wrong_machine(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    SET_EH(c, e_machine, EM_AARCH64);
    parse_fails(c, "machine 183, not of an x86 guest");
    case_free(c);
}

static void test_phentsize(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    SET_EH(c, e_phentsize, sizeof(Elf32_Phdr));
    parse_fails(c, "program headers of 32 bytes; ELF64 has 56");
    case_free(c);
}

static void test_phdrs_past_eof(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    SET_EH(c, e_phoff, c->e.buf->len - c->e.phentsize);
    parse_fails(c, "program headers at file offset");
    SET_EH(c, e_phoff, UINT64_MAX - 8);
    parse_fails(c, "run past the end of the file");
    /* a file cut inside its own program headers */
    SET_EH(c, e_phoff, c->e.phoff);
    parse_fails_len(c, c->e.phoff + c->e.phentsize + 1,
                    "2 program headers at file offset 0x40 run past the"
                    " end of the file");
    case_free(c);
}

/* The commonest corruption: a dump that did not finish writing */
static void test_truncated(gconstpointer data)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    c->o.elf64 = GPOINTER_TO_INT(data);
    if (!c->o.elf64) {
        c->o.machine = EM_386;
    }
    case_build(c);
    parse_fails_len(c, c->e.buf->len - 1,
                    "PT_LOAD segment 1 (file offset 0x");
    parse_fails_len(c, c->e.buf->len - 1, "the core is truncated");
    parse_fails_len(c, c->e.load_off[0], "the core is truncated");
    /* cut inside the notes: the PT_NOTE is what runs past now */
    parse_fails_len(c, c->e.note_off + 16, "PT_NOTE segment 0");
    case_free(c);
}

static void test_load_offset_huge(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    SET_PH(c, 1, p_offset, UINT64_MAX - 0x10);
    parse_fails(c, "runs past the end of the file");
    SET_PH(c, 1, p_offset, c->e.load_off[0]);
    SET_PH(c, 1, p_filesz, UINT64_MAX);
    parse_fails(c, "runs past the end of the file");
    case_free(c);
}

/*
 * A note that runs past its PT_NOTE segment is where the guest's size
 * went wrong: it and what follows are ignored, the CPU notes before it
 * kept; without CPU notes the core is refused.
 */
static void test_note_past_segment(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 2);

    case_build(c);
    /* the segment ends 4 bytes before its last note (the guest's) does */
    SET_PH(c, 0, p_filesz, c->e.note_size - 4);
    parse_ok(c);
    g_assert_true(warned(&c->ec, "runs past the end of its PT_NOTE segment;"
                         " it and what follows are ignored"));
    g_assert_null(c->ec.guest_note);
    check_regs(c, true);
    elfcore_free(&c->ec);
    c->parsed = false;
    SET_PH(c, 0, p_filesz, c->e.note_size);

    /* a guest note that claims more data than the segment holds */
    synth_put32(at(c, c->e.vmci_off + 4), 0x10000000);
    parse_ok(c);
    g_assert_true(warned(&c->ec, "(name 11 bytes, data 268435456 bytes)"
                         " runs past the end of its PT_NOTE segment"));
    g_assert_null(c->ec.guest_note);
    check_regs(c, true);
    elfcore_free(&c->ec);
    c->parsed = false;

    /* ... or a longer name */
    synth_put32(at(c, c->e.vmci_off + 4), c->sg.hdr_size);
    synth_put32(at(c, c->e.vmci_off), 0x7fffffff);
    parse_ok(c);
    g_assert_true(warned(&c->ec, "(name 2147483647 bytes"));
    g_assert_null(c->ec.guest_note);
    elfcore_free(&c->ec);
    c->parsed = false;
    synth_put32(at(c, c->e.vmci_off), 11);

    /* the first QEMU note breaks: NT_PRSTATUS is all that is left */
    synth_put32(at(c, c->e.qemu_note_off[0] + 4), 0x10000000);
    parse_ok(c);
    g_assert_true(warned(&c->ec, "runs past the end of its PT_NOTE"));
    g_assert_true(warned(&c->ec, "no QEMU CPU notes"));
    g_assert_null(c->ec.guest_note);
    check_regs(c, false);
    case_free(c);

    /* ... and without NT_PRSTATUS notes, nothing */
    c = case_new(WIN_DUMP_PAGING_LM4, 2);
    c->o.prstatus = false;
    case_build(c);
    synth_put32(at(c, c->e.qemu_note_off[0] + 4), 0x10000000);
    parse_fails(c, "the core holds no CPU state");
    case_free(c);
}

static void test_no_load(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    case_build(c);
    SET_PH(c, 1, p_type, PT_NULL);
    parse_fails(c, "no guest memory (no PT_LOAD)");
    case_free(c);
}

static void test_no_cpu_notes(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    c->o.qemu_notes = false;
    c->o.prstatus = false;
    case_build(c);
    parse_fails(c, "the core holds no CPU state");
    case_free(c);

    /* without its PT_NOTE, none of the notes are seen */
    c = case_new(WIN_DUMP_PAGING_LM4, 1);
    case_build(c);
    SET_PH(c, 0, p_type, PT_NULL);
    parse_fails(c, "no CPU state");
    case_free(c);
}

static void test_pa_overflow(gconstpointer data)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);

    c->o.elf64 = GPOINTER_TO_INT(data);
    if (!c->o.elf64) {
        c->o.machine = EM_386;
    }
    case_build(c);
    if (c->o.elf64) {
        SET_PH(c, 1, p_paddr, UINT64_MAX - 0xfff);
        parse_fails(c, "claims guest-physical 0xfffffffffffff000+0x20000,"
                    " beyond what x86 can address");
        SET_PH(c, 1, p_paddr, (1ull << 52) - RAM_SIZE + 1);
        parse_fails(c, "beyond what x86 can address");
        /* exactly at the limit is fine */
        SET_PH(c, 1, p_paddr, (1ull << 52) - RAM_SIZE);
        parse_ok(c);
        g_assert_cmphex(c->ec.ram[0].end, ==, 1ull << 52);
    } else {
        /* ELF32 cannot say more than 4 GiB: the top of that is fine */
        SET_PH(c, 1, p_paddr, 0x100000000ull - RAM_SIZE);
        parse_ok(c);
        g_assert_cmphex(c->ec.ram[0].end, ==, 0x100000000ull);
    }
    case_free(c);
}

/*
 * A note's sizes must not wrap when rounded up to 4 bytes: a note with
 * descsz 0xffffffff holds no 0xffffffff bytes, and a CPU note claiming
 * them must not be read past the end of the file.
 */
static void test_note_descsz_wraps(void)
{
    Case *c = case_new(WIN_DUMP_PAGING_LM4, 1);
    static const uint32_t sizes[] = { 0xfffffffd, 0xfffffffe, 0xffffffff };
    static const char *const names[] = { "QEMU", "CORE" };
    uint64_t tail;
    unsigned i, j;
    uint8_t *p;

    /* the guest's note: ignored, and not taken to reach past the file */
    case_build(c);
    for (i = 0; i < ARRAY_SIZE(sizes); i++) {
        synth_put32(at(c, c->e.vmci_off + 4), sizes[i]);
        parse_ok(c);
        g_assert_null(c->ec.guest_note);
        g_assert_true(warned(&c->ec, "runs past the end of its PT_NOTE"));
        elfcore_free(&c->ec);
        c->parsed = false;
    }
    case_free(c);

    /* CPU notes at the very end of the file: one header and name each */
    for (j = 0; j < ARRAY_SIZE(names); j++) {
        for (i = 0; i < ARRAY_SIZE(sizes); i++) {
            c = case_new(WIN_DUMP_PAGING_LM4, 1);
            c->o.vmcoreinfo = false;
            case_build(c);
            tail = c->e.buf->len;
            g_byte_array_set_size(c->e.buf, tail + 20);
            p = memset(c->e.buf->data + tail, 0, 20);
            synth_put32(p, 5);
            synth_put32(p + 4, sizes[i]);
            synth_put32(p + 8, NT_PRSTATUS);
            memcpy(p + 12, names[j], 5);
            SET_PH(c, 0, p_offset, tail);
            SET_PH(c, 0, p_filesz, 20);
            parse_fails(c, "the core holds no CPU state");
            case_free(c);
        }
    }
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);

    g_test_add_func("/elfcore/good/x64-elf64", test_good_x64);
    g_test_add_func("/elfcore/good/x86-elf32", test_good_x86_elf32);
    g_test_add_func("/elfcore/good/x86-elf64", test_good_x86_elf64);
    g_test_add_func("/elfcore/good/la57", test_la57);
    g_test_add_func("/elfcore/good/qemu-note-layout", test_qemu_note_layout);
    g_test_add_func("/elfcore/cpus/prstatus-only", test_prstatus_only);
    g_test_add_func("/elfcore/cpus/elf32-prstatus-only",
                    test_elf32_prstatus_only);
    g_test_add_func("/elfcore/cpus/count-mismatch", test_note_count_mismatch);
    g_test_add_func("/elfcore/note/no-vmcoreinfo", test_no_vmcoreinfo);
    g_test_add_func("/elfcore/note/stray-bytes", test_note_stray_bytes);
    g_test_add_func("/elfcore/ram/merge", test_ram_merge);
    g_test_add_func("/elfcore/ram/sorted", test_ram_sorted);
    g_test_add_func("/elfcore/ram/duplicate-first-wins", test_ram_duplicate);
    g_test_add_func("/elfcore/ram/partial-load", test_partial_load);
    g_test_add_data_func("/elfcore/xnum/elf64", GINT_TO_POINTER(true),
                         test_xnum);
    g_test_add_data_func("/elfcore/xnum/elf32", GINT_TO_POINTER(false),
                         test_xnum);
    g_test_add_func("/elfcore/bad/not-elf", test_not_elf);
    g_test_add_func("/elfcore/bad/class", test_bad_class);
    g_test_add_func("/elfcore/bad/big-endian", test_big_endian);
    g_test_add_func("/elfcore/bad/short-header", test_short_header);
    g_test_add_func("/elfcore/bad/not-core", test_not_core);
    g_test_add_func("/elfcore/bad/machine", test_wrong_machine);
    g_test_add_func("/elfcore/bad/phentsize", test_phentsize);
    g_test_add_func("/elfcore/bad/phdrs-past-eof", test_phdrs_past_eof);
    g_test_add_data_func("/elfcore/bad/truncated/elf64",
                         GINT_TO_POINTER(true), test_truncated);
    g_test_add_data_func("/elfcore/bad/truncated/elf32",
                         GINT_TO_POINTER(false), test_truncated);
    g_test_add_func("/elfcore/bad/load-offset-huge", test_load_offset_huge);
    g_test_add_func("/elfcore/bad/note-past-segment",
                    test_note_past_segment);
    g_test_add_func("/elfcore/bad/no-load", test_no_load);
    g_test_add_func("/elfcore/bad/no-cpu-notes", test_no_cpu_notes);
    g_test_add_data_func("/elfcore/bad/pa-overflow/elf64",
                         GINT_TO_POINTER(true), test_pa_overflow);
    g_test_add_data_func("/elfcore/bad/pa-overflow/elf32",
                         GINT_TO_POINTER(false), test_pa_overflow);
    g_test_add_func("/elfcore/bad/note-descsz-wraps",
                    test_note_descsz_wraps);

    return g_test_run();
}
