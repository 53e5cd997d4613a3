/*
 * Fuzz target: windmp's .dmp reader and checker, and the page-table
 * walker reading through what it mapped.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "dmpfile.h"
#include "windmp-synth.h"
#include "fuzz.h"

const char fuzz_target_name[] = "fuzz-dmpfile";

/* Up to 4096 are checked; more than this takes milliseconds per input */
#define FUZZ_MAX_PROCESSORS 64

/* What dmpfile.h promises of the page map */
static void check_map(const DmpFile *df, const uint8_t *data, size_t size,
                      uint64_t *budget)
{
    size_t i;

    fuzz_assert(df->hdr == (const void *)data);
    fuzz_assert(df->hdr_size <= size);
    for (i = 0; i < df->nr_extents; i++) {
        const DmpExtent *e = &df->extents[i];
        const uint8_t *p;
        uint64_t n;

        fuzz_assert(e->len > 0);
        fuzz_assert(e->offset <= size && e->len <= size - e->offset);
        fuzz_assert(!i || df->extents[i - 1].pa + df->extents[i - 1].len
                          <= e->pa);
        fuzz_assert(e->pa + e->len > e->pa);
        fuzz_assert(df->ram[i].start == e->pa);
        fuzz_assert(df->ram[i].end == e->pa + e->len);

        n = UINT64_MAX;
        p = dmpfile_ptr(df, e->pa, &n);
        fuzz_assert(p == data + e->offset && n == e->len);
        n = 1;
        p = dmpfile_ptr(df, e->pa + e->len - 1, &n);
        fuzz_assert(p == data + e->offset + e->len - 1 && n == 1);
        fuzz_touch(data + e->offset, e->len, budget);
    }
}

static void check_findings(const DmpFile *df)
{
    guint i;

    for (i = 0; i < df->findings->len; i++) {
        const DmpFinding *f = &g_array_index(df->findings, DmpFinding, i);

        fuzz_assert(f->msg && *f->msg);
        fuzz_assert(f->severity <= DMP_ERROR);
    }
}

/* Read through the dump as a debugger would, from what the header says */
static void read_virt(const DmpFile *df)
{
    uint64_t vas[8] = {
        df->kdbg_va, df->ps_loaded_module_list, df->ps_active_process_head,
        df->pfn_database, df->bugcheck_param[0], df->bugcheck_param[1],
    };
    unsigned nr = 6, i;
    WinDumpGuest g;
    WinDumpSpace as;
    uint8_t buf[0x2000];

    for (i = 0; df->cpus && i < MIN(df->nr_processors, 2); i++) {
        vas[nr++] = df->cpus[i].context_va;
    }
    dmpfile_guest(df, &g);
    windmp_space_init(&as, &g, dmpfile_paging(df),
                      df->dtb & ~(uint64_t)0xfff);
    for (i = 0; i < nr; i++) {
        Error *err = NULL;

        if (!windmp_read_virt(&as, vas[i], buf, sizeof(buf), &err)) {
            fuzz_assert(err && *error_get_pretty(err));
            error_free(err);
        }
        /* and across a page boundary */
        windmp_read_virt(&as, vas[i] | 0xffc, buf, 8, NULL);
    }
    windmp_space_destroy(&as);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint64_t budget = FUZZ_MAX_TOUCH;
    Error *err = NULL;
    DmpFile df;
    unsigned errors;

    if (!dmpfile_parse(&df, data, size, &err)) {
        fuzz_assert(err && *error_get_pretty(err));
        error_free(err);
        return 0;
    }
    check_map(&df, data, size, &budget);
    if (df.nr_processors > FUZZ_MAX_PROCESSORS) {
        /* a walk and a finding each: slow, and in the unit tests */
        dmpfile_free(&df);
        return 0;
    }
    dmpfile_check(&df);
    check_findings(&df);
    errors = dmpfile_count(&df, DMP_ERROR);
    fuzz_assert(errors <= dmpfile_count(&df, DMP_WARNING));
    fuzz_assert(dmpfile_count(&df, DMP_INFO) == df.findings->len);
    if (df.kdbg_ok) {
        fuzz_assert(df.cpus || !df.nr_processors);
        fuzz_deep_runs += !errors;
    }
    read_virt(&df);
    dmpfile_free(&df);
    return 0;
}

/* ---- seeds: correct dumps of small Windows-like guests ---- */

static void seed(FuzzSeedFn fn, void *opaque, const char *name,
                 WinDumpPaging paging, bool large, bool bitmap)
{
    SynthGuest sg;
    SynthDmp d;

    synth_init(&sg, paging, large, SYNTH_MIN_RAM, 2);
    synth_store_contexts(&sg);
    synth_dmp(&sg, bitmap, &d);
    fn(opaque, name, d.buf->data, d.buf->len);
    g_byte_array_free(d.buf, true);
    synth_free(&sg);
}

void fuzz_seeds(FuzzSeedFn fn, void *opaque)
{
    seed(fn, opaque, "x64-full", WIN_DUMP_PAGING_LM4, false, false);
    seed(fn, opaque, "x64-2m-bitmap", WIN_DUMP_PAGING_LM4, true, true);
    seed(fn, opaque, "pae-full", WIN_DUMP_PAGING_PAE, false, false);
    seed(fn, opaque, "pae-2m-bitmap", WIN_DUMP_PAGING_PAE, true, true);
    seed(fn, opaque, "x86-4m-full", WIN_DUMP_PAGING_X86, true, false);
    seed(fn, opaque, "x86-bitmap", WIN_DUMP_PAGING_X86, false, true);
}
