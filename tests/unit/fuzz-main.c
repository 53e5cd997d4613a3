/*
 * A main() for the fuzz targets without libFuzzer: every build compiles
 * and runs each target this way, so that none can bit-rot.
 *
 *   fuzz-X-replay                    its seeds and mutants of them (TAP)
 *   fuzz-X-replay FILE|DIR...        replay inputs, e.g. a crash (TAP)
 *   fuzz-X-replay --write-seeds DIR  write its seeds, for libFuzzer
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qemu/bswap.h"
#include "qapi/error.h"
#include "fuzz.h"

/* Mutants of each seed: enough to leave the happy path, still fast */
#define MUTANTS     64

typedef struct Replay {
    unsigned tests;
    const char *dir;            /* --write-seeds */
    bool failed;
} Replay;

static uint64_t rng_state;

static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* An exact-size copy, so that ASan catches a read past the input */
static void run_one(const uint8_t *data, size_t size)
{
    g_autofree uint8_t *copy = g_memdup2(data, size);

    LLVMFuzzerTestOneInput(copy, size);
}

/* Where a parser looks first: the file's and the header's fields */
static size_t mutant_pos(size_t size)
{
    size_t hot = MIN(size, 0x3000);

    return rng() % 2 ? rng() % hot : rng() % size;
}

static void mutate(uint8_t *d, size_t size)
{
    static const uint32_t interesting[] = {
        0, 1, 0x7f, 0x80, 0xff, 0x1000, 0x7fffffff, 0x80000000,
        0xfffffffe, 0xffffffff,
    };
    unsigned edits = 1 + rng() % 4, i;

    for (i = 0; i < edits; i++) {
        size_t pos = mutant_pos(size);

        switch (rng() % 3) {
        case 0:
            d[pos] = rng();
            break;
        case 1:
            d[pos] ^= 1u << (rng() % 8);
            break;
        default:
            pos &= ~(size_t)3;
            if (pos + 4 <= size) {
                stl_le_p(d + pos,
                         interesting[rng() % ARRAY_SIZE(interesting)]);
            }
        }
    }
}

static void seed_cb(void *opaque, const char *name, const uint8_t *data,
                    size_t size)
{
    Replay *r = opaque;
    g_autofree uint8_t *m = NULL;
    unsigned i;

    if (r->dir) {
        g_autofree char *path = g_build_filename(r->dir, name, NULL);
        GError *err = NULL;

        if (!g_file_set_contents(path, (const char *)data, size, &err)) {
            fprintf(stderr, "%s\n", err->message);
            g_error_free(err);
            r->failed = true;
        }
        return;
    }

    fuzz_deep_runs = 0;
    run_one(data, size);
    if (!fuzz_deep_runs) {
        printf("not ok %u - %s: seed %s does not get through\n",
               ++r->tests, fuzz_target_name, name);
        r->failed = true;
        return;
    }
    for (i = 0; i <= 16; i++) {
        run_one(data, i == 16 ? size - 1 : size * i / 16);
    }
    rng_state = g_str_hash(name) | 1;
    m = g_malloc(size);
    for (i = 0; i < MUTANTS && size; i++) {
        memcpy(m, data, size);
        mutate(m, size);
        run_one(m, size);
    }
    printf("ok %u - %s: seed %s (%zu bytes), 17 truncations and %u"
           " mutants\n", ++r->tests, fuzz_target_name, name, size, MUTANTS);
}

static void replay_file(Replay *r, const char *path)
{
    g_autofree char *data = NULL;
    GError *err = NULL;
    gsize size;

    if (!g_file_get_contents(path, &data, &size, &err)) {
        printf("not ok %u - %s: %s\n", ++r->tests, path, err->message);
        g_error_free(err);
        r->failed = true;
        return;
    }
    run_one((const uint8_t *)data, size);
    printf("ok %u - %s: %s (%zu bytes)\n", ++r->tests, fuzz_target_name,
           path, (size_t)size);
}

int main(int argc, char **argv)
{
    Replay r = { 0 };
    int i;

    if (argc == 3 && !strcmp(argv[1], "--write-seeds")) {
        r.dir = argv[2];
        if (g_mkdir_with_parents(r.dir, 0755)) {
            perror(r.dir);
            return 1;
        }
        fuzz_seeds(seed_cb, &r);
        return r.failed;
    }

    for (i = 1; i < argc; i++) {
        if (g_file_test(argv[i], G_FILE_TEST_IS_DIR)) {
            g_autoptr(GDir) dir = g_dir_open(argv[i], 0, NULL);
            const char *name;

            while (dir && (name = g_dir_read_name(dir))) {
                g_autofree char *path = g_build_filename(argv[i], name, NULL);

                replay_file(&r, path);
            }
        } else if (strcmp(argv[i], "--tap")) {
            replay_file(&r, argv[i]);
        }
    }
    if (!r.tests) {
        fuzz_seeds(seed_cb, &r);
    }
    printf("1..%u\n", r.tests);
    return r.failed;
}
