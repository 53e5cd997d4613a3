/*
 * The memory of a synthetic Windows guest for the win-dmp tests: guest
 * RAM in buffers, the x86 page tables in it, of every paging mode the
 * core walks, and the Windows structures the core reads (the crash dump
 * header, KDBG, KiBugcheckData, KiProcessorBlock and KPRCBs, CONTEXTs,
 * KUSER_SHARED_DATA).  test-windmp.c and windmp's own tests build their
 * guests on it, each choosing where the structures go.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_SYNTH_MEM_H
#define WINDMP_SYNTH_MEM_H

#include "dump/windmp/windmp.h"

#define SYNTH_MEM_MAX_RANGES    2

typedef struct SynthMem {
    /* guest RAM: sorted ranges, ram[i] held by buf[i] */
    WinDumpRange ram[SYNTH_MEM_MAX_RANGES];
    uint8_t *buf[SYNTH_MEM_MAX_RANGES];
    unsigned nr;
    /* page tables are taken from [next_table, table_end), page by page */
    uint64_t next_table;
    uint64_t table_end;
} SynthMem;

/* Where [pa, pa + len) is held; the test fails if that is not RAM */
uint8_t *synth_mem_ptr(const SynthMem *m, uint64_t pa, uint64_t len);

/* Little-endian stores and loads in guest RAM */
void synth_mem_st32(SynthMem *m, uint64_t pa, uint32_t v);
void synth_mem_st64(SynthMem *m, uint64_t pa, uint64_t v);
uint32_t synth_mem_ld32(const SynthMem *m, uint64_t pa);
uint64_t synth_mem_ld64(const SynthMem *m, uint64_t pa);

/* A zeroed page for a page table */
uint64_t synth_mem_table(SynthMem *m);

/*
 * Map @va to @pa with a page of @size in the tables rooted at @dtb,
 * creating the tables on the way: 4 KiB, 2 MiB and 1 GiB pages (x64,
 * LA57), 4 KiB and 2 MiB (PAE), 4 KiB and 4 MiB with PSE-36 (x86).
 */
void synth_mem_map(SynthMem *m, WinDumpPaging paging, uint64_t dtb,
                   uint64_t va, uint64_t pa, uint64_t size);

/* @len bytes at @p of a xorshift sequence from @seed: no two words alike */
void synth_mem_fill_random(uint8_t *p, uint64_t len, uint64_t seed);

/* ---- the Windows structures (@x64: a 64-bit kernel) ---- */

/* What a 64-bit field holds where Windows sets nothing: "PAGEPAGE" */
#define SYNTH_WIN_PAGE_FILL64   0x4547415045474150ull

/* A kernel pointer at @pa: 8 bytes on x64, 4 on x86 */
void synth_win_put_ptr(SynthMem *m, bool x64, uint64_t pa, uint64_t va);

/* A KDBG pointer field: 8 bytes, sign-extended on 32-bit kernels */
void synth_win_put_kdbg(SynthMem *m, bool x64, uint64_t kdbg_pa,
                        unsigned off, uint64_t va);

typedef struct SynthWinKdbg {
    uint64_t bugcheck_va;       /* KiBugcheckData */
    uint64_t pfn_va;            /* MmPfnDatabase */
    uint64_t kpb_va;            /* KiProcessorBlock */
    uint16_t prcb_context;      /* OffsetPrcbContext */
    uint32_t size;              /* the KDBG header's Size */
    uint64_t fill_seed;         /* other bytes: synth_mem_fill_random(), 0: 0 */
} SynthWinKdbg;

/* A KDBG (KDBG_MIN_SIZE bytes) at @pa, tagged "KDBG" */
void synth_win_kdbg(SynthMem *m, bool x64, uint64_t pa,
                    const SynthWinKdbg *k);

/*
 * KiBugcheckData at @pa: @code and four parameters (20 bytes on x86, 40
 * on x64); @bug gets the same bytes, zero-padded to 40.
 */
void synth_win_bugcheck(SynthMem *m, bool x64, uint64_t pa, uint32_t code,
                        uint8_t bug[40]);

/* KUSER_SHARED_DATA at @pa: InterruptTime, ProductType and SuiteMask */
void synth_win_kusd(SynthMem *m, uint64_t pa, uint32_t low, uint32_t high1,
                    uint32_t high2, uint32_t type, uint32_t suite);

/*
 * The CONTEXT (WinContext64 or WinContext32 at @out) that Windows saves
 * for @c when it crashes: integer, control and segment registers, MXCSR.
 */
void synth_win_context(bool x64, const WinDumpCpu *c, uint8_t *out);

/* ---- the crash dump header the guest's driver publishes ---- */

/* Little-endian stores at raw offsets of @h */
void synth_win_hdr_put32(WinDumpHeader *h, size_t off, uint32_t v);
void synth_win_hdr_put64(WinDumpHeader *h, size_t off, uint64_t v);

/*
 * DUMP_HEADER64 (x64 paging modes) or DUMP_HEADER32: "PAGE" wherever
 * Windows sets nothing, then the signature, version, machine, PAE,
 * DirectoryTableBase @dtb, NumberProcessors and KdDebuggerDataBlock.
 * No runs: synth_win_hdr_set_runs().
 */
void synth_win_header(WinDumpHeader *h, WinDumpPaging paging, uint64_t dtb,
                      uint32_t nr_cpus, uint64_t kdbg_va);

void synth_win_hdr_set_dtb(WinDumpHeader *h, bool x64, uint64_t dtb);
void synth_win_hdr_set_nr_cpus(WinDumpHeader *h, bool x64, uint32_t n);
/* KdDebuggerDataBlock, and BugcheckParameter1 (a KDBG copy's address) */
void synth_win_hdr_set_kdbg(WinDumpHeader *h, bool x64, uint64_t kdbg,
                            uint64_t param1);

/*
 * PhysicalMemoryBlock: @nr runs (base page, page count) by raw offsets,
 * past Run[] too if @nr is more than it holds; returns the pages counted.
 * RequiredDumpSpace is left as it was.
 */
uint64_t synth_win_hdr_set_runs(WinDumpHeader *h, bool x64,
                                uint64_t (*runs)[2], unsigned nr);

/* The vmcoreinfo note: Elf_Nhdr, "VMCOREINFO", @descsz bytes of @desc */
uint8_t *synth_win_note(const void *desc, uint32_t descsz, size_t *size);

#endif /* WINDMP_SYNTH_MEM_H */
