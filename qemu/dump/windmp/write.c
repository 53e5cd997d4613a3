/*
 * Windows crash dump core: stream the planned file
 *
 * The output may be a pipe (libvirt's --bypass-cache hands QEMU one), so
 * the file is written front to back: the header, then the extents of the
 * plan.  Guest RAM goes out straight from its mapping; the overlays (CPU
 * contexts) replace the bytes they cover on the way.
 *
 * When the output can seek, runs of all-zero pages are skipped rather
 * than written: a regular file keeps them as holes, which read back as
 * the same zeros but take neither disk space nor the time to write them.
 * Guest RAM is mostly such pages on many a guest.  A run becomes one
 * skip, and the pages between runs one write; runs shorter than
 * WIN_DUMP_HOLE_MIN are written with the pages around them, so that the
 * file does not fragment into more pieces than it saves.
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
    /* zero bytes to leave as a hole, not skipped yet */
    uint64_t hole;
    /* a run of zero pages that reached the end of a map, undecided */
    uint64_t zeros;
} Writer;

static const uint8_t zero_page[WIN_DUMP_PAGE_SIZE];

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

/* A run of @len zero bytes ended: a hole if it is long enough */
static bool end_zeros(Writer *w, uint64_t len, Error **errp)
{
    if (len >= WIN_DUMP_HOLE_MIN) {
        w->hole += len;
        return true;
    }
    while (len) {
        size_t n = MIN(len, sizeof(zero_page));

        if (!put(w, zero_page, n, errp)) {
            return false;
        }
        len -= n;
    }
    return true;
}

/* As write_mapped(), but leave long runs of zero pages as holes */
static bool write_sparse(Writer *w, const uint8_t *p, uint64_t pa,
                         uint64_t len, Error **errp)
{
    const WinDump *wd = w->wd;
    size_t i = overlay_from(wd, pa);
    /*
     * [data, zero) is to be written, [zero, off) are zero pages; when
     * zero is 0, the run goes on from the previous map (w->zeros).
     */
    uint64_t data = 0, zero = 0, off = 0;

    while (off < len) {
        uint64_t start = pa + off;
        uint64_t n = MIN(WIN_DUMP_PAGE_SIZE -
                         (start & (WIN_DUMP_PAGE_SIZE - 1)), len - off);
        uint64_t run;

        while (i < wd->nr_overlays &&
               wd->overlays[i].pa + wd->overlays[i].len <= start) {
            i++;
        }
        /*
         * Holes are whole pages: a page that a map cuts into parts is
         * written.  The file shows a context where it overlays a zero page.
         */
        if (n == WIN_DUMP_PAGE_SIZE &&
            !(i < wd->nr_overlays && wd->overlays[i].pa < start + n) &&
            buffer_is_zero(p + off, n)) {
            off += n;
            continue;
        }
        /* a page to write ends the run of zero pages [zero, off) */
        run = off - zero;
        if (zero == 0) {
            run += w->zeros;
            w->zeros = 0;
        }
        if (run >= WIN_DUMP_HOLE_MIN) {
            if (zero > data &&
                !write_mapped(w, p + data, pa + data, zero - data, errp)) {
                return false;
            }
            w->hole += run;
            data = off;
        } else if (run > off - zero) {
            /* too short: its part from the previous map is written too */
            if (!end_zeros(w, run - (off - zero), errp)) {
                return false;
            }
        }
        off += n;
        zero = off;
    }
    if (zero == 0) {
        w->zeros += len;
        return true;
    }
    w->zeros = len - zero;
    return zero == data ||
           write_mapped(w, p + data, pa + data, zero - data, errp);
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
    if (w.zeros && !end_zeros(&w, w.zeros, errp)) {
        return false;
    }
    /* a trailing hole too: the sink then makes the file its full length */
    return !w.hole || out->skip(out->opaque, w.hole, errp);
}

/*
 * A hole reads back as zeros only in a regular file, past its end, at the
 * offset where the next write lands (not with O_APPEND, as `>>` opens).
 * A pipe (libvirt's --bypass-cache) gets every byte.
 */
bool windmp_fd_can_skip(int fd)
{
    struct stat st;
    int flags = fcntl(fd, F_GETFL);

    return flags >= 0 && !(flags & O_APPEND) && fstat(fd, &st) == 0 &&
           S_ISREG(st.st_mode) && lseek(fd, 0, SEEK_CUR) == st.st_size;
}
