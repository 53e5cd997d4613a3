/*
 * buffer_is_zero() as QEMU's util/bufferiszero.c has it without host
 * acceleration: its integer fallback, a word at a time.  QEMU's own
 * accelerated version is what dump/windmp/ gets when built in-tree.
 *
 * Copyright (c) 2006 Fabrice Bellard
 *
 * SPDX-License-Identifier: MIT
 *
 * Permission is hereby granted, free of charge, to any person obtaining a copy
 * of this software and associated documentation files (the "Software"), to deal
 * in the Software without restriction, including without limitation the rights
 * to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
 * copies of the Software, and to permit persons to whom the Software is
 * furnished to do so, subject to the following conditions:
 *
 * The above copyright notice and this permission notice shall be included in
 * all copies or substantial portions of the Software.
 *
 * THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
 * IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
 * FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL
 * THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
 * LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
 * OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN
 * THE SOFTWARE.
 */

#include "qemu/osdep.h"
#include "qemu/cutils.h"

/* Unaligned host-endian loads, as qemu/bswap.h's ldq_he_p() */
static inline uint64_t ldq_he_p(const void *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

static inline uint32_t ldl_he_p(const void *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return v;
}

#define ALIGN_PTR_DOWN(p, n) \
    ((const uint64_t *)((uintptr_t)(p) & ~(uintptr_t)((n) - 1)))

static bool buffer_is_zero_int_lt256(const void *vbuf, size_t len)
{
    const char *buf = vbuf;
    uint64_t t;
    const uint64_t *p, *e;

    /*
     * Use unaligned memory access functions to handle
     * the beginning and end of the buffer.
     */
    if (G_UNLIKELY(len <= 8)) {
        return (ldl_he_p(buf) | ldl_he_p(buf + len - 4)) == 0;
    }

    t = ldq_he_p(buf) | ldq_he_p(buf + len - 8);
    p = ALIGN_PTR_DOWN(buf + 8, 8);
    e = ALIGN_PTR_DOWN(buf + len - 1, 8);

    /* Read 0 to 31 aligned words from the middle. */
    while (p < e) {
        t |= *p++;
    }
    return t == 0;
}

static bool buffer_is_zero_int_ge256(const void *vbuf, size_t len)
{
    const char *buf = vbuf;
    /*
     * Use unaligned memory access functions to handle
     * the beginning and end of the buffer.
     */
    uint64_t t = ldq_he_p(buf) | ldq_he_p(buf + len - 8);
    const uint64_t *p = ALIGN_PTR_DOWN(buf + 8, 8);
    const uint64_t *e = ALIGN_PTR_DOWN(buf + len - 1, 8);

    /* Collect a partial block at the tail end. */
    t |= e[-7] | e[-6] | e[-5] | e[-4] | e[-3] | e[-2] | e[-1];

    /*
     * Loop over 64 byte blocks.
     * With the head and tail removed, e - p >= 30,
     * so the loop must iterate at least 3 times.
     */
    do {
        if (t) {
            return false;
        }
        t = p[0] | p[1] | p[2] | p[3] | p[4] | p[5] | p[6] | p[7];
        p += 8;
    } while (p < e - 7);

    return t == 0;
}

bool buffer_is_zero(const void *vbuf, size_t len)
{
    const char *buf = vbuf;

    if (G_UNLIKELY(len == 0)) {
        return true;
    }
    /*
     * Three samples from three cache lines: most non-zero buffers are
     * told apart without reading the rest (QEMU's buffer_is_zero_sample3).
     */
    if (buf[0] || buf[len - 1] || buf[len / 2]) {
        return false;
    }
    /* All bytes are covered for any len <= 3. */
    if (G_UNLIKELY(len <= 3)) {
        return true;
    }
    if (G_LIKELY(len >= 256)) {
        return buffer_is_zero_int_ge256(buf, len);
    }
    return buffer_is_zero_int_lt256(buf, len);
}
