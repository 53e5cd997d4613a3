/*
 * Guest RAM that a file holds, as the win-dmp core reads it
 *
 * ELF cores and .dmp files both hand their memory to the core through
 * this one adapter: sorted, disjoint guest-physical ranges, each backed
 * by one place in the mapped file.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_FILEMEM_H
#define WINDMP_FILEMEM_H

#include "dump/windmp/windmp.h"

typedef struct FileMem {
    const WinDumpRange *ram;        /* sorted, disjoint */
    const uint8_t *const *data;     /* data[i] holds ram[i] */
    size_t nr;
} FileMem;

/* A pointer to guest-physical [pa, pa + *len), *len shortened; or NULL */
const uint8_t *filemem_ptr(const FileMem *m, uint64_t pa, uint64_t *len);

/*
 * Make @g the core's view of @m: its ops, and @m's ranges as guest RAM.
 * @m must stay where it is while @g is used.
 */
void filemem_guest(const FileMem *m, WinDumpGuest *g);

#endif /* WINDMP_FILEMEM_H */
