/*
 * Fuzz targets of windmp's parsers: what each target file provides, for
 * libFuzzer and for fuzz-main.c (the replay and seed writer that every
 * build compiles, so that the targets cannot bit-rot).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_FUZZ_H
#define WINDMP_FUZZ_H

#include "windmp.h"

/* Unlike g_assert(), never compiled out, and says what broke */
#define fuzz_assert(cond) \
    do { \
        if (!(cond)) { \
            fprintf(stderr, "%s:%d: invariant broken: %s\n", __FILE__, \
                    __LINE__, #cond); \
            abort(); \
        } \
    } while (0)

/* The work one input may cause, so that each runs in milliseconds */
#define FUZZ_MAX_WRITE      (64ull << 20)  /* bytes of .dmp per input */
#define FUZZ_MAX_TOUCH      (8ull << 20)   /* bytes looked at per input */

/*
 * Runs of the target that got through its deepest stage (e.g. a .dmp
 * written); fuzz-main.c checks that every seed does, so that the fuzzer
 * starts from inputs that reach the code worth mutating.
 */
extern unsigned fuzz_deep_runs;

typedef void (*FuzzSeedFn)(void *opaque, const char *name,
                           const uint8_t *data, size_t size);

/* Each target: its name, its seeds (valid inputs) and the target itself */
extern const char fuzz_target_name[];
void fuzz_seeds(FuzzSeedFn fn, void *opaque);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * A windmp_write() output that keeps nothing but reads what it is given
 * (so that ASan sees a bad pointer) and counts it; opaque is a FuzzSink.
 */
typedef struct FuzzSink {
    uint64_t bytes;
    uint64_t touched;
    uint8_t sum;
} FuzzSink;

bool fuzz_sink_write(void *opaque, const void *buf, size_t len,
                     Error **errp);
/* Counts the bytes of a hole (the zero pages that a file would skip) */
bool fuzz_sink_skip(void *opaque, uint64_t len, Error **errp);

/* Read [p, p + len) page by page, up to a budget */
uint8_t fuzz_touch(const uint8_t *p, uint64_t len, uint64_t *budget);

/* Assert what windmp.h promises of a plan that windmp_prepare() made */
void fuzz_check_plan(const WinDump *wd, const WinDumpGuest *g);

#endif /* WINDMP_FUZZ_H */
