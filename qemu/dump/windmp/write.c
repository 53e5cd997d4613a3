/*
 * Windows crash dump core: stream the planned file
 *
 * The output may be a pipe (libvirt's --bypass-cache hands QEMU one), so
 * the file is written front to back without seeking: the header, then the
 * extents of the plan.  Guest RAM goes out straight from its mapping; the
 * overlays (CPU contexts) replace the bytes they cover on the way.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "windmp.h"

/* Small enough that progress (query-dump) moves, large enough for speed */
#define WRITE_CHUNK     (64 * 1024 * 1024)

/* Write guest RAM [pa, pa + len), applying the overlays that cover it */
static bool write_mapped(const WinDump *wd, const uint8_t *p, uint64_t pa,
                         uint64_t len, WinDumpWriteFn write, void *opaque,
                         Error **errp)
{
    uint64_t end = pa + len;
    size_t i;

    for (i = 0; i < wd->nr_overlays && pa < end; i++) {
        const WinDumpOverlay *o = &wd->overlays[i];
        uint64_t o_end = o->pa + o->len;
        uint64_t from, to;

        if (o_end <= pa || o->pa >= end) {
            continue;
        }
        from = MAX(o->pa, pa);
        to = MIN(o_end, end);
        if (from > pa) {
            if (!write(opaque, p, from - pa, errp)) {
                return false;
            }
            p += from - pa;
        }
        if (!write(opaque, o->data + (from - o->pa), to - from, errp)) {
            return false;
        }
        p += to - from;
        pa = to;
    }
    return pa == end || write(opaque, p, end - pa, errp);
}

bool windmp_write(const WinDump *wd, const WinDumpGuest *g,
                  WinDumpWriteFn write, void *opaque, Error **errp)
{
    size_t i;

    if (!write(opaque, &wd->hdr, wd->hdr_size, errp) ||
        (wd->bitmap && !write(opaque, wd->bitmap, wd->bitmap_size, errp))) {
        return false;
    }

    for (i = 0; i < wd->nr_extents; i++) {
        uint64_t pa = wd->extents[i].start;

        while (pa < wd->extents[i].end) {
            uint64_t len = MIN(wd->extents[i].end - pa, WRITE_CHUNK);
            const void *p = g->ops->map(g->opaque, pa, &len);
            bool ok;

            if (!p || !len) {
                error_setg(errp, "cannot map guest RAM at 0x%" PRIx64, pa);
                return false;
            }
            ok = write_mapped(wd, p, pa, len, write, opaque, errp);
            g->ops->unmap(g->opaque, p, len);
            if (!ok) {
                return false;
            }
            pa += len;
        }
    }
    return true;
}
