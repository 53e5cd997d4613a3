/*
 * The memory of a synthetic Windows guest for the win-dmp tests
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "windmp-synth-mem.h"

#define MiB             (1ull << 20)
#define GiB             (1ull << 30)
#define PAGE            0x1000ull

#define PTE_P           0x1ull
#define PTE_RW          0x2ull
#define PTE_PS          0x80ull
#define ADDR_MASK       0x000ffffffffff000ull

uint8_t *synth_mem_ptr(const SynthMem *m, uint64_t pa, uint64_t len)
{
    unsigned i;

    for (i = 0; i < m->nr; i++) {
        if (pa >= m->ram[i].start && pa < m->ram[i].end &&
            len <= m->ram[i].end - pa) {
            return m->buf[i] + (pa - m->ram[i].start);
        }
    }
    g_test_message("0x%" PRIx64 "+0x%" PRIx64 " is not in guest RAM",
                   pa, len);
    g_assert_not_reached();
}

void synth_mem_st32(SynthMem *m, uint64_t pa, uint32_t v)
{
    stl_le_p(synth_mem_ptr(m, pa, 4), v);
}

void synth_mem_st64(SynthMem *m, uint64_t pa, uint64_t v)
{
    stq_le_p(synth_mem_ptr(m, pa, 8), v);
}

uint32_t synth_mem_ld32(const SynthMem *m, uint64_t pa)
{
    return ldl_le_p(synth_mem_ptr(m, pa, 4));
}

uint64_t synth_mem_ld64(const SynthMem *m, uint64_t pa)
{
    return ldq_le_p(synth_mem_ptr(m, pa, 8));
}

uint64_t synth_mem_table(SynthMem *m)
{
    uint64_t pa = m->next_table;

    g_assert_cmphex(pa, <, m->table_end);
    m->next_table += PAGE;
    memset(synth_mem_ptr(m, pa, PAGE), 0, PAGE);
    return pa;
}

/* The table that entry @idx of @table points to; created if not present */
static uint64_t table_next(SynthMem *m, uint64_t table, unsigned idx,
                           unsigned width, uint64_t flags)
{
    uint64_t pa = table + (uint64_t)idx * width;
    uint64_t e = width == 8 ? synth_mem_ld64(m, pa) : synth_mem_ld32(m, pa);

    if (!(e & PTE_P)) {
        e = synth_mem_table(m) | flags;
        if (width == 8) {
            synth_mem_st64(m, pa, e);
        } else {
            synth_mem_st32(m, pa, e);
        }
    }
    g_assert(!(e & PTE_PS));
    return width == 8 ? e & ADDR_MASK : e & 0xfffff000ull;
}

void synth_mem_map(SynthMem *m, WinDumpPaging paging, uint64_t dtb,
                   uint64_t va, uint64_t pa, uint64_t size)
{
    uint64_t t;

    g_assert_cmphex(pa & (size - 1), ==, 0);
    switch (paging) {
    case WIN_DUMP_PAGING_LM4:
    case WIN_DUMP_PAGING_LM5: {
        unsigned top = paging == WIN_DUMP_PAGING_LM5 ? 48 : 39;
        unsigned leaf = size == GiB ? 30 : size == 2 * MiB ? 21 : 12;
        unsigned shift;

        g_assert(size == GiB || size == 2 * MiB || size == PAGE);
        t = dtb & ADDR_MASK;
        for (shift = top; shift > leaf; shift -= 9) {
            t = table_next(m, t, (va >> shift) & 511, 8, PTE_P | PTE_RW);
        }
        synth_mem_st64(m, t + ((va >> leaf) & 511) * 8,
                       pa | PTE_P | PTE_RW | (leaf > 12 ? PTE_PS : 0));
        break;
    }
    case WIN_DUMP_PAGING_PAE:
        g_assert(size == 2 * MiB || size == PAGE);
        t = table_next(m, dtb & 0xffffffe0ull, (va >> 30) & 3, 8, PTE_P);
        if (size == 2 * MiB) {
            synth_mem_st64(m, t + ((va >> 21) & 511) * 8,
                           pa | PTE_P | PTE_RW | PTE_PS);
            break;
        }
        t = table_next(m, t, (va >> 21) & 511, 8, PTE_P | PTE_RW);
        synth_mem_st64(m, t + ((va >> 12) & 511) * 8, pa | PTE_P | PTE_RW);
        break;
    case WIN_DUMP_PAGING_X86:
        g_assert(size == 4 * MiB || size == PAGE);
        t = dtb & 0xfffff000ull;
        if (size == 4 * MiB) {
            /* PSE-36: physical address bits 39:32 in PDE bits 20:13 */
            synth_mem_st32(m, t + ((va >> 22) & 1023) * 4,
                           (pa & 0xffc00000ull) | ((pa >> 32) << 13) |
                           PTE_P | PTE_RW | PTE_PS);
            break;
        }
        g_assert_cmphex(pa >> 32, ==, 0);
        t = table_next(m, t, (va >> 22) & 1023, 4, PTE_P | PTE_RW);
        synth_mem_st32(m, t + ((va >> 12) & 1023) * 4, pa | PTE_P | PTE_RW);
        break;
    }
}
