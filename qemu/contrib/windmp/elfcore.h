/*
 * QEMU ELF cores (dump-guest-memory without -w) as seen by windmp
 *
 * An ELF core is input written partly by the guest (its memory and the
 * vmcoreinfo note) and possibly truncated or corrupt: elfcore_parse()
 * checks every offset and size against the file before anything is read,
 * and never modifies it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_ELFCORE_H
#define WINDMP_ELFCORE_H

#include "dump/windmp/windmp.h"
#include "filemem.h"

/*
 * QEMU's per-CPU "QEMU" note (target/i386/arch_dump.c); the only source
 * of all registers for 32-bit guests, whose NT_PRSTATUS QEMU leaves empty.
 */
typedef struct ElfQemuSegment {
    uint32_t selector;
    uint32_t limit;
    uint32_t flags;
    uint32_t pad;
    uint64_t base;
} ElfQemuSegment;

typedef struct ElfQemuCpuState {
    uint32_t version;
    uint32_t size;
    uint64_t rax, rbx, rcx, rdx, rsi, rdi, rsp, rbp;
    uint64_t r8, r9, r10, r11, r12, r13, r14, r15;
    uint64_t rip, rflags;
    ElfQemuSegment cs, ds, es, fs, gs, ss;
    ElfQemuSegment ldt, tr, gdt, idt;
    uint64_t cr[5];
    /* QEMU appends fields without a new version: the note's size tells */
    uint64_t kernel_gs_base;
} ElfQemuCpuState;

QEMU_BUILD_BUG_ON(sizeof(ElfQemuSegment) != 24);
QEMU_BUILD_BUG_ON(offsetof(ElfQemuCpuState, rax) != 8);
QEMU_BUILD_BUG_ON(offsetof(ElfQemuCpuState, rip) != 0x88);
QEMU_BUILD_BUG_ON(offsetof(ElfQemuCpuState, cs) != 0x98);
QEMU_BUILD_BUG_ON(offsetof(ElfQemuCpuState, ldt) != 0x128);
QEMU_BUILD_BUG_ON(offsetof(ElfQemuCpuState, cr) != 0x188);
QEMU_BUILD_BUG_ON(offsetof(ElfQemuCpuState, kernel_gs_base) != 0x1b0);
QEMU_BUILD_BUG_ON(sizeof(ElfQemuCpuState) != 0x1b8);
/* version 1 as QEMU 1.x wrote it, before kernel_gs_base */
#define ELF_QEMU_CPU_STATE_MIN_SIZE offsetof(ElfQemuCpuState, kernel_gs_base)

/*
 * Where ElfQemuCpuState holds WinDumpCpu's regs[] (RAX, RCX, RDX, RBX,
 * RSP, RBP, RSI, RDI, R8-R15) and the ElfQemuSegment of each of its sel[]
 * (ES, CS, SS, DS, FS, GS): the reader and the tests' writer share them.
 */
extern const size_t elf_qemu_reg_offsets[16];
extern const size_t elf_qemu_seg_offsets[6];

/* One PT_LOAD: guest-physical [pa, pa + filesz) at file offset @offset */
typedef struct ElfCoreSegment {
    uint64_t pa;
    uint64_t va;
    uint64_t offset;
    uint64_t filesz;
    uint64_t memsz;
} ElfCoreSegment;

typedef struct ElfCoreCpu {
    WinDumpCpu regs;
    /* CR0..CR4 and GDTR/IDTR base, if the CPU had a "QEMU" note */
    bool has_qemu_note;
    uint64_t cr[5];
    uint64_t kernel_gs_base;
} ElfCoreCpu;

typedef struct ElfCore {
    const uint8_t *data;
    uint64_t size;
    bool elf64;
    uint16_t machine;               /* EM_X86_64 or EM_386 */

    ElfCoreSegment *segs;           /* in file order */
    size_t nr_segs;
    /* taken with paging: p_vaddr says where the kernel saw each segment */
    bool paging;

    /*
     * Guest-physical memory the file holds, sorted and disjoint, each
     * range backed by one place in the file (first segment wins).
     */
    WinDumpRange *ram;
    const uint8_t **ram_data;       /* parallel to ram */
    size_t nr_ram;
    FileMem mem;                    /* the same, for the core */
    uint64_t ram_bytes;
    /* the same without the PC firmware windows: what the guest can write */
    WinDumpRange *guest_ram;
    size_t nr_guest_ram;

    ElfCoreCpu *cpus;
    unsigned nr_cpus;
    WinDumpCpu *win_cpus;           /* the same registers, for the core */

    /*
     * The guest's vmcoreinfo note, as the guest wrote it, or NULL: an
     * aligned copy of its first MIN(size, VMCOREINFO_WIN_DUMP_NOTE_SIZE64)
     * bytes, enough for windmp_note_check() to judge it.
     */
    const uint8_t *guest_note;
    size_t guest_note_size;

    /* what was odd but tolerated, one line each */
    GPtrArray *warnings;
} ElfCore;

/* Does @data look like an ELF file at all (magic only)? */
bool elfcore_is_elf(const void *data, uint64_t size);

/*
 * Parse the QEMU x86 ELF core in @data (@size bytes, which must stay
 * mapped while @ec is used).  On failure @ec holds nothing.
 */
bool elfcore_parse(ElfCore *ec, const void *data, uint64_t size,
                   Error **errp);
void elfcore_free(ElfCore *ec);

/*
 * The core's view of the guest the ELF file holds: its RAM as the in-tree
 * backend sees it, without firmware (see elfcore.c)
 */
void elfcore_guest(const ElfCore *ec, WinDumpGuest *g);
/* The same, with all the memory the file holds, firmware included */
void elfcore_memory(const ElfCore *ec, WinDumpGuest *g);

/* A pointer to guest-physical [pa, pa + *len), *len shortened; or NULL */
const uint8_t *elfcore_ptr(const ElfCore *ec, uint64_t pa, uint64_t *len);

#endif /* WINDMP_ELFCORE_H */
