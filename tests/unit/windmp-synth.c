/*
 * Synthetic Windows guests for the tests and fuzz targets of windmp
 *
 * The page tables and the Windows structures are built as for QEMU's
 * test-windmp.c, by qemu/tests/unit/windmp-synth-mem.c; the layout here
 * is small (128 KiB of RAM or less) so that fuzz inputs built from it
 * stay fast.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "elfcore.h"
#include "windmp-synth.h"

#define MiB                 (1ull << 20)

void synth_put16(void *p, uint16_t v)
{
    stw_le_p(p, v);
}

void synth_put32(void *p, uint32_t v)
{
    stl_le_p(p, v);
}

void synth_put64(void *p, uint64_t v)
{
    stq_le_p(p, v);
}

static uint8_t *ram_ptr(const SynthGuest *sg, uint64_t pa, uint64_t len)
{
    return synth_mem_ptr(&sg->mem, pa, len);
}

void synth_st32(SynthGuest *sg, uint64_t pa, uint32_t v)
{
    synth_mem_st32(&sg->mem, pa, v);
}

void synth_st64(SynthGuest *sg, uint64_t pa, uint64_t v)
{
    synth_mem_st64(&sg->mem, pa, v);
}

uint64_t synth_ld64(const SynthGuest *sg, uint64_t pa)
{
    return synth_mem_ld64(&sg->mem, pa);
}

void synth_put_ptr(SynthGuest *sg, uint64_t pa, uint64_t va)
{
    synth_win_put_ptr(&sg->mem, sg->x64, pa, va);
}

uint64_t synth_va(const SynthGuest *sg, uint64_t pa)
{
    return sg->va_base + pa;
}

/* ---- the Windows side ---- */

static void cpus_init(SynthGuest *sg)
{
    unsigned i, k;

    for (i = 0; i < SYNTH_MAX_CPUS; i++) {
        WinDumpCpu *c = &sg->cpus[i];

        memset(c, 0, sizeof(*c));
        for (k = 0; k < 16; k++) {
            /* distinct in every byte lane: a swapped pair shows */
            c->regs[k] = 0x1100000000000000ull * (k + 1) +
                         ((uint64_t)(i + 1) << 32) + 0x1000 * k + i;
        }
        c->rip = 0xfffff80012340000ull + 0x100 * i;
        c->rflags = 0x246 | (i << 8);
        for (k = 0; k < 6; k++) {
            c->sel[k] = 0x100 * (i + 1) + 8 * k + 3;
        }
        c->fx.ControlWord = 0x37f;
        c->fx.MxCsr = 0x1f80 | i;
        c->fx.MxCsr_Mask = 0xffbf;
        /* paging on; CR4.LA57 as the mode has it */
        c->has_cr = true;
        for (k = 0; k < 5; k++) {
            c->cr[k] = SYNTH_CR(i, k);
        }
        if (sg->paging == WIN_DUMP_PAGING_LM5) {
            c->cr[4] |= SYNTH_CR4_LA57;
        }
    }
}

void synth_store_contexts(SynthGuest *sg)
{
    unsigned i;

    for (i = 0; i < sg->nr_cpus; i++) {
        synth_win_context(sg->x64, &sg->cpus[i],
                          ram_ptr(sg, SYNTH_CTX_PA(i),
                                  sg->x64 ? sizeof(WinContext64) :
                                            sizeof(WinContext32)));
    }
}

void synth_set_runs(SynthGuest *sg)
{
    sg->pages = synth_win_hdr_set_runs(&sg->hdr, sg->x64, sg->runs,
                                       sg->nr_runs);
    if (sg->x64) {
        sg->hdr.x64.RequiredDumpSpace =
            cpu_to_le64(sg->hdr_size + sg->pages * SYNTH_PAGE);
    } else {
        sg->hdr.x32.RequiredDumpSpace =
            cpu_to_le64(sg->hdr_size + sg->pages * SYNTH_PAGE);
    }
}

/* The header as a crashed Windows leaves it: what a .dmp starts with */
static void build_header(SynthGuest *sg)
{
    synth_win_header(&sg->hdr, sg->paging, sg->dtb, sg->nr_cpus,
                     synth_va(sg, SYNTH_KDBG_PA));
    if (sg->x64) {
        WinDumpHeader64 *h = &sg->hdr.x64;

        h->BugcheckCode = cpu_to_le32(SYNTH_BUG_CODE);
        h->unused0 = 0;
        h->PhysicalMemoryBlock.unused = 0;
        h->DumpType = cpu_to_le32(WIN_DUMP_TYPE_FULL);
        h->unused1 = 0;
        h->SystemTime = cpu_to_le64(0x01da000000000000ull);
    } else {
        WinDumpHeader32 *h = &sg->hdr.x32;

        h->BugcheckCode = cpu_to_le32(SYNTH_BUG_CODE);
        h->DumpType = cpu_to_le32(WIN_DUMP_TYPE_FULL);
        h->SystemTime = cpu_to_le64(0x01da000000000000ull);
    }
    synth_win_context(sg->x64, &sg->cpus[0],
                      sg->x64 ? sg->hdr.x64.ContextRecord :
                                sg->hdr.x32.ContextRecord);

    sg->runs[0][0] = 0;
    sg->runs[0][1] = SYNTH_HOLE_PFN;
    sg->runs[1][0] = SYNTH_HOLE_PFN + 1;
    sg->runs[1][1] = sg->ram_size / SYNTH_PAGE - SYNTH_HOLE_PFN - 1;
    sg->nr_runs = 2;
    synth_set_runs(sg);
}

void synth_init(SynthGuest *sg, WinDumpPaging paging, bool large,
                uint64_t ram_size, unsigned nr_cpus)
{
    SynthWinKdbg kdbg;
    uint8_t bug[40];
    uint64_t pa, i;

    g_assert_cmpuint(ram_size, >=, SYNTH_MIN_RAM);
    g_assert_cmpuint(ram_size, <=, 2 * MiB);
    g_assert_cmphex(ram_size & (SYNTH_PAGE - 1), ==, 0);
    g_assert(nr_cpus >= 1 && nr_cpus <= SYNTH_MAX_CPUS);

    memset(sg, 0, sizeof(*sg));
    sg->paging = paging;
    sg->x64 = paging == WIN_DUMP_PAGING_LM4 || paging == WIN_DUMP_PAGING_LM5;
    sg->large = large;
    sg->ram_size = ram_size;
    sg->nr_cpus = nr_cpus;
    sg->hdr_size = sg->x64 ? sizeof(WinDumpHeader64) :
                             sizeof(WinDumpHeader32);
    /* LA57: above the 48-bit canonical range, as Windows puts it */
    sg->va_base = paging == WIN_DUMP_PAGING_LM5 ? 0xff7ff80000000000ull :
                  sg->x64 ? 0xfffff80000000000ull : 0x80000000ull;

    /* each 8 bytes say where they are: a misplaced page shows */
    sg->ram = g_malloc(ram_size);
    for (pa = 0; pa < ram_size; pa += 8) {
        stq_le_p(sg->ram + pa, 0x5a5a000000000000ull | pa);
    }
    cpus_init(sg);

    sg->mem = (SynthMem) {
        .ram = { { 0, ram_size } }, .buf = { sg->ram }, .nr = 1,
        .next_table = SYNTH_TABLES_PA, .table_end = SYNTH_KDBG_PA & ~0xfffull,
    };
    sg->dtb = SYNTH_DTB_PA;
    memset(ram_ptr(sg, sg->dtb, SYNTH_PAGE), 0, SYNTH_PAGE);
    if (large) {
        synth_mem_map(&sg->mem, paging, sg->dtb, sg->va_base, 0,
                      paging == WIN_DUMP_PAGING_X86 ? 4 * MiB : 2 * MiB);
    } else {
        for (pa = 0; pa < ram_size; pa += SYNTH_PAGE) {
            synth_mem_map(&sg->mem, paging, sg->dtb, sg->va_base + pa, pa,
                          SYNTH_PAGE);
        }
    }

    /* KiBugcheckData: the code and four parameters, then zeros */
    memset(ram_ptr(sg, SYNTH_BUG_PA, sizeof(bug)), 0, sizeof(bug));
    synth_win_bugcheck(&sg->mem, sg->x64, SYNTH_BUG_PA, SYNTH_BUG_CODE, bug);

    /* a KDBG with nothing but the fields the core reads */
    kdbg = (SynthWinKdbg) {
        .bugcheck_va = synth_va(sg, SYNTH_BUG_PA),
        .pfn_va = sg->x64 ? 0xfffff8000abcd000ull : 0x8055a000ull,
        .kpb_va = synth_va(sg, SYNTH_KPB_PA), .prcb_context = SYNTH_CTX_OFF,
        .size = KDBG_MIN_SIZE,
    };
    synth_win_kdbg(&sg->mem, sg->x64, SYNTH_KDBG_PA, &kdbg);

    for (i = 0; i < nr_cpus; i++) {
        synth_put_ptr(sg, SYNTH_KPB_PA + (sg->x64 ? 8 : 4) * i,
                      synth_va(sg, SYNTH_PRCB_PA(i)));
        synth_put_ptr(sg, SYNTH_PRCB_PA(i) + SYNTH_CTX_OFF,
                      synth_va(sg, SYNTH_CTX_PA(i)));
    }
    build_header(sg);
}

void synth_free(SynthGuest *sg)
{
    g_free(sg->ram);
    sg->ram = NULL;
}

uint8_t *synth_note(const SynthGuest *sg, size_t *size)
{
    return synth_win_note(&sg->hdr, sg->hdr_size, size);
}

/* The guest's RAM as windmp reads a file's: through its one adapter */
void synth_guest(SynthGuest *sg, WinDumpGuest *g)
{
    sg->file = (FileMem) {
        .ram = sg->mem.ram, .data = (const uint8_t *const *)sg->mem.buf,
        .nr = sg->mem.nr,
    };
    filemem_guest(&sg->file, g);
    g->cpus = sg->cpus;
    g->nr_cpus = sg->nr_cpus;
}

/* ---- .dmp ---- */

static uint8_t *grow(GByteArray *b, uint64_t len)
{
    guint old = b->len;

    g_byte_array_set_size(b, old + len);
    memset(b->data + old, 0, len);
    return b->data + old;
}

void synth_dmp(const SynthGuest *sg, bool bitmap, SynthDmp *d)
{
    WinDumpHeader hdr = sg->hdr;
    uint64_t ram_pages = sg->ram_size / SYNTH_PAGE;
    unsigned i;

    memset(d, 0, sizeof(*d));
    d->buf = g_byte_array_new();
    d->hdr_size = sg->hdr_size;
    grow(d->buf, sg->hdr_size);

    if (bitmap) {
        /* bits: a multiple of 32, as kdmp-parser needs (format.md 3.1) */
        uint64_t bits = ROUND_UP(ram_pages, 32), nbytes = bits / 8;
        uint8_t *bh, *map;
        uint64_t p, n = 0;

        d->bitmap_hdr = sg->hdr_size;
        bh = grow(d->buf, 0x38 + nbytes);
        map = bh + 0x38;
        memcpy(bh, "FDMP", 4);
        memcpy(bh + 4, "DUMP", 4);
        for (i = 0; i < sg->nr_runs; i++) {
            for (p = sg->runs[i][0]; p < sg->runs[i][0] + sg->runs[i][1];
                 p++) {
                map[p / 8] |= 1u << (p % 8);
                n++;
            }
        }
        d->first_page = ROUND_UP(d->buf->len, SYNTH_PAGE);
        bh = d->buf->data + d->bitmap_hdr;
        synth_put64(bh + 0x20, d->first_page);
        synth_put64(bh + 0x28, n);
        synth_put64(bh + 0x30, bits);
        grow(d->buf, d->first_page - d->buf->len);
        for (p = 0; p < ram_pages; p++) {
            if (d->buf->data[d->bitmap_hdr + 0x38 + p / 8] &
                (1u << (p % 8))) {
                g_byte_array_append(d->buf, sg->ram + p * SYNTH_PAGE,
                                    SYNTH_PAGE);
            }
        }
    } else {
        d->first_page = sg->hdr_size;
        for (i = 0; i < sg->nr_runs; i++) {
            g_byte_array_append(d->buf, sg->ram + sg->runs[i][0] * SYNTH_PAGE,
                                sg->runs[i][1] * SYNTH_PAGE);
        }
    }

    if (sg->x64) {
        hdr.x64.DumpType = cpu_to_le32(bitmap ? 5 : WIN_DUMP_TYPE_FULL);
        hdr.x64.RequiredDumpSpace = cpu_to_le64(d->buf->len);
    } else {
        hdr.x32.DumpType = cpu_to_le32(bitmap ? 5 : WIN_DUMP_TYPE_FULL);
        hdr.x32.RequiredDumpSpace = cpu_to_le64(d->buf->len);
    }
    memcpy(d->buf->data, &hdr, sg->hdr_size);
}

/* ---- ELF ---- */

SynthElfOpts synth_elf_default(const SynthGuest *sg)
{
    /* as QEMU: ELF64 unless a 32-bit guest below 4 GiB */
    return (SynthElfOpts) {
        .elf64 = sg->x64, .machine = sg->x64 ? EM_X86_64 : EM_386,
        .qemu_notes = true, .prstatus = true, .vmcoreinfo = true,
        .nr_loads = 1,
    };
}

static uint64_t add_note(GByteArray *b, const char *name, uint32_t type,
                         const void *desc, uint32_t descsz)
{
    uint32_t namesz = strlen(name) + 1;
    uint64_t off = b->len;
    uint8_t *p = grow(b, 12 + ROUND_UP(namesz, 4) + ROUND_UP(descsz, 4));

    stl_le_p(p, namesz);
    stl_le_p(p + 4, descsz);
    stl_le_p(p + 8, type);
    memcpy(p + 12, name, namesz);
    memcpy(p + 12 + ROUND_UP(namesz, 4), desc, descsz);
    return off;
}

static void put_seg(uint8_t *d, size_t off, uint16_t sel)
{
    synth_put32(d + off + offsetof(ElfQemuSegment, selector), sel);
    synth_put32(d + off + offsetof(ElfQemuSegment, limit), 0xffffffff);
    synth_put64(d + off + offsetof(ElfQemuSegment, base), 0x1000ull * sel);
}

/* The "QEMU" note of vCPU @i, laid out as elfcore.c reads it */
static void qemu_note_desc(const WinDumpCpu *c, unsigned i, uint8_t *d)
{
    unsigned k;

    memset(d, 0, sizeof(ElfQemuCpuState));
    synth_put32(d, 1);
    synth_put32(d + 4, sizeof(ElfQemuCpuState));
    for (k = 0; k < 16; k++) {
        synth_put64(d + elf_qemu_reg_offsets[k], c->regs[k]);
    }
    synth_put64(d + offsetof(ElfQemuCpuState, rip), c->rip);
    synth_put64(d + offsetof(ElfQemuCpuState, rflags), c->rflags);
    for (k = 0; k < 6; k++) {
        put_seg(d, elf_qemu_seg_offsets[k], c->sel[k]);
    }
    put_seg(d, offsetof(ElfQemuCpuState, tr), 0x40);
    for (k = 0; k < 5; k++) {
        synth_put64(d + offsetof(ElfQemuCpuState, cr) + 8 * k, c->cr[k]);
    }
    synth_put64(d + offsetof(ElfQemuCpuState, kernel_gs_base),
                SYNTH_KERNEL_GS(i));
}

/* Linux's x86-64 struct elf_prstatus: pr_reg (user_regs_struct) at 112 */
#define PRSTATUS64_SIZE     336
#define PRSTATUS32_SIZE     144

static void prstatus64_desc(const WinDumpCpu *c, uint8_t *d)
{
    /* user_regs_struct order, as indices into WinDumpCpu.regs */
    static const int8_t order[16] = {
        15, 14, 13, 12, 5, 3, 11, 10, 9, 8, 0, 1, 2, 6, 7, -1,
    };
    uint8_t *r = d + 112;
    unsigned k;

    memset(d, 0, PRSTATUS64_SIZE);
    for (k = 0; k < 16; k++) {
        synth_put64(r + 8 * k, order[k] < 0 ? 0 : c->regs[order[k]]);
    }
    synth_put64(r + 8 * 16, c->rip);
    synth_put64(r + 8 * 17, c->sel[1]);
    synth_put64(r + 8 * 18, c->rflags);
    synth_put64(r + 8 * 19, c->regs[4]);
    synth_put64(r + 8 * 20, c->sel[2]);
    synth_put64(r + 8 * 23, c->sel[3]);
    synth_put64(r + 8 * 24, c->sel[0]);
    synth_put64(r + 8 * 25, c->sel[4]);
    synth_put64(r + 8 * 26, c->sel[5]);
}

static void put_phdr(uint8_t *p, bool elf64, uint32_t type, uint64_t off,
                     uint64_t va, uint64_t pa, uint64_t filesz,
                     uint64_t memsz)
{
    if (elf64) {
        synth_put32(p + offsetof(Elf64_Phdr, p_type), type);
        synth_put64(p + offsetof(Elf64_Phdr, p_offset), off);
        synth_put64(p + offsetof(Elf64_Phdr, p_vaddr), va);
        synth_put64(p + offsetof(Elf64_Phdr, p_paddr), pa);
        synth_put64(p + offsetof(Elf64_Phdr, p_filesz), filesz);
        synth_put64(p + offsetof(Elf64_Phdr, p_memsz), memsz);
    } else {
        synth_put32(p + offsetof(Elf32_Phdr, p_type), type);
        synth_put32(p + offsetof(Elf32_Phdr, p_offset), off);
        synth_put32(p + offsetof(Elf32_Phdr, p_vaddr), va);
        synth_put32(p + offsetof(Elf32_Phdr, p_paddr), pa);
        synth_put32(p + offsetof(Elf32_Phdr, p_filesz), filesz);
        synth_put32(p + offsetof(Elf32_Phdr, p_memsz), memsz);
    }
}

void synth_elf(const SynthGuest *sg, const SynthElfOpts *o, SynthElf *e)
{
    size_t ehsize = o->elf64 ? sizeof(Elf64_Ehdr) : sizeof(Elf32_Ehdr);
    size_t shsize = o->elf64 ? sizeof(Elf64_Shdr) : sizeof(Elf32_Shdr);
    uint64_t pages = sg->ram_size / SYNTH_PAGE, per, pa, dup_off = 0;
    uint8_t desc[PRSTATUS64_SIZE > sizeof(ElfQemuCpuState) ?
                 PRSTATUS64_SIZE : sizeof(ElfQemuCpuState)];
    GByteArray *b;
    uint8_t *eh;
    unsigned i;

    g_assert(o->nr_loads >= 1 && o->nr_loads <= SYNTH_MAX_LOADS);
    memset(e, 0, sizeof(*e));
    b = e->buf = g_byte_array_new();
    e->phentsize = o->elf64 ? sizeof(Elf64_Phdr) : sizeof(Elf32_Phdr);
    e->phnum = 1 + o->nr_loads + o->dup_load;
    grow(b, ehsize);
    e->phoff = b->len;
    grow(b, e->phnum * e->phentsize);
    if (o->xnum) {
        e->shoff = b->len;
        grow(b, shsize);
    }

    e->note_off = b->len;
    for (i = 0; o->prstatus && i < sg->nr_cpus; i++) {
        uint32_t sz = o->elf64 ? PRSTATUS64_SIZE : PRSTATUS32_SIZE;

        memset(desc, 0, sizeof(desc));
        if (o->elf64) {
            prstatus64_desc(&sg->cpus[i], desc);
        }
        e->prstatus_off[i] = add_note(b, "CORE", NT_PRSTATUS, desc, sz);
    }
    for (i = 0; o->qemu_notes && i < sg->nr_cpus; i++) {
        qemu_note_desc(&sg->cpus[i], i, desc);
        e->qemu_note_off[i] = add_note(b, "QEMU", 0, desc,
                                       sizeof(ElfQemuCpuState));
    }
    if (o->vmcoreinfo) {
        e->vmci_off = add_note(b, "VMCOREINFO", 0, &sg->hdr, sg->hdr_size);
    }
    e->note_size = b->len - e->note_off;

    /* RAM, page aligned in the file as QEMU does */
    grow(b, ROUND_UP(b->len, SYNTH_PAGE) - b->len);
    per = pages / o->nr_loads;
    for (i = 0, pa = 0; i < o->nr_loads; i++) {
        uint64_t n = (i == o->nr_loads - 1 ? pages - i * per : per) *
                     SYNTH_PAGE;

        e->load_off[i] = b->len;
        g_byte_array_append(b, sg->ram + pa, n);
        pa += n;
    }
    if (o->dup_load) {
        /* a second mapping of the first two pages, as paging makes */
        dup_off = b->len;
        memset(grow(b, 2 * SYNTH_PAGE), 0xee, 2 * SYNTH_PAGE);
        e->load_off[o->nr_loads] = dup_off;
    }

    /* headers last: b->data may have moved while growing */
    eh = b->data;
    memcpy(eh, ELFMAG, SELFMAG);
    eh[EI_CLASS] = o->elf64 ? ELFCLASS64 : ELFCLASS32;
    eh[EI_DATA] = ELFDATA2LSB;
    eh[EI_VERSION] = EV_CURRENT;
    if (o->elf64) {
        synth_put16(eh + offsetof(Elf64_Ehdr, e_type), ET_CORE);
        synth_put16(eh + offsetof(Elf64_Ehdr, e_machine), o->machine);
        synth_put32(eh + offsetof(Elf64_Ehdr, e_version), EV_CURRENT);
        synth_put64(eh + offsetof(Elf64_Ehdr, e_phoff), e->phoff);
        synth_put64(eh + offsetof(Elf64_Ehdr, e_shoff), e->shoff);
        synth_put16(eh + offsetof(Elf64_Ehdr, e_ehsize), ehsize);
        synth_put16(eh + offsetof(Elf64_Ehdr, e_phentsize), e->phentsize);
        synth_put16(eh + offsetof(Elf64_Ehdr, e_phnum),
                    o->xnum ? PN_XNUM : e->phnum);
        synth_put16(eh + offsetof(Elf64_Ehdr, e_shentsize), shsize);
        synth_put16(eh + offsetof(Elf64_Ehdr, e_shnum), o->xnum);
        if (o->xnum) {
            synth_put32(eh + e->shoff + offsetof(Elf64_Shdr, sh_info),
                        e->phnum);
        }
    } else {
        synth_put16(eh + offsetof(Elf32_Ehdr, e_type), ET_CORE);
        synth_put16(eh + offsetof(Elf32_Ehdr, e_machine), o->machine);
        synth_put32(eh + offsetof(Elf32_Ehdr, e_version), EV_CURRENT);
        synth_put32(eh + offsetof(Elf32_Ehdr, e_phoff), e->phoff);
        synth_put32(eh + offsetof(Elf32_Ehdr, e_shoff), e->shoff);
        synth_put16(eh + offsetof(Elf32_Ehdr, e_ehsize), ehsize);
        synth_put16(eh + offsetof(Elf32_Ehdr, e_phentsize), e->phentsize);
        synth_put16(eh + offsetof(Elf32_Ehdr, e_phnum),
                    o->xnum ? PN_XNUM : e->phnum);
        synth_put16(eh + offsetof(Elf32_Ehdr, e_shentsize), shsize);
        synth_put16(eh + offsetof(Elf32_Ehdr, e_shnum), o->xnum);
        if (o->xnum) {
            synth_put32(eh + e->shoff + offsetof(Elf32_Shdr, sh_info),
                        e->phnum);
        }
    }

    put_phdr(eh + e->phoff, o->elf64, PT_NOTE, e->note_off, 0, 0,
             e->note_size, e->note_size);
    for (i = 0, pa = 0; i < o->nr_loads; i++) {
        uint64_t n = (i == o->nr_loads - 1 ? pages - i * per : per) *
                     SYNTH_PAGE;

        put_phdr(eh + e->phoff + (1 + i) * e->phentsize, o->elf64, PT_LOAD,
                 e->load_off[i], pa, pa, n, n);
        pa += n;
    }
    if (o->dup_load) {
        put_phdr(eh + e->phoff + (1 + o->nr_loads) * e->phentsize,
                 o->elf64, PT_LOAD, dup_off, synth_va(sg, 0), 0,
                 2 * SYNTH_PAGE, 2 * SYNTH_PAGE);
    }
}
