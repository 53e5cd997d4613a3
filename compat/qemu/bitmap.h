/*
 * The part of QEMU's qemu/bitmap.h and qemu/bitops.h that dump/windmp/
 * needs, for builds of the core outside QEMU: same names, same meaning
 * (bit @nr is bit nr % BITS_PER_LONG of word nr / BITS_PER_LONG).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_COMPAT_BITMAP_H
#define WINDMP_COMPAT_BITMAP_H

#include "qemu/osdep.h"
#include "qemu/bswap.h"

#define BITS_PER_BYTE           8
#define BITS_PER_LONG           (sizeof(unsigned long) * BITS_PER_BYTE)
#define BIT_WORD(nr)            ((nr) / BITS_PER_LONG)
#define BIT_MASK(nr)            (1UL << ((nr) % BITS_PER_LONG))
#define BITS_TO_LONGS(nr)       (((nr) + BITS_PER_LONG - 1) / BITS_PER_LONG)

static inline unsigned long *bitmap_new(long nbits)
{
    return g_new0(unsigned long, BITS_TO_LONGS(nbits));
}

static inline void set_bit(long nr, unsigned long *addr)
{
    addr[BIT_WORD(nr)] |= BIT_MASK(nr);
}

static inline int test_bit(long nr, const unsigned long *addr)
{
    return 1UL & (addr[BIT_WORD(nr)] >> (nr & (BITS_PER_LONG - 1)));
}

static inline void bitmap_set(unsigned long *map, long start, long nr)
{
    long end = start + nr;

    while (start < end && (start % BITS_PER_LONG)) {
        set_bit(start++, map);
    }
    while (end - start >= (long)BITS_PER_LONG) {
        map[BIT_WORD(start)] = ~0UL;
        start += BITS_PER_LONG;
    }
    while (start < end) {
        set_bit(start++, map);
    }
}

static inline void bitmap_clear(unsigned long *map, long start, long nr)
{
    long end = start + nr;

    while (start < end && (start % BITS_PER_LONG)) {
        map[BIT_WORD(start)] &= ~BIT_MASK(start);
        start++;
    }
    while (end - start >= (long)BITS_PER_LONG) {
        map[BIT_WORD(start)] = 0;
        start += BITS_PER_LONG;
    }
    while (start < end) {
        map[BIT_WORD(start)] &= ~BIT_MASK(start);
        start++;
    }
}

static inline unsigned long find_next_bit(const unsigned long *addr,
                                          unsigned long size,
                                          unsigned long offset)
{
    while (offset < size) {
        unsigned long w = addr[BIT_WORD(offset)] >> (offset % BITS_PER_LONG);

        if (w) {
            offset += __builtin_ctzl(w);
            return MIN(offset, size);
        }
        offset = (BIT_WORD(offset) + 1) * BITS_PER_LONG;
    }
    return size;
}

static inline unsigned long find_next_zero_bit(const unsigned long *addr,
                                               unsigned long size,
                                               unsigned long offset)
{
    while (offset < size) {
        unsigned long w = ~addr[BIT_WORD(offset)] >> (offset % BITS_PER_LONG);

        if (w) {
            offset += __builtin_ctzl(w);
            return MIN(offset, size);
        }
        offset = (BIT_WORD(offset) + 1) * BITS_PER_LONG;
    }
    return size;
}

/* Convert to little-endian words, as QEMU's util/bitmap.c does */
static inline void bitmap_to_le(unsigned long *dst, const unsigned long *src,
                                long nbits)
{
    long i;

    for (i = 0; i < (long)BITS_TO_LONGS(nbits); i++) {
        dst[i] = sizeof(long) == 8 ? cpu_to_le64(src[i]) : cpu_to_le32(src[i]);
    }
}

#endif
