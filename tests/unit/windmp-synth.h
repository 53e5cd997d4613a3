/*
 * Synthetic Windows guests for the tests and fuzz targets of windmp: a
 * small RAM image with x86 page tables, KDBG, KiBugcheckData,
 * KiProcessorBlock, KPRCBs and CONTEXTs, the header its driver would
 * publish, and that guest as a QEMU ELF core or as a .dmp file.
 *
 * Everything is built from code so that no binary input is committed and
 * each test can say exactly which byte it breaks.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_SYNTH_H
#define WINDMP_SYNTH_H

#include <elf.h>
#include "windmp.h"
#include "filemem.h"
#include "windmp-synth-mem.h"

#define SYNTH_PAGE          0x1000ull

#ifndef ROUND_UP
#define ROUND_UP(n, d)      (((n) + (d) - 1) / (d) * (d))
#endif
#define SYNTH_MAX_CPUS      4

/* Guest-physical layout; RAM is at least SYNTH_MIN_RAM bytes from 0 */
#define SYNTH_DTB_PA        0x1000ull
#define SYNTH_TABLES_PA     0x2000ull   /* page tables, up to 0x8000 */
#define SYNTH_KDBG_PA       0x8080ull
#define SYNTH_BUG_PA        0x9000ull
#define SYNTH_KPB_PA        0x9100ull
#define SYNTH_PRCB_PA(i)    (0xa000ull + 0x800 * (i))
#define SYNTH_CTX_OFF       0x3f0       /* KPRCB.Context */
#define SYNTH_CTX_PA(i)     (0xc040ull + 0x1000 * (i))
#define SYNTH_MIN_RAM       0x12000ull
/* the header's runs leave this page out: a hole in the dump */
#define SYNTH_HOLE_PFN      0x10
#define SYNTH_BUG_CODE      0xd1u

typedef struct SynthGuest {
    WinDumpPaging paging;
    bool x64;
    bool large;                 /* kernel mapped by one large page */
    uint8_t *ram;
    uint64_t ram_size;
    FileMem file;               /* windmp's adapter over mem */
    unsigned nr_cpus;
    WinDumpCpu cpus[SYNTH_MAX_CPUS];
    uint64_t dtb;
    uint64_t va_base;           /* kernel VA of guest-physical 0 */
    SynthMem mem;               /* ram, and where its page tables go */
    WinDumpHeader hdr;          /* what the guest's driver published */
    size_t hdr_size;
    uint64_t runs[2][2];        /* base page, page count */
    unsigned nr_runs;
    uint64_t pages;
} SynthGuest;

/*
 * A Windows-like guest: @ram_size bytes of RAM at 0 (a multiple of the
 * page size, at least SYNTH_MIN_RAM), @nr_cpus vCPUs, with the kernel at
 * va_base mapped by 4 KiB pages or, with @large, by one 2/4 MiB page.
 * The header lists two runs around SYNTH_HOLE_PFN.
 */
void synth_init(SynthGuest *sg, WinDumpPaging paging, bool large,
                uint64_t ram_size, unsigned nr_cpus);
void synth_free(SynthGuest *sg);

/* The kernel VA of guest-physical @pa */
uint64_t synth_va(const SynthGuest *sg, uint64_t pa);

/* Rewrite the header's runs (and NumberOfPages, RequiredDumpSpace) */
void synth_set_runs(SynthGuest *sg);

/*
 * Store each vCPU's CONTEXT where its KPRCB points, as Windows does when
 * it crashes; a .dmp built after this holds them.
 */
void synth_store_contexts(SynthGuest *sg);

/* The core's view of @sg: its RAM at 0, its vCPUs */
void synth_guest(SynthGuest *sg, WinDumpGuest *g);

/* The guest's vmcoreinfo note: Elf_Nhdr, "VMCOREINFO", the header */
uint8_t *synth_note(const SynthGuest *sg, size_t *size);

/* Little-endian stores and loads in guest RAM */
void synth_st32(SynthGuest *sg, uint64_t pa, uint32_t v);
void synth_st64(SynthGuest *sg, uint64_t pa, uint64_t v);
uint64_t synth_ld64(const SynthGuest *sg, uint64_t pa);
/* A kernel pointer: 8 bytes on x64, 4 on x86 */
void synth_put_ptr(SynthGuest *sg, uint64_t pa, uint64_t va);

/* Raw little-endian stores into a byte buffer */
void synth_put16(void *p, uint16_t v);
void synth_put32(void *p, uint32_t v);
void synth_put64(void *p, uint64_t v);

/* ---- the guest as a .dmp file ---- */

typedef struct SynthDmp {
    GByteArray *buf;
    uint64_t hdr_size;
    uint64_t bitmap_hdr;        /* offset of the bitmap header, or 0 */
    uint64_t first_page;        /* file offset of the first page */
} SynthDmp;

/*
 * The .dmp that a correct writer makes of @sg: DumpType 1 with the
 * header's runs, or DumpType 5 with an FDMP bitmap of the same pages.
 */
void synth_dmp(const SynthGuest *sg, bool bitmap, SynthDmp *d);

/* ---- the guest as a QEMU ELF core ---- */

typedef struct SynthElfOpts {
    bool elf64;
    uint16_t machine;           /* EM_X86_64 or EM_386 */
    bool qemu_notes;            /* a "QEMU" note per vCPU */
    bool prstatus;              /* an NT_PRSTATUS "CORE" note per vCPU */
    bool vmcoreinfo;            /* the guest's header note */
    unsigned nr_loads;          /* RAM split into this many PT_LOADs */
    bool dup_load;              /* plus a PT_LOAD repeating RAM at 0 */
    bool xnum;                  /* e_phnum = PN_XNUM, count in shdr 0 */
} SynthElfOpts;

#define SYNTH_MAX_LOADS     8

typedef struct SynthElf {
    GByteArray *buf;
    uint64_t phoff;
    unsigned phnum;             /* PT_NOTE first, then the PT_LOADs */
    uint64_t phentsize;
    uint64_t note_off, note_size;
    uint64_t qemu_note_off[SYNTH_MAX_CPUS];     /* Elf_Nhdr of each */
    uint64_t prstatus_off[SYNTH_MAX_CPUS];
    uint64_t vmci_off;
    uint64_t load_off[SYNTH_MAX_LOADS + 1];
    uint64_t shoff;
} SynthElf;

/* Control registers the "QEMU" notes carry: CRn of vCPU i */
#define SYNTH_CR(i, n)          (0xc0000000ull + ((i) << 8) + (n))
#define SYNTH_CR4_LA57          0x1000ull   /* SYNTH_CR(i, 4) has it clear */
#define SYNTH_KERNEL_GS(i)      (0xfffff80012000000ull + ((i) << 12))

void synth_elf(const SynthGuest *sg, const SynthElfOpts *o, SynthElf *e);

/* The SynthElfOpts QEMU's dump-guest-memory would use for @sg */
SynthElfOpts synth_elf_default(const SynthGuest *sg);

/* Offset of program header @i's field @f (a Elf64/32_Phdr member) */
#define SYNTH_PH(e, i, f, elf64) \
    ((e)->phoff + (uint64_t)(i) * (e)->phentsize + \
     ((elf64) ? offsetof(Elf64_Phdr, f) : offsetof(Elf32_Phdr, f)))

#endif /* WINDMP_SYNTH_H */
