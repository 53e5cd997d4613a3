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

void synth_mem_fill_random(uint8_t *p, uint64_t len, uint64_t seed)
{
    uint64_t x = seed | 1, i;

    for (i = 0; i < len; i += 8) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        stq_le_p(p + i, x);
    }
}

/* ---- the Windows structures ---- */

void synth_win_put_ptr(SynthMem *m, bool x64, uint64_t pa, uint64_t va)
{
    if (x64) {
        synth_mem_st64(m, pa, va);
    } else {
        synth_mem_st32(m, pa, va);
    }
}

void synth_win_put_kdbg(SynthMem *m, bool x64, uint64_t kdbg_pa,
                        unsigned off, uint64_t va)
{
    synth_mem_st64(m, kdbg_pa + off,
                   x64 ? va : (uint64_t)(int64_t)(int32_t)va);
}

void synth_win_kdbg(SynthMem *m, bool x64, uint64_t pa,
                    const SynthWinKdbg *k)
{
    uint8_t *p = synth_mem_ptr(m, pa, KDBG_MIN_SIZE);

    if (k->fill_seed) {
        synth_mem_fill_random(p, KDBG_MIN_SIZE, k->fill_seed);
    } else {
        memset(p, 0, KDBG_MIN_SIZE);
    }
    memcpy(p + KDBG_OWNER_TAG_OFFSET64, "KDBG", 4);
    synth_mem_st32(m, pa + KDBG_SIZE_OFFSET64, k->size);
    synth_win_put_kdbg(m, x64, pa, KDBG_KI_BUGCHECK_DATA_OFFSET64,
                       k->bugcheck_va);
    synth_win_put_kdbg(m, x64, pa, KDBG_MM_PFN_DATABASE_OFFSET64, k->pfn_va);
    synth_win_put_kdbg(m, x64, pa, KDBG_KI_PROCESSOR_BLOCK_OFFSET64,
                       k->kpb_va);
    stw_le_p(p + KDBG_OFFSET_PRCB_CONTEXT_OFFSET64, k->prcb_context);
}

void synth_win_bugcheck(SynthMem *m, bool x64, uint64_t pa, uint32_t code,
                        uint8_t bug[40])
{
    unsigned i;

    memset(bug, 0, 40);
    stl_le_p(bug, code);
    for (i = 0; i < 4; i++) {
        if (x64) {
            stq_le_p(bug + 8 + 8 * i, 0xfffff80011110000ull + i);
        } else {
            stl_le_p(bug + 4 + 4 * i, 0x81110000u + i);
        }
    }
    memcpy(synth_mem_ptr(m, pa, x64 ? 40 : 20), bug, x64 ? 40 : 20);
}

void synth_win_kusd(SynthMem *m, uint64_t pa, uint32_t low, uint32_t high1,
                    uint32_t high2, uint32_t type, uint32_t suite)
{
    synth_mem_st32(m, pa + 0x8, low);
    synth_mem_st32(m, pa + 0xc, high1);
    synth_mem_st32(m, pa + 0x10, high2);
    synth_mem_st32(m, pa + 0x264, type);
    synth_mem_st32(m, pa + 0x2d0, suite);
}

void synth_win_context(bool x64, const WinDumpCpu *c, uint8_t *out)
{
    if (x64) {
        WinContext64 x;

        memset(&x, 0, sizeof(x));
        x.ContextFlags = cpu_to_le32(WIN_CTX64_FULL | WIN_CTX_SEG);
        x.MxCsr = cpu_to_le32(c->fx.MxCsr);
        x.FltSave.MxCsr = x.MxCsr;
        x.FltSave.ControlWord = cpu_to_le16(c->fx.ControlWord);
        x.SegEs = cpu_to_le16(c->sel[0]);
        x.SegCs = cpu_to_le16(c->sel[1]);
        x.SegSs = cpu_to_le16(c->sel[2]);
        x.SegDs = cpu_to_le16(c->sel[3]);
        x.SegFs = cpu_to_le16(c->sel[4]);
        x.SegGs = cpu_to_le16(c->sel[5]);
        x.EFlags = cpu_to_le32(c->rflags);
        x.Rax = cpu_to_le64(c->regs[0]);
        x.Rcx = cpu_to_le64(c->regs[1]);
        x.Rdx = cpu_to_le64(c->regs[2]);
        x.Rbx = cpu_to_le64(c->regs[3]);
        x.Rsp = cpu_to_le64(c->regs[4]);
        x.Rbp = cpu_to_le64(c->regs[5]);
        x.Rsi = cpu_to_le64(c->regs[6]);
        x.Rdi = cpu_to_le64(c->regs[7]);
        x.R8 = cpu_to_le64(c->regs[8]);
        x.R15 = cpu_to_le64(c->regs[15]);
        x.Rip = cpu_to_le64(c->rip);
        memcpy(out, &x, sizeof(x));
    } else {
        WinContext32 x;

        memset(&x, 0, sizeof(x));
        x.ContextFlags = cpu_to_le32(WIN_CTX32_FULL);
        x.Eax = cpu_to_le32(c->regs[0]);
        x.Ecx = cpu_to_le32(c->regs[1]);
        x.Esp = cpu_to_le32(c->regs[4]);
        x.Edi = cpu_to_le32(c->regs[7]);
        x.Eip = cpu_to_le32(c->rip);
        x.EFlags = cpu_to_le32(c->rflags);
        x.SegCs = cpu_to_le32(c->sel[1]);
        memcpy(out, &x, sizeof(x));
    }
}

/* ---- the crash dump header ---- */

void synth_win_hdr_put32(WinDumpHeader *h, size_t off, uint32_t v)
{
    g_assert_cmpuint(off + 4, <=, sizeof(*h));
    stl_le_p((uint8_t *)h + off, v);
}

void synth_win_hdr_put64(WinDumpHeader *h, size_t off, uint64_t v)
{
    g_assert_cmpuint(off + 8, <=, sizeof(*h));
    stq_le_p((uint8_t *)h + off, v);
}

void synth_win_header(WinDumpHeader *h, WinDumpPaging paging, uint64_t dtb,
                      uint32_t nr_cpus, uint64_t kdbg_va)
{
    bool x64 = paging == WIN_DUMP_PAGING_LM4 ||
               paging == WIN_DUMP_PAGING_LM5;
    size_t i;

    for (i = 0; i < sizeof(*h); i += 4) {
        synth_win_hdr_put32(h, i, WIN_DUMP_PAGE_FILL);
    }
    memcpy(h->Signature, "PAGE", 4);
    memcpy(h->ValidDump, x64 ? "DU64" : "DUMP", 4);
    if (x64) {
        h->x64.MajorVersion = cpu_to_le32(0xf);
        h->x64.MinorVersion = cpu_to_le32(19041);
        h->x64.MachineImageType = cpu_to_le32(WIN_DUMP_MACHINE_AMD64);
    } else {
        h->x32.MajorVersion = cpu_to_le32(0xf);
        h->x32.MinorVersion = cpu_to_le32(7601);
        h->x32.MachineImageType = cpu_to_le32(WIN_DUMP_MACHINE_I386);
        h->x32.PaeEnabled = paging == WIN_DUMP_PAGING_PAE;
    }
    synth_win_hdr_set_dtb(h, x64, dtb);
    synth_win_hdr_set_nr_cpus(h, x64, nr_cpus);
    synth_win_hdr_set_kdbg(h, x64, kdbg_va,
                           x64 ? SYNTH_WIN_PAGE_FILL64 : WIN_DUMP_PAGE_FILL);
}

void synth_win_hdr_set_dtb(WinDumpHeader *h, bool x64, uint64_t dtb)
{
    if (x64) {
        h->x64.DirectoryTableBase = cpu_to_le64(dtb);
    } else {
        h->x32.DirectoryTableBase = cpu_to_le32(dtb);
    }
}

void synth_win_hdr_set_nr_cpus(WinDumpHeader *h, bool x64, uint32_t n)
{
    synth_win_hdr_put32(h, x64 ? offsetof(WinDumpHeader64, NumberProcessors) :
                           offsetof(WinDumpHeader32, NumberProcessors), n);
}

void synth_win_hdr_set_kdbg(WinDumpHeader *h, bool x64, uint64_t kdbg,
                            uint64_t param1)
{
    if (x64) {
        h->x64.KdDebuggerDataBlock = cpu_to_le64(kdbg);
        h->x64.BugcheckParameter1 = cpu_to_le64(param1);
    } else {
        h->x32.KdDebuggerDataBlock = cpu_to_le32(kdbg);
        h->x32.BugcheckParameter1 = cpu_to_le32(param1);
    }
}

uint64_t synth_win_hdr_set_runs(WinDumpHeader *h, bool x64,
                                uint64_t (*runs)[2], unsigned nr)
{
    size_t blk = x64 ? offsetof(WinDumpHeader64, PhysicalMemoryBlock) :
                       offsetof(WinDumpHeader32, PhysicalMemoryBlock);
    uint64_t pages = 0;
    unsigned i;

    for (i = 0; i < nr; i++) {
        pages += runs[i][1];
        if (x64) {
            synth_win_hdr_put64(h, blk + 0x10 + 16 * i, runs[i][0]);
            synth_win_hdr_put64(h, blk + 0x18 + 16 * i, runs[i][1]);
        } else {
            synth_win_hdr_put32(h, blk + 0x08 + 8 * i, runs[i][0]);
            synth_win_hdr_put32(h, blk + 0x0c + 8 * i, runs[i][1]);
        }
    }
    synth_win_hdr_put32(h, blk, nr);
    if (x64) {
        synth_win_hdr_put64(h, blk + 0x08, pages);
    } else {
        synth_win_hdr_put32(h, blk + 0x04, pages);
    }
    return pages;
}

uint8_t *synth_win_note(const void *desc, uint32_t descsz, size_t *size)
{
    uint8_t *note = g_malloc0(VMCOREINFO_ELF_NOTE_HDR_SIZE + descsz);

    stl_le_p(note, 11);
    stl_le_p(note + 4, descsz);
    stl_le_p(note + 8, 0);
    memcpy(note + 12, "VMCOREINFO", 11);
    memcpy(note + VMCOREINFO_ELF_NOTE_HDR_SIZE, desc, descsz);
    *size = VMCOREINFO_ELF_NOTE_HDR_SIZE + descsz;
    return note;
}
