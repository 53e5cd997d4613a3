/*
 * Fuzz target: windmp's QEMU ELF core parser, and then the whole convert
 * path (the core's check, plan and write) on what it accepted.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "elfcore.h"
#include "windmp-synth.h"
#include "fuzz.h"

const char fuzz_target_name[] = "fuzz-elfcore";

/* What elfcore.h promises of a parsed core */
static void check_core(const ElfCore *ec, const uint8_t *data, size_t size,
                       uint64_t *budget)
{
    uint64_t bytes = 0;
    size_t i;

    fuzz_assert(ec->nr_segs > 0 && ec->nr_cpus > 0);
    fuzz_assert(ec->cpus && ec->win_cpus && ec->warnings);
    for (i = 0; i < ec->nr_segs; i++) {
        const ElfCoreSegment *s = &ec->segs[i];

        fuzz_assert(s->offset <= size && s->filesz <= size - s->offset);
    }
    for (i = 0; i < ec->nr_ram; i++) {
        const WinDumpRange *r = &ec->ram[i];
        uint64_t len = r->end - r->start, n;
        const uint8_t *p = ec->ram_data[i];

        fuzz_assert(r->start < r->end);
        fuzz_assert(!i || ec->ram[i - 1].end <= r->start);
        /* every byte of the map is in the file */
        fuzz_assert(p >= data && p <= data + size);
        fuzz_assert(len <= (uint64_t)(data + size - p));
        bytes += len;

        n = UINT64_MAX;
        fuzz_assert(elfcore_ptr(ec, r->start, &n) == p);
        fuzz_assert(n == len);
        n = 1;
        fuzz_assert(elfcore_ptr(ec, r->end - 1, &n) == p + len - 1);
        fuzz_assert(n == 1);
        fuzz_touch(p, len, budget);
    }
    fuzz_assert(bytes == ec->ram_bytes);
    if (ec->guest_note) {
        /* an aligned copy of (the start of) a note that is in the file */
        fuzz_assert(ec->guest_note_size <= size);
        fuzz_touch(ec->guest_note, MIN(ec->guest_note_size,
                                       VMCOREINFO_WIN_DUMP_NOTE_SIZE64),
                   budget);
    }
}


static void convert(const ElfCore *ec)
{
    WinDumpOptions opts = { .system_time = 0x01da000000000000ull };
    FuzzSink sink = { 0 };
    WinDumpGuest g;
    WinDump wd;
    Error *err = NULL;
    const uint8_t *note = ec->guest_note;
    g_autofree uint8_t *copy = NULL;

    /*
     * The tool hands the core the note where it lies in the file, which
     * for an ELF32 core is only 4-byte aligned.  WINDMP_FUZZ_ALIGN_NOTE=1
     * passes an aligned copy instead, to fuzz past that if it is reported.
     */
    if (getenv("WINDMP_FUZZ_ALIGN_NOTE")) {
        note = copy = g_memdup2(note, ec->guest_note_size);
    }
    if (!windmp_note_check(note, ec->guest_note_size, &err)) {
        fuzz_assert(err);
        error_free(err);
        return;
    }
    elfcore_guest(ec, &g);
    if (!windmp_prepare(&wd, &g, note, ec->guest_note_size, &opts, &err)) {
        fuzz_assert(err && *error_get_pretty(err));
        fuzz_assert(!wd.extents && !wd.overlays);
        error_free(err);
        return;
    }
    fuzz_check_plan(&wd, &g);
    if (wd.total_size <= FUZZ_MAX_WRITE) {
        WinDumpSink out = { fuzz_sink_write, NULL, &sink };

        fuzz_assert(windmp_write(&wd, &g, &out, &err));
        fuzz_assert(sink.bytes == wd.total_size);
        fuzz_deep_runs++;
    }
    windmp_cleanup(&wd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t budget = FUZZ_MAX_TOUCH;
    Error *err = NULL;
    ElfCore ec;

    if (!elfcore_parse(&ec, data, size, &err)) {
        fuzz_assert(err && *error_get_pretty(err));
        error_free(err);
        return 0;
    }
    check_core(&ec, data, size, &budget);
    if (ec.guest_note) {
        convert(&ec);
    }
    elfcore_free(&ec);
    return 0;
}

/* ---- seeds: QEMU's cores of small Windows-like guests ---- */

static void seed(FuzzSeedFn fn, void *opaque, const char *name,
                 WinDumpPaging paging, bool large, unsigned nr_cpus,
                 void (*tweak)(SynthElfOpts *o))
{
    SynthGuest sg;
    SynthElfOpts o;
    SynthElf e;

    synth_init(&sg, paging, large, SYNTH_MIN_RAM, nr_cpus);
    o = synth_elf_default(&sg);
    if (tweak) {
        tweak(&o);
    }
    synth_elf(&sg, &o, &e);
    fn(opaque, name, e.buf->data, e.buf->len);
    g_byte_array_free(e.buf, true);
    synth_free(&sg);
}

static void tweak_elf64(SynthElfOpts *o)
{
    o->elf64 = true;
}

static void tweak_prstatus(SynthElfOpts *o)
{
    o->qemu_notes = false;
}

static void tweak_xnum(SynthElfOpts *o)
{
    o->xnum = true;
    o->nr_loads = 3;
}

static void tweak_paging(SynthElfOpts *o)
{
    o->dup_load = true;
    o->nr_loads = 2;
}

void fuzz_seeds(FuzzSeedFn fn, void *opaque)
{
    seed(fn, opaque, "x64-2cpu", WIN_DUMP_PAGING_LM4, false, 2, NULL);
    seed(fn, opaque, "x64-2m-prstatus", WIN_DUMP_PAGING_LM4, true, 1,
         tweak_prstatus);
    seed(fn, opaque, "x64-xnum", WIN_DUMP_PAGING_LM4, true, 1, tweak_xnum);
    seed(fn, opaque, "x64-paging", WIN_DUMP_PAGING_LM4, false, 2,
         tweak_paging);
    seed(fn, opaque, "pae-elf32", WIN_DUMP_PAGING_PAE, false, 2, NULL);
    seed(fn, opaque, "x86-elf64", WIN_DUMP_PAGING_X86, true, 1, tweak_elf64);
    seed(fn, opaque, "x86-elf32-xnum", WIN_DUMP_PAGING_X86, false, 1,
         tweak_xnum);
}
