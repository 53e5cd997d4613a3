/*
 * What the fuzz targets share
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "fuzz.h"

unsigned fuzz_deep_runs;

uint8_t fuzz_touch(const uint8_t *p, uint64_t len, uint64_t *budget)
{
    /* volatile: the compiler must not prove the reads useless */
    const volatile uint8_t *v = p;
    uint8_t sum = 0;
    uint64_t i;

    if (!len) {
        return 0;
    }
    if (*budget < len) {
        /* out of budget: the ends still show a bad pointer */
        return v[0] ^ v[len - 1];
    }
    *budget -= len;
    for (i = 0; i < len; i += 512) {
        sum ^= v[i];
    }
    return sum ^ v[len - 1];
}

bool fuzz_sink_write(void *opaque, const void *buf, size_t len,
                     Error **errp)
{
    FuzzSink *s = opaque;
    uint64_t budget = s->touched < FUZZ_MAX_TOUCH ?
                      FUZZ_MAX_TOUCH - s->touched : 0;
    uint64_t before = budget;

    fuzz_assert(len > 0);
    s->sum ^= fuzz_touch(buf, len, &budget);
    s->touched += before - budget;
    s->bytes += len;
    return true;
}

bool fuzz_sink_skip(void *opaque, uint64_t len, Error **errp)
{
    FuzzSink *s = opaque;

    fuzz_assert(len > 0);
    s->bytes += len;
    return true;
}
