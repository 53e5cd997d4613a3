/*
 * What the fuzz targets share
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bswap.h"
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

/*
 * What windmp.h promises of a plan, whoever made it: extents sorted and
 * in RAM, overlays inside them, sizes and counts that add up, and a
 * header that says what the plan is.
 */
void fuzz_check_plan(const WinDump *wd, const WinDumpGuest *g)
{
    uint64_t total = wd->hdr_size + wd->bitmap_size, pages = 0;
    uint32_t type = wd->bitmap ? WIN_DUMP_TYPE_BITMAP : WIN_DUMP_TYPE_FULL;
    size_t i, j;

    fuzz_assert(wd->hdr_size == (wd->x64 ? sizeof(WinDumpHeader64) :
                                           sizeof(WinDumpHeader32)));
    for (i = 0; i < wd->nr_extents; i++) {
        const WinDumpRange *e = &wd->extents[i];

        fuzz_assert(e->start < e->end);
        fuzz_assert(!((e->start | e->end) & 0xfff));
        fuzz_assert(!i || wd->extents[i - 1].end < e->start);
        fuzz_assert(windmp_is_ram(g, e->start, e->end - e->start));
        total += e->end - e->start;
        pages += (e->end - e->start) >> 12;
    }
    fuzz_assert(wd->nr_extents > 0);
    fuzz_assert(total == wd->total_size);
    if (wd->bitmap) {
        const WinDumpBitmapHeader *bh = (const void *)wd->bitmap;
        uint64_t bits = le64_to_cpu(bh->BitmapSize), set = 0, p;

        fuzz_assert(bits % 32 == 0);
        fuzz_assert(sizeof(*bh) + bits / 8 <= wd->bitmap_size);
        fuzz_assert(le64_to_cpu(bh->FirstPage) ==
                    wd->hdr_size + wd->bitmap_size);
        fuzz_assert(!(le64_to_cpu(bh->FirstPage) & 0xfff));
        /* a byte at a time: a bitmap may have a billion bits */
        for (p = 0; p < bits / 8; p++) {
            set += __builtin_popcount(wd->bitmap[sizeof(*bh) + p]);
        }
        fuzz_assert(set == pages);
        fuzz_assert(le64_to_cpu(bh->TotalPresentPages) == pages);
    }
    for (i = 0; i < wd->nr_overlays; i++) {
        const WinDumpOverlay *o = &wd->overlays[i];
        bool inside = false;

        fuzz_assert(o->len > 0 && o->data);
        fuzz_assert(!i || wd->overlays[i - 1].pa + wd->overlays[i - 1].len
                          <= o->pa);
        for (j = 0; j < wd->nr_extents; j++) {
            inside |= o->pa >= wd->extents[j].start &&
                      o->pa + o->len <= wd->extents[j].end;
        }
        fuzz_assert(inside);
    }
    fuzz_assert(wd->nr_contexts <= g->nr_cpus);
    fuzz_assert(wd->current_cpu < g->nr_cpus);

    /* the header says what the plan is */
    if (wd->x64) {
        const WinDumpHeader64 *h = &wd->hdr.x64;

        fuzz_assert(le32_to_cpu(h->DumpType) == type);
        fuzz_assert(le64_to_cpu(h->RequiredDumpSpace) == wd->total_size);
        fuzz_assert(wd->bitmap ||
                    le64_to_cpu(h->PhysicalMemoryBlock.NumberOfPages) ==
                    pages);
        fuzz_assert(!(le64_to_cpu(h->DirectoryTableBase) & 0xfff));
    } else {
        const WinDumpHeader32 *h = &wd->hdr.x32;

        fuzz_assert(le32_to_cpu(h->DumpType) == type);
        fuzz_assert(le64_to_cpu(h->RequiredDumpSpace) == wd->total_size);
        fuzz_assert(wd->bitmap ||
                    le32_to_cpu(h->PhysicalMemoryBlock.NumberOfPages) ==
                    pages);
    }
}
