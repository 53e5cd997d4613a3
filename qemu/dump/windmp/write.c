/*
 * Windows crash dump core: stream the planned file
 *
 * The output may be a pipe (libvirt's --bypass-cache hands QEMU one), so
 * the file is written front to back: the header, then the extents of the
 * plan.  Guest RAM goes out straight from its mapping; the overlays (CPU
 * contexts) replace the bytes they cover on the way.
 *
 * When the output can seek, the all-zero pages are skipped rather than
 * written: a regular file keeps them as holes, which read back as the
 * same zeros but take neither disk space nor the time to write them.
 * Guest RAM is mostly such pages on many a guest.  Runs of them become
 * one skip, and the pages between them one write, so the number of calls
 * grows with how fragmented the zeros are, not with the size of the guest.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/cutils.h"
#include "windmp.h"

/* Small enough that progress (query-dump) moves, large enough for speed */
#define WRITE_CHUNK     (64 * 1024 * 1024)

typedef struct Writer {
    const WinDump *wd;
    const WinDumpSink *out;
    /* zero bytes passed over and not skipped yet */
    uint64_t hole;
} Writer;

static bool put(Writer *w, const void *buf, size_t len, Error **errp)
{
    if (w->hole) {
        if (!w->out->skip(w->out->opaque, w->hole, errp)) {
            return false;
        }
        w->hole = 0;
    }
    return w->out->write(w->out->opaque, buf, len, errp);
}

/* Write guest RAM [pa, pa + len), applying the overlays that cover it */
static bool write_mapped(Writer *w, const uint8_t *p, uint64_t pa,
                         uint64_t len, Error **errp)
{
    const WinDump *wd = w->wd;
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
            if (!put(w, p, from - pa, errp)) {
                return false;
            }
            p += from - pa;
        }
        if (!put(w, o->data + (from - o->pa), to - from, errp)) {
            return false;
        }
        p += to - from;
        pa = to;
    }
    return pa == end || put(w, p, end - pa, errp);
}

/* The first overlay that ends after @pa */
static size_t overlay_from(const WinDump *wd, uint64_t pa)
{
    size_t lo = 0, hi = wd->nr_overlays;

    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;

        if (wd->overlays[mid].pa + wd->overlays[mid].len <= pa) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/* As write_mapped(), but pass over the pages that the file shows as zero */
static bool write_sparse(Writer *w, const uint8_t *p, uint64_t pa,
                         uint64_t len, Error **errp)
{
    const WinDump *wd = w->wd;
    size_t i = overlay_from(wd, pa);
    /* [data, off) is to be written */
    uint64_t data = 0, off = 0;

    while (off < len) {
        uint64_t start = pa + off;
        uint64_t n = MIN(WIN_DUMP_PAGE_SIZE -
                         (start & (WIN_DUMP_PAGE_SIZE - 1)), len - off);

        while (i < wd->nr_overlays &&
               wd->overlays[i].pa + wd->overlays[i].len <= start) {
            i++;
        }
        /*
         * Holes are whole pages: a page that a map cuts into parts is
         * written.  The file shows a context where it overlays a zero page.
         */
        if (n < WIN_DUMP_PAGE_SIZE ||
            (i < wd->nr_overlays && wd->overlays[i].pa < start + n) ||
            !buffer_is_zero(p + off, n)) {
            off += n;
            continue;
        }
        if (data < off &&
            !write_mapped(w, p + data, pa + data, off - data, errp)) {
            return false;
        }
        w->hole += n;
        off += n;
        data = off;
    }
    return data == len ||
           write_mapped(w, p + data, pa + data, len - data, errp);
}

bool windmp_write(const WinDump *wd, const WinDumpGuest *g,
                  const WinDumpSink *out, Error **errp)
{
    Writer w = { .wd = wd, .out = out };
    size_t i;

    if (!put(&w, &wd->hdr, wd->hdr_size, errp) ||
        (wd->bitmap && !put(&w, wd->bitmap, wd->bitmap_size, errp))) {
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
            ok = out->skip ? write_sparse(&w, p, pa, len, errp) :
                             write_mapped(&w, p, pa, len, errp);
            g->ops->unmap(g->opaque, p, len);
            if (!ok) {
                return false;
            }
            pa += len;
        }
    }
    /* a trailing hole too: the sink then makes the file its full length */
    return !w.hole || out->skip(out->opaque, w.hole, errp);
}
