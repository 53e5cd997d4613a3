/*
 * The memory of a synthetic Windows guest for the win-dmp tests: guest
 * RAM in buffers and the x86 page tables in it, of every paging mode the
 * core walks.  test-windmp.c and windmp's own tests build their guests
 * on it.
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

#endif /* WINDMP_SYNTH_MEM_H */
