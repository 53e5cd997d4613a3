/*
 * QEMU ELF cores (dump-guest-memory without -w) as seen by windmp
 *
 * QEMU writes: an ELF header (ELFCLASS32 for a 32-bit guest below 4 GiB,
 * else ELFCLASS64; EM_X86_64 if the first vCPU was in long mode, else
 * EM_386), one PT_NOTE with an NT_PRSTATUS "CORE" note per vCPU, then a
 * "QEMU" note per vCPU, then the guest's vmcoreinfo note if it published
 * one; then one PT_LOAD per guest RAM block, or per mapping with paging.
 * With more than 0xfffe program headers e_phnum is PN_XNUM and the count
 * is in section header 0.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include <elf.h>
#include "elfcore.h"

/* in 64 bits: a 32-bit size near 4 GiB must not wrap to 0 */
#define NOTE_ALIGN(x)   (((uint64_t)(x) + 3) & ~(uint64_t)3)

bool elfcore_is_elf(const void *data, uint64_t size)
{
    return size >= SELFMAG && !memcmp(data, ELFMAG, SELFMAG);
}

static void G_GNUC_PRINTF(2, 3)
elfcore_warn(ElfCore *ec, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    g_ptr_array_add(ec->warnings, g_strdup_vprintf(fmt, ap));
    va_end(ap);
}

/* Is [off, off + len) inside the file? */
static bool in_file(const ElfCore *ec, uint64_t off, uint64_t len)
{
    return off <= ec->size && len <= ec->size - off;
}

/* Fields of ELF32 and ELF64 structures, by their offsets in each class */
#define FIELD(ec, p, type, f) \
    ((ec)->elf64 ? field_ld(p, offsetof(Elf64_##type, f), \
                            sizeof_field(Elf64_##type, f)) : \
                   field_ld(p, offsetof(Elf32_##type, f), \
                            sizeof_field(Elf32_##type, f)))

static uint64_t field_ld(const uint8_t *p, size_t off, size_t size)
{
    switch (size) {
    case 2:
        return (uint16_t)lduw_le_p(p + off);
    case 4:
        return (uint32_t)ldl_le_p(p + off);
    default:
        return ldq_le_p(p + off);
    }
}

const size_t elf_qemu_reg_offsets[16] = {
    offsetof(ElfQemuCpuState, rax), offsetof(ElfQemuCpuState, rcx),
    offsetof(ElfQemuCpuState, rdx), offsetof(ElfQemuCpuState, rbx),
    offsetof(ElfQemuCpuState, rsp), offsetof(ElfQemuCpuState, rbp),
    offsetof(ElfQemuCpuState, rsi), offsetof(ElfQemuCpuState, rdi),
    offsetof(ElfQemuCpuState, r8), offsetof(ElfQemuCpuState, r9),
    offsetof(ElfQemuCpuState, r10), offsetof(ElfQemuCpuState, r11),
    offsetof(ElfQemuCpuState, r12), offsetof(ElfQemuCpuState, r13),
    offsetof(ElfQemuCpuState, r14), offsetof(ElfQemuCpuState, r15),
};

const size_t elf_qemu_seg_offsets[6] = {
    offsetof(ElfQemuCpuState, es), offsetof(ElfQemuCpuState, cs),
    offsetof(ElfQemuCpuState, ss), offsetof(ElfQemuCpuState, ds),
    offsetof(ElfQemuCpuState, fs), offsetof(ElfQemuCpuState, gs),
};

static void cpu_from_qemu_note(ElfCoreCpu *c, const uint8_t *d, uint32_t size)
{
    int i;

    for (i = 0; i < 16; i++) {
        c->regs.regs[i] = ldq_le_p(d + elf_qemu_reg_offsets[i]);
    }
    c->regs.rip = ldq_le_p(d + offsetof(ElfQemuCpuState, rip));
    c->regs.rflags = ldq_le_p(d + offsetof(ElfQemuCpuState, rflags));
    for (i = 0; i < 6; i++) {
        c->regs.sel[i] = ldl_le_p(d + elf_qemu_seg_offsets[i] +
                                  offsetof(ElfQemuSegment, selector));
    }
    for (i = 0; i < 5; i++) {
        c->cr[i] = ldq_le_p(d + offsetof(ElfQemuCpuState, cr) + 8 * i);
        c->regs.cr[i] = c->cr[i];
    }
    c->regs.has_cr = true;
    if (size >= sizeof(ElfQemuCpuState)) {
        c->kernel_gs_base =
            ldq_le_p(d + offsetof(ElfQemuCpuState, kernel_gs_base));
    }
    c->has_qemu_note = true;
}

/*
 * The x86-64 NT_PRSTATUS (Linux's struct elf_prstatus): enough for a
 * core written by something other than QEMU.  QEMU's 32-bit one carries
 * only EBP and ESP, so it is not used.
 */
#define PRSTATUS64_REGS     112
#define PRSTATUS64_SIZE     (PRSTATUS64_REGS + 27 * 8 + 8)

static void cpu_from_prstatus64(ElfCoreCpu *c, const uint8_t *d)
{
    /* user_regs_struct order: index of each x86 register */
    static const int8_t user_regs[27] = {
        15, 14, 13, 12, 5, 3, 11, 10, 9, 8, 0, 1, 2, 6, 7, -1,
        -2 /* rip */, -3 /* cs */, -4 /* eflags */, 4, -5 /* ss */,
        -1, -1, -6 /* ds */, -7 /* es */, -8 /* fs */, -9 /* gs */,
    };
    int i;

    for (i = 0; i < 27; i++) {
        uint64_t v = ldq_le_p(d + PRSTATUS64_REGS + 8 * i);

        switch (user_regs[i]) {
        case -1:
            break;
        case -2:
            c->regs.rip = v;
            break;
        case -3:
            c->regs.sel[1] = v;
            break;
        case -4:
            c->regs.rflags = v;
            break;
        case -5:
            c->regs.sel[2] = v;
            break;
        case -6:
            c->regs.sel[3] = v;
            break;
        case -7:
            c->regs.sel[0] = v;
            break;
        case -8:
            c->regs.sel[4] = v;
            break;
        case -9:
            c->regs.sel[5] = v;
            break;
        default:
            c->regs.regs[(int)user_regs[i]] = v;
        }
    }
}

/*
 * What the ELF core does not carry: the x87/SSE and debug registers.
 * Use their reset values, which is what a guest that never touched them
 * has, and what the in-tree backend then writes too.
 */
static void cpu_reset_state(ElfCoreCpu *c)
{
    c->regs.fx.ControlWord = 0x37f;
    c->regs.fx.MxCsr = 0x1f80;
    c->regs.fx.MxCsr_Mask = 0xffff;
    c->regs.dr[6] = 0xffff0ff0;
    c->regs.dr[7] = 0x400;
}

static void parse_notes(ElfCore *ec, uint64_t off, uint64_t len,
                        GArray *prstatus, GArray *qemu)
{
    uint64_t pos = off, end = off + len;

    while (pos < end) {
        uint32_t namesz, descsz, type;
        uint64_t name_off, desc_off, next;
        const char *name;

        if (end - pos < 12) {
            elfcore_warn(ec, "%" PRIu64 " stray bytes at the end of the notes"
                         " at file offset 0x%" PRIx64, end - pos, pos);
            break;
        }
        namesz = ldl_le_p(ec->data + pos);
        descsz = ldl_le_p(ec->data + pos + 4);
        type = ldl_le_p(ec->data + pos + 8);
        name_off = pos + 12;
        desc_off = name_off + NOTE_ALIGN(namesz);
        next = desc_off + NOTE_ALIGN(descsz);
        if (next > end || desc_off > end) {
            /*
             * The guest's note comes last and its size is the guest's
             * word: keep the CPU notes before it usable.
             */
            elfcore_warn(ec, "the ELF note at file offset 0x%" PRIx64
                         " (name %" PRIu32 " bytes, data %" PRIu32 " bytes)"
                         " runs past the end of its PT_NOTE segment; it and"
                         " what follows are ignored", pos, namesz, descsz);
            break;
        }
        name = (const char *)ec->data + name_off;

        if (namesz == 5 && !memcmp(name, "CORE", 5) && type == NT_PRSTATUS) {
            g_array_append_val(prstatus, pos);
        } else if (namesz == 5 && !memcmp(name, "QEMU", 5)) {
            if (descsz < ELF_QEMU_CPU_STATE_MIN_SIZE) {
                elfcore_warn(ec, "a QEMU CPU note of %" PRIu32 " bytes is"
                             " too short; ignored", descsz);
            } else {
                g_array_append_val(qemu, pos);
            }
        } else if (namesz == 11 && !memcmp(name, "VMCOREINFO", 11)) {
            if (ec->guest_note) {
                elfcore_warn(ec, "more than one VMCOREINFO note; using the"
                             " first");
            } else {
                /*
                 * The note as the guest wrote it: header, name, desc.  A
                 * copy, as the header in it is read as a struct and the
                 * file only keeps notes 4-byte aligned; of a note larger
                 * than any Windows header only the note header matters.
                 */
                ec->guest_note_size = 12 + NOTE_ALIGN(namesz) + descsz;
                ec->guest_note = g_memdup2(ec->data + pos,
                    MIN(ec->guest_note_size, VMCOREINFO_WIN_DUMP_NOTE_SIZE64));
            }
        }
        pos = next;
    }
}

static gint seg_cmp(gconstpointer a, gconstpointer b)
{
    const ElfCoreSegment *x = *(ElfCoreSegment *const *)a;
    const ElfCoreSegment *y = *(ElfCoreSegment *const *)b;

    if (x->pa != y->pa) {
        return x->pa < y->pa ? -1 : 1;
    }
    /* the first in the file wins */
    return x < y ? -1 : x > y;
}

/*
 * QEMU's ELF core holds every RAM-backed block, firmware included, and
 * does not say which was read-only.  The in-tree backend leaves out what
 * the guest cannot write, so that a memory run over firmware is refused;
 * on a PC that is the BIOS and option ROM window below 1 MiB and the
 * BIOS flash that ends at 4 GiB.  Windows' runs never cover them.
 */
#define PC_ROM_START    0xc0000ull
#define PC_ROM_END      0x100000ull
#define PC_FLASH_END    0x100000000ull

static void build_guest_ram(ElfCore *ec)
{
    GArray *out = g_array_new(false, false, sizeof(WinDumpRange));
    uint64_t flash = PC_FLASH_END;
    size_t i;

    /* RAM below 4 GiB ends well before it: what ends there is the flash */
    for (i = 0; i < ec->nr_segs; i++) {
        if (ec->segs[i].filesz &&
            ec->segs[i].pa + ec->segs[i].filesz == PC_FLASH_END) {
            flash = MIN(flash, ec->segs[i].pa);
        }
    }
    for (i = 0; i < ec->nr_ram; i++) {
        const WinDumpRange r = ec->ram[i];
        /* what is left of @r outside the ROM window and the flash */
        const WinDumpRange part[3] = {
            { r.start, MIN(r.end, PC_ROM_START) },
            { MAX(r.start, PC_ROM_END), MIN(r.end, flash) },
            { MAX(r.start, PC_FLASH_END), r.end },
        };
        int k;

        for (k = 0; k < 3; k++) {
            if (part[k].start < part[k].end) {
                g_array_append_val(out, part[k]);
            }
        }
    }
    ec->nr_guest_ram = out->len;
    ec->guest_ram = (WinDumpRange *)g_array_free(out, false);
}

/*
 * Build the physical map.  With paging, a page mapped at several virtual
 * addresses is in several segments: keep the first copy.
 */
static void build_ram(ElfCore *ec)
{
    g_autoptr(GPtrArray) order = g_ptr_array_new();
    GArray *ram = g_array_new(false, false, sizeof(WinDumpRange));
    GArray *ptr = g_array_new(false, false, sizeof(const uint8_t *));
    uint64_t covered = 0;       /* everything below is mapped already */
    size_t i;

    for (i = 0; i < ec->nr_segs; i++) {
        if (ec->segs[i].filesz) {
            g_ptr_array_add(order, &ec->segs[i]);
        }
    }
    g_ptr_array_sort(order, seg_cmp);

    for (i = 0; i < order->len; i++) {
        const ElfCoreSegment *s = order->pdata[i];
        uint64_t start = MAX(s->pa, covered), end = s->pa + s->filesz;
        const uint8_t *p;
        WinDumpRange *last;

        if (start >= end) {
            continue;
        }
        p = ec->data + s->offset + (start - s->pa);
        last = ram->len ?
            &g_array_index(ram, WinDumpRange, ram->len - 1) : NULL;
        if (last && last->end == start &&
            g_array_index(ptr, const uint8_t *, ptr->len - 1) +
            (last->end - last->start) == p) {
            last->end = end;
        } else {
            WinDumpRange r = { start, end };

            g_array_append_val(ram, r);
            g_array_append_val(ptr, p);
        }
        ec->ram_bytes += end - start;
        covered = end;
    }
    ec->nr_ram = ram->len;
    ec->ram = (WinDumpRange *)g_array_free(ram, false);
    ec->ram_data = (const uint8_t **)g_array_free(ptr, false);
    ec->mem.ram = ec->ram;
    ec->mem.data = ec->ram_data;
    ec->mem.nr = ec->nr_ram;
    build_guest_ram(ec);
}

bool elfcore_parse(ElfCore *ec, const void *data, uint64_t size,
                   Error **errp)
{
    const uint8_t *e = data;
    uint64_t phoff, phentsize, phnum, i;
    GArray *prstatus = g_array_new(false, false, sizeof(uint64_t));
    GArray *qemu = g_array_new(false, false, sizeof(uint64_t));
    bool ok = false;

    memset(ec, 0, sizeof(*ec));
    ec->data = data;
    ec->size = size;
    ec->warnings = g_ptr_array_new_with_free_func(g_free);

    if (size < EI_NIDENT || !elfcore_is_elf(data, size)) {
        error_setg(errp, "not an ELF file");
        goto out;
    }
    if (e[EI_CLASS] != ELFCLASS32 && e[EI_CLASS] != ELFCLASS64) {
        error_setg(errp, "unknown ELF class %u", e[EI_CLASS]);
        goto out;
    }
    ec->elf64 = e[EI_CLASS] == ELFCLASS64;
    if (e[EI_DATA] != ELFDATA2LSB) {
        error_setg(errp, "a big-endian ELF file is not an x86 guest's core");
        goto out;
    }
    if (size < (ec->elf64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr))) {
        error_setg(errp, "the file is too short (%" PRIu64 " bytes) for an"
                   " ELF header: truncated?", size);
        goto out;
    }
    if (FIELD(ec, e, Ehdr, e_type) != ET_CORE) {
        error_setg(errp, "this ELF file is not a core dump (e_type %" PRIu64
                   "); expected QEMU's dump-guest-memory output",
                   FIELD(ec, e, Ehdr, e_type));
        goto out;
    }
    ec->machine = FIELD(ec, e, Ehdr, e_machine);
    if (ec->machine != EM_X86_64 && ec->machine != EM_386) {
        error_setg(errp, "this core is of machine %u, not of an x86 guest",
                   ec->machine);
        goto out;
    }

    phoff = FIELD(ec, e, Ehdr, e_phoff);
    phentsize = FIELD(ec, e, Ehdr, e_phentsize);
    phnum = FIELD(ec, e, Ehdr, e_phnum);
    if (phentsize != (ec->elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr))) {
        error_setg(errp, "program headers of %" PRIu64 " bytes; ELF%d has"
                   " %zu", phentsize, ec->elf64 ? 64 : 32,
                   ec->elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr));
        goto out;
    }
    if (phnum == PN_XNUM) {
        /* the real count is in section header 0 */
        uint64_t shoff = FIELD(ec, e, Ehdr, e_shoff);
        size_t shsize = ec->elf64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);

        if (!shoff || !in_file(ec, shoff, shsize)) {
            error_setg(errp, "e_phnum is PN_XNUM but there is no section"
                       " header 0 in the file to hold the count");
            goto out;
        }
        phnum = FIELD(ec, ec->data + shoff, Shdr, sh_info);
    }
    if (!in_file(ec, phoff, phnum * phentsize)) {
        error_setg(errp, "the %" PRIu64 " program headers at file offset 0x%"
                   PRIx64 " run past the end of the file (%" PRIu64
                   " bytes): truncated?", phnum, phoff, size);
        goto out;
    }

    ec->segs = g_new0(ElfCoreSegment, phnum);
    for (i = 0; i < phnum; i++) {
        const uint8_t *ph = ec->data + phoff + i * phentsize;
        ElfCoreSegment *s;
        uint64_t type = FIELD(ec, ph, Phdr, p_type);
        uint64_t off = FIELD(ec, ph, Phdr, p_offset);
        uint64_t filesz = FIELD(ec, ph, Phdr, p_filesz);

        if (type != PT_LOAD && type != PT_NOTE) {
            continue;
        }
        if (!in_file(ec, off, filesz)) {
            error_setg(errp, "%s segment %" PRIu64 " (file offset 0x%" PRIx64
                       ", 0x%" PRIx64 " bytes) runs past the end of the file"
                       " (0x%" PRIx64 " bytes): the core is truncated",
                       type == PT_LOAD ? "PT_LOAD" : "PT_NOTE", i, off,
                       filesz, size);
            goto out;
        }
        if (type == PT_NOTE) {
            parse_notes(ec, off, filesz, prstatus, qemu);
            continue;
        }
        s = &ec->segs[ec->nr_segs++];
        s->pa = FIELD(ec, ph, Phdr, p_paddr);
        s->va = FIELD(ec, ph, Phdr, p_vaddr);
        s->offset = off;
        s->filesz = filesz;
        s->memsz = FIELD(ec, ph, Phdr, p_memsz);
        if (s->pa + filesz < s->pa || s->pa + filesz > (1ull << 52)) {
            error_setg(errp, "PT_LOAD segment %" PRIu64 " claims guest-physical"
                       " 0x%" PRIx64 "+0x%" PRIx64 ", beyond what x86 can"
                       " address", i, s->pa, filesz);
            goto out;
        }
        if (s->filesz < s->memsz && s->va == s->pa) {
            elfcore_warn(ec, "PT_LOAD segment %" PRIu64 " holds 0x%" PRIx64
                         " of its 0x%" PRIx64 " bytes (taken with begin/length"
                         " or a filter?)", i, s->filesz, s->memsz);
        }
        if (s->va != s->pa) {
            ec->paging = true;
        }
    }
    if (!ec->nr_segs) {
        error_setg(errp, "the core holds no guest memory (no PT_LOAD)");
        goto out;
    }
    build_ram(ec);

    /* one "QEMU" note per vCPU; else (not QEMU's) NT_PRSTATUS for x86-64 */
    if (qemu->len) {
        ec->nr_cpus = qemu->len;
    } else if (ec->machine == EM_X86_64) {
        ec->nr_cpus = prstatus->len;
        if (ec->nr_cpus) {
            elfcore_warn(ec, "no QEMU CPU notes: registers come from"
                         " NT_PRSTATUS, without control registers");
        }
    }
    if (!ec->nr_cpus) {
        error_setg(errp, "the core holds no CPU state (no QEMU or usable"
                   " NT_PRSTATUS notes)");
        goto out;
    }
    if (prstatus->len && qemu->len && prstatus->len != qemu->len) {
        elfcore_warn(ec, "%u NT_PRSTATUS notes but %u QEMU notes",
                     prstatus->len, qemu->len);
    }
    ec->cpus = g_new0(ElfCoreCpu, ec->nr_cpus);
    ec->win_cpus = g_new0(WinDumpCpu, ec->nr_cpus);
    for (i = 0; i < ec->nr_cpus; i++) {
        ElfCoreCpu *c = &ec->cpus[i];

        if (qemu->len) {
            uint64_t pos = g_array_index(qemu, uint64_t, i);
            uint32_t descsz = ldl_le_p(ec->data + pos + 4);

            cpu_from_qemu_note(c, ec->data + pos + 12 + 8, descsz);
        } else {
            uint64_t pos = g_array_index(prstatus, uint64_t, i);

            if (ldl_le_p(ec->data + pos + 4) < PRSTATUS64_SIZE) {
                error_setg(errp, "NT_PRSTATUS note %" PRIu64 " is too short",
                           i);
                goto out;
            }
            cpu_from_prstatus64(c, ec->data + pos + 12 + 8);
        }
        cpu_reset_state(c);
        ec->win_cpus[i] = c->regs;
    }
    ok = true;

out:
    g_array_free(prstatus, true);
    g_array_free(qemu, true);
    if (!ok) {
        elfcore_free(ec);
    }
    return ok;
}

void elfcore_free(ElfCore *ec)
{
    g_free(ec->segs);
    g_free(ec->ram);
    g_free(ec->ram_data);
    g_free(ec->guest_ram);
    g_free((void *)ec->guest_note);
    g_free(ec->cpus);
    g_free(ec->win_cpus);
    if (ec->warnings) {
        g_ptr_array_free(ec->warnings, true);
    }
    memset(ec, 0, sizeof(*ec));
}

const uint8_t *elfcore_ptr(const ElfCore *ec, uint64_t pa, uint64_t *len)
{
    return filemem_ptr(&ec->mem, pa, len);
}

void elfcore_memory(const ElfCore *ec, WinDumpGuest *g)
{
    filemem_guest(&ec->mem, g);
    g->cpus = ec->win_cpus;
    g->nr_cpus = ec->nr_cpus;
}

void elfcore_guest(const ElfCore *ec, WinDumpGuest *g)
{
    elfcore_memory(ec, g);
    g->ram = ec->guest_ram;
    g->nr_ram = ec->nr_guest_ram;
}
