/*
 * Fuzz target: the win-dmp core itself (qemu/dump/windmp/), the in-tree
 * parser of hostile guest input.  The input is what a guest controls: the
 * header it publishes and its RAM (page tables, KDBG, KPRCBs):
 *
 *   byte 0      flags: FLAG_*
 *   bytes 1-2   length N of the vmcoreinfo note, little-endian
 *   N bytes     the note (Elf_Nhdr, "VMCOREINFO", DUMP_HEADER32/64)
 *   the rest    guest RAM from physical address 0 (at most 2 MiB)
 *
 * The guest below checks the core's promises: it asks only for RAM, maps
 * and unmaps in pairs, and its plan and output agree.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "windmp-synth.h"
#include "fuzz.h"

const char fuzz_target_name[] = "fuzz-prepare";

#define FLAG_TWO_CPUS       0x01
#define FLAG_CPU1_CRASHED   0x02
#define FLAG_MAP_SHIFT      2       /* 2 bits: how short map() maps */
#define FLAG_HOLE           0x10    /* SYNTH_HOLE_PFN is not RAM */
#define FLAG_KERNEL         0x20    /* a kernel memory dump */

#define MAX_RAM             (2ull << 20)

typedef struct FuzzGuest {
    const uint8_t *ram;
    WinDumpRange ranges[2];
    unsigned nr_ranges;
    uint64_t map_max;
    int mapped;
    WinDumpCpu cpus[2];
    WinDumpGuest g;
} FuzzGuest;

/* The range that holds @pa, or NULL */
static const WinDumpRange *range_of(FuzzGuest *fg, uint64_t pa)
{
    unsigned i;

    for (i = 0; i < fg->nr_ranges; i++) {
        if (pa >= fg->ranges[i].start && pa < fg->ranges[i].end) {
            return &fg->ranges[i];
        }
    }
    return NULL;
}

static bool fg_read(void *opaque, uint64_t pa, void *buf, uint64_t len)
{
    FuzzGuest *fg = opaque;

    /* the core promises to ask for RAM only */
    fuzz_assert(windmp_is_ram(&fg->g, pa, len));
    memcpy(buf, fg->ram + pa, len);
    return true;
}

static const void *fg_map(void *opaque, uint64_t pa, uint64_t *len)
{
    FuzzGuest *fg = opaque;
    const WinDumpRange *r = range_of(fg, pa);

    fuzz_assert(r);
    fuzz_assert(*len > 0);
    *len = MIN(*len, r->end - pa);
    if (fg->map_max) {
        *len = MIN(*len, fg->map_max);
    }
    fg->mapped++;
    return fg->ram + pa;
}

static void fg_unmap(void *opaque, const void *ptr, uint64_t len)
{
    FuzzGuest *fg = opaque;

    fuzz_assert(fg->mapped > 0);
    fg->mapped--;
}

static void fg_warn(void *opaque, const char *msg)
{
    fuzz_assert(msg && *msg);
}

static const WinDumpGuestOps fg_ops = {
    .read = fg_read,
    .map = fg_map,
    .unmap = fg_unmap,
    .warn = fg_warn,
};


static void cpus_init(FuzzGuest *fg, uint8_t flags)
{
    unsigned i, k;

    for (i = 0; i < 2; i++) {
        WinDumpCpu *c = &fg->cpus[i];

        memset(c, 0, sizeof(*c));
        for (k = 0; k < 16; k++) {
            c->regs[k] = 0x1100000000000000ull * (k + 1) + i;
        }
        c->rip = 0xfffff80012340000ull + i;
        c->fx.MxCsr = 0x1f80;
    }
    fg->cpus[1].crashed = flags & FLAG_CPU1_CRASHED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint64_t map_max[4] = { 0, 0x1000, 0x10, 0x1234 };
    FuzzGuest fg = { 0 };
    WinDumpOptions opts = { 0 };
    FuzzSink sink = { 0 };
    g_autofree uint8_t *note_buf = NULL;
    const uint8_t *note;
    uint64_t note_size, ram_size;
    uint8_t flags;
    Error *err = NULL;
    WinDump wd;

    if (size < 3) {
        return 0;
    }
    flags = data[0];
    note_size = data[1] | data[2] << 8;
    if (note_size > size - 3) {
        return 0;
    }
    /* QEMU reads the note into a buffer of its own: aligned, as here */
    note = note_buf = g_memdup2(data + 3, note_size);
    fg.ram = data + 3 + note_size;
    ram_size = MIN(size - 3 - note_size, MAX_RAM);
    if (!ram_size) {
        return 0;
    }

    if ((flags & FLAG_HOLE) &&
        ram_size > (SYNTH_HOLE_PFN + 1) * SYNTH_PAGE) {
        fg.ranges[0] = (WinDumpRange) { 0, SYNTH_HOLE_PFN * SYNTH_PAGE };
        fg.ranges[1] = (WinDumpRange) { (SYNTH_HOLE_PFN + 1) * SYNTH_PAGE,
                                        ram_size };
        fg.nr_ranges = 2;
    } else {
        fg.ranges[0] = (WinDumpRange) { 0, ram_size };
        fg.nr_ranges = 1;
    }
    fg.map_max = map_max[(flags >> FLAG_MAP_SHIFT) & 3];
    cpus_init(&fg, flags);
    opts.kernel_only = flags & FLAG_KERNEL;
    fg.g = (WinDumpGuest) {
        .ops = &fg_ops, .opaque = &fg, .ram = fg.ranges,
        .nr_ram = fg.nr_ranges, .cpus = fg.cpus,
        .nr_cpus = flags & FLAG_TWO_CPUS ? 2 : 1,
    };

    if (windmp_prepare(&wd, &fg.g, note, note_size, &opts, &err)) {
        fuzz_check_plan(&wd, &fg.g);
        fuzz_assert(fg.mapped == 0);
        if (wd.total_size <= FUZZ_MAX_WRITE) {
            WinDumpSink out = {
                fuzz_sink_write, fuzz_sink_skip, &sink
            };

            fuzz_assert(windmp_write(&wd, &fg.g, &out, &err));
            fuzz_assert(sink.bytes == wd.total_size);
            fuzz_deep_runs += wd.nr_contexts == fg.g.nr_cpus;
        }
        windmp_cleanup(&wd);
    } else {
        fuzz_assert(err && *error_get_pretty(err));
        fuzz_assert(!wd.extents && !wd.overlays && !wd.nr_overlays);
        error_free(err);
    }
    fuzz_assert(fg.mapped == 0);
    return 0;
}

/* ---- seeds: the notes and RAM of small Windows-like guests ---- */

static void seed(FuzzSeedFn fn, void *opaque, const char *name,
                 WinDumpPaging paging, bool large, uint8_t flags)
{
    SynthGuest sg;
    g_autofree uint8_t *note = NULL;
    size_t note_size;
    GByteArray *b = g_byte_array_new();
    uint8_t head[3];

    synth_init(&sg, paging, large, SYNTH_MIN_RAM,
               flags & FLAG_TWO_CPUS ? 2 : 1);
    note = synth_note(&sg, &note_size);
    head[0] = flags;
    head[1] = note_size;
    head[2] = note_size >> 8;
    g_byte_array_append(b, head, 3);
    g_byte_array_append(b, note, note_size);
    g_byte_array_append(b, sg.ram, sg.ram_size);
    fn(opaque, name, b->data, b->len);
    g_byte_array_free(b, true);
    synth_free(&sg);
}

void fuzz_seeds(FuzzSeedFn fn, void *opaque)
{
    seed(fn, opaque, "x64-2cpu", WIN_DUMP_PAGING_LM4, false,
         FLAG_TWO_CPUS | FLAG_HOLE);
    seed(fn, opaque, "x64-2m-short-maps", WIN_DUMP_PAGING_LM4, true,
         1 << FLAG_MAP_SHIFT);
    seed(fn, opaque, "pae-2cpu-crashed", WIN_DUMP_PAGING_PAE, false,
         FLAG_TWO_CPUS | FLAG_CPU1_CRASHED | FLAG_HOLE |
         3 << FLAG_MAP_SHIFT);
    seed(fn, opaque, "pae-2m", WIN_DUMP_PAGING_PAE, true, FLAG_HOLE);
    seed(fn, opaque, "x86-4m-2cpu", WIN_DUMP_PAGING_X86, true,
         FLAG_TWO_CPUS | 2 << FLAG_MAP_SHIFT);
    seed(fn, opaque, "x86", WIN_DUMP_PAGING_X86, false, FLAG_HOLE);
    seed(fn, opaque, "x64-kernel", WIN_DUMP_PAGING_LM4, false,
         FLAG_TWO_CPUS | FLAG_KERNEL);
    seed(fn, opaque, "pae-kernel", WIN_DUMP_PAGING_PAE, true,
         FLAG_KERNEL | FLAG_HOLE);
    seed(fn, opaque, "x86-kernel", WIN_DUMP_PAGING_X86, false, FLAG_KERNEL);
}
