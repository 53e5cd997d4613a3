/*
 * Live dumps: read guest RAM as it was at one instant while the guest runs
 *
 * As migration's background snapshot does, guest RAM is write-protected
 * with userfaultfd while the vCPUs are stopped; then they run again.  The
 * dump takes RAM front to back, a piece at a time copied out and then
 * unprotected, so that the guest never waits for the output (a pipe to a
 * slow reader, a slow disk).  A guest write to a page that the dump still
 * wants traps into the thread here, which copies the page before letting
 * the write through: the dump takes the copy when it gets there.  Copies
 * are bounded; a write that finds the budget spent waits until the dump
 * frees copies or passes the page, so a busy guest slows down rather
 * than QEMU's memory growing.
 *
 * The thread never takes the BQL: vCPUs, the main loop and the kernel
 * (vhost, I/O into guest buffers) may all fault on a protected page, and
 * all of them are released by it or by the dump's own progress.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/bitmap.h"
#include "qemu/error-report.h"
#include "qemu/event_notifier.h"
#include "qemu/thread.h"
#include "qemu/units.h"
#include "qemu/userfaultfd.h"
#include "exec/cpu-common.h"
#include "system/dma.h"
#include "live.h"
#include "trace.h"

#ifdef CONFIG_LINUX
#include <poll.h>
#endif

/* Guest RAM is copied out in pieces of at most this much */
#define LIVE_CHUNK      (4 * MiB)

/*
 * Unprotecting part of a transparent huge page splits it into small
 * pages for good, and write-protecting small pages takes a lot longer
 * (the next live dump's pause); so the dump unprotects whole ones where
 * it can, and a guest that writes block after block (zeroing, copying)
 * gets each block copied at its first fault.
 */
#define LIVE_HUGE       (2 * MiB)

typedef struct LiveRAM {
    hwaddr start;
    hwaddr end;
    uint8_t *host;
    /* wanted by the dump, not written out yet, not copied */
    unsigned long *pending;
    /* a copy is in DumpLive.copies */
    unsigned long *copied;
    bool registered;
} LiveRAM;

typedef struct LiveCopy {
    hwaddr pa;
    uint8_t data[];
} LiveCopy;

struct DumpLive {
    GArray *ram;                /* of LiveRAM */
    size_t psize;
    uint64_t budget;
    /* two ranges share host memory */
    bool aliased;
    bool discard_disabled;
    int uffd;
    QemuThread thread;
    bool thread_started;
    EventNotifier quit;

    /* the piece of RAM that dump_live_map() returned */
    uint8_t *chunk;

    QemuMutex lock;
    QemuCond cond;
    GHashTable *copies;         /* of LiveCopy, by pa */
    uint64_t copy_bytes;
    uint64_t peak_bytes;
    uint64_t copied_pages;
    uint64_t stalls;
    /* the last page the guest wrote to */
    uint8_t *last_fault;
    /* the fault thread is gone, or the dump is over: protect no more */
    bool stopping;
    bool broken;
};

#ifdef CONFIG_LINUX

typedef struct CheckBlocks {
    int uffd;
    Error **errp;
} CheckBlocks;

/* Can the host write-protect @rb with userfaultfd @opaque? */
static int check_block(RAMBlock *rb, void *opaque)
{
    CheckBlocks *cb = opaque;
    uint64_t ioctls;

    if (qemu_ram_pagesize(rb) != qemu_real_host_page_size()) {
        error_setg(cb->errp, "guest RAM '%s' is in huge pages, which a live"
                   " dump does not support", qemu_ram_get_idstr(rb));
        return -1;
    }
    if (uffd_register_memory(cb->uffd, qemu_ram_get_host_addr(rb),
                             qemu_ram_get_used_length(rb),
                             UFFDIO_REGISTER_MODE_WP, &ioctls) ||
        !(ioctls & BIT_ULL(_UFFDIO_WRITEPROTECT))) {
        error_setg(cb->errp, "the host cannot write-protect guest RAM '%s'"
                   " with userfaultfd: it is file-backed memory other than"
                   " tmpfs or hugetlbfs, or the kernel is older than 5.19",
                   qemu_ram_get_idstr(rb));
        return -1;
    }
    return 0;
}

bool dump_live_available(Error **errp)
{
    CheckBlocks cb = { .errp = errp };
    uint64_t features;
    bool ok;

    if (uffd_query_features(&features)) {
        error_setg(errp, "userfaultfd is not available to QEMU (a kernel"
                   " without it, or vm.unprivileged_userfaultfd is 0 and"
                   " QEMU lacks CAP_SYS_PTRACE)");
        return false;
    }
    if (!(features & UFFD_FEATURE_PAGEFAULT_FLAG_WP)) {
        error_setg(errp, "the host kernel's userfaultfd cannot write-protect"
                   " memory (Linux 5.7 or later can)");
        return false;
    }
    /* a userfaultfd of its own: registering protects nothing yet */
    cb.uffd = uffd_create_fd(UFFD_FEATURE_PAGEFAULT_FLAG_WP, false);
    if (cb.uffd < 0) {
        error_setg_errno(errp, errno, "cannot open a userfaultfd");
        return false;
    }
    ok = !qemu_ram_foreach_block(check_block, &cb);
    uffd_close_fd(cb.uffd);
    return ok;
}

DumpLive *dump_live_new(uint64_t budget)
{
    DumpLive *dl = g_new0(DumpLive, 1);

    dl->ram = g_array_new(false, true, sizeof(LiveRAM));
    dl->psize = qemu_real_host_page_size();
    dl->budget = budget;
    dl->uffd = -1;
    dl->copies = g_hash_table_new_full(g_int64_hash, g_int64_equal, NULL,
                                       g_free);
    dl->chunk = g_malloc(LIVE_CHUNK);
    qemu_mutex_init(&dl->lock);
    qemu_cond_init(&dl->cond);
    return dl;
}

static size_t ram_pages(DumpLive *dl, const LiveRAM *r)
{
    return DIV_ROUND_UP(r->end - r->start, dl->psize);
}

void dump_live_add_ram(DumpLive *dl, hwaddr start, hwaddr end, void *host)
{
    LiveRAM r = { .start = start, .end = end, .host = host };
    guint i;

    for (i = 0; i < dl->ram->len; i++) {
        LiveRAM *o = &g_array_index(dl->ram, LiveRAM, i);

        if (r.host < o->host + (o->end - o->start) &&
            o->host < r.host + (end - start)) {
            dl->aliased = true;
        }
    }
    r.pending = bitmap_new(ram_pages(dl, &r));
    r.copied = bitmap_new(ram_pages(dl, &r));
    g_array_append_val(dl->ram, r);
}

static LiveRAM *ram_find(DumpLive *dl, hwaddr pa)
{
    guint i;

    for (i = 0; i < dl->ram->len; i++) {
        LiveRAM *r = &g_array_index(dl->ram, LiveRAM, i);

        if (pa >= r->start && pa < r->end) {
            return r;
        }
    }
    return NULL;
}

void dump_live_want(DumpLive *dl, hwaddr start, hwaddr end)
{
    guint i;

    for (i = 0; i < dl->ram->len; i++) {
        LiveRAM *r = &g_array_index(dl->ram, LiveRAM, i);
        hwaddr from = MAX(start, r->start), to = MIN(end, r->end);

        if (from < to) {
            size_t first = (from - r->start) / dl->psize;

            bitmap_set(r->pending, first,
                       DIV_ROUND_UP(to - r->start, dl->psize) - first);
        }
    }
}

/* Is the host page at @page still wanted through another range? */
static bool alias_pending(DumpLive *dl, LiveRAM *self, uint8_t *page)
{
    guint i;

    for (i = 0; i < dl->ram->len; i++) {
        LiveRAM *r = &g_array_index(dl->ram, LiveRAM, i);

        if (r != self && page >= r->host &&
            page < r->host + (r->end - r->start) &&
            test_bit((page - r->host) / dl->psize, r->pending)) {
            return true;
        }
    }
    return false;
}

/* Let guest writes to [page, page + len) through, and wake the writers */
static void unprotect(DumpLive *dl, uint8_t *page, uint64_t len)
{
    if (uffd_change_protection(dl->uffd, page, len, false, false)) {
        /* the dump goes on; the vCPU stays blocked until the end */
        error_report("live dump: cannot unprotect guest RAM: %s",
                     strerror(errno));
    }
}

static void unprotect_all(DumpLive *dl)
{
    guint i;

    for (i = 0; i < dl->ram->len; i++) {
        LiveRAM *r = &g_array_index(dl->ram, LiveRAM, i);

        if (r->registered) {
            unprotect(dl, r->host, ram_pages(dl, r) * dl->psize);
        }
    }
}

/*
 * Copy the page at @pa of @r before the guest changes it, waiting for
 * room in the budget if @wait; lock held.  Can the page be unprotected?
 */
static bool save_page(DumpLive *dl, LiveRAM *r, hwaddr pa, bool wait)
{
    size_t i = (pa - r->start) / dl->psize;
    bool stalled = false;
    LiveCopy *c;

    for (;;) {
        if (dl->stopping || !test_bit(i, r->pending)) {
            return true;
        }
        if (dl->copy_bytes + dl->psize <= dl->budget) {
            break;
        }
        if (!wait) {
            return false;
        }
        if (!stalled) {
            stalled = true;
            dl->stalls++;
        }
        qemu_cond_wait(&dl->cond, &dl->lock);
    }

    c = g_malloc(sizeof(*c) + dl->psize);
    c->pa = pa;
    memcpy(c->data, r->host + (pa - r->start), dl->psize);
    g_hash_table_insert(dl->copies, &c->pa, c);
    clear_bit(i, r->pending);
    set_bit(i, r->copied);
    dl->copy_bytes += dl->psize;
    dl->peak_bytes = MAX(dl->peak_bytes, dl->copy_bytes);
    dl->copied_pages++;
    return true;
}

/*
 * Copy every page of the huge page at @blk in @r that the dump still
 * wants, if the budget allows without waiting.  Can it be unprotected?
 */
static bool save_block(DumpLive *dl, LiveRAM *r, uint8_t *blk)
{
    uint64_t off;

    if (blk < r->host || blk + LIVE_HUGE > r->host + (r->end - r->start)) {
        return false;
    }
    for (off = 0; off < LIVE_HUGE; off += dl->psize) {
        if (!save_page(dl, r, r->start + (blk - r->host) + off, false)) {
            return false;
        }
    }
    return true;
}

static void fault(DumpLive *dl, uint64_t addr)
{
    uint8_t *page = (uint8_t *)(uintptr_t)(addr & ~(uint64_t)(dl->psize - 1));
    uint8_t *blk = QEMU_ALIGN_PTR_DOWN(page, LIVE_HUGE);
    uint8_t *last;
    LiveRAM *seq = NULL;
    guint i;

    qemu_mutex_lock(&dl->lock);
    last = QEMU_ALIGN_PTR_DOWN(dl->last_fault, LIVE_HUGE);
    for (i = 0; i < dl->ram->len; i++) {
        LiveRAM *r = &g_array_index(dl->ram, LiveRAM, i);

        if (page >= r->host && page < r->host + (r->end - r->start)) {
            save_page(dl, r, r->start + (page - r->host), true);
            seq = r;
        }
    }
    dl->last_fault = page;
    if (dl->stopping) {
        /* everything is unprotected already */
    } else if (seq && !dl->aliased && last &&
               (blk == last || blk == last + LIVE_HUGE) &&
               save_block(dl, seq, blk)) {
        unprotect(dl, blk, LIVE_HUGE);
    } else {
        unprotect(dl, page, dl->psize);
    }
    qemu_mutex_unlock(&dl->lock);
}

static void *fault_thread(void *opaque)
{
    DumpLive *dl = opaque;
    struct uffd_msg msgs[16];
    struct pollfd pfd[2] = {
        { .fd = dl->uffd, .events = POLLIN },
        { .fd = event_notifier_get_fd(&dl->quit), .events = POLLIN },
    };

    for (;;) {
        int i, n;

        if (poll(pfd, ARRAY_SIZE(pfd), -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (pfd[1].revents) {
            return NULL;
        }
        n = uffd_read_events(dl->uffd, msgs, ARRAY_SIZE(msgs));
        if (n < 0) {
            break;
        }
        for (i = 0; i < n; i++) {
            if (msgs[i].event == UFFD_EVENT_PAGEFAULT) {
                fault(dl, msgs[i].arg.pagefault.address);
            }
        }
    }

    /* nobody copies pages any more: let the guest go, fail the dump */
    error_report("live dump: cannot read guest RAM faults: %s",
                 strerror(errno));
    qemu_mutex_lock(&dl->lock);
    dl->stopping = dl->broken = true;
    qemu_cond_broadcast(&dl->cond);
    qemu_mutex_unlock(&dl->lock);
    unprotect_all(dl);
    return NULL;
}

bool dump_live_start(DumpLive *dl, Error **errp)
{
    uint64_t features, ioctls, bytes = 0;
    int64_t t0 = g_get_monotonic_time();
    bool unpopulated;
    guint i;

    if (ram_block_discard_disable(true)) {
        error_setg(errp, "a device (virtio-mem) discards guest RAM on its"
                   " own, which would lose pages that the dump has not"
                   " saved yet");
        return false;
    }
    dl->discard_disabled = true;

    if (uffd_query_features(&features)) {
        error_setg(errp, "userfaultfd is not available to QEMU");
        return false;
    }
    /*
     * Without UFFD_FEATURE_WP_UNPOPULATED (Linux 6.4), a page that the
     * guest never touched is not protected: populate it, as migration's
     * background snapshot does
     */
    unpopulated = features & UFFD_FEATURE_WP_UNPOPULATED;
    dl->uffd = uffd_create_fd(UFFD_FEATURE_PAGEFAULT_FLAG_WP |
                              (unpopulated ? UFFD_FEATURE_WP_UNPOPULATED : 0),
                              true);
    if (dl->uffd < 0) {
        error_setg_errno(errp, errno, "cannot open a userfaultfd");
        return false;
    }

    for (i = 0; i < dl->ram->len; i++) {
        LiveRAM *r = &g_array_index(dl->ram, LiveRAM, i);
        uint64_t len = ram_pages(dl, r) * dl->psize;

        if ((uintptr_t)r->host % dl->psize || r->start % dl->psize) {
            error_setg(errp, "guest RAM at 0x%" HWADDR_PRIx " is not aligned"
                       " to host pages", r->start);
            return false;
        }
        if (uffd_register_memory(dl->uffd, r->host, len,
                                 UFFDIO_REGISTER_MODE_WP, &ioctls) ||
            !(ioctls & BIT_ULL(_UFFDIO_WRITEPROTECT))) {
            error_setg(errp, "the host cannot write-protect guest RAM at"
                       " 0x%" HWADDR_PRIx " with userfaultfd", r->start);
            return false;
        }
        r->registered = true;
        if (!unpopulated) {
            uint64_t off;

            for (off = 0; off < len; off += dl->psize) {
                uint8_t tmp = r->host[off];

                /* the read maps the page: keep it */
                asm volatile("" : "+r" (tmp));
            }
        }
        if (uffd_change_protection(dl->uffd, r->host, len, true, false)) {
            error_setg_errno(errp, errno, "cannot write-protect guest RAM"
                             " at 0x%" HWADDR_PRIx, r->start);
            return false;
        }
        bytes += len;
    }

    if (event_notifier_init(&dl->quit, false) < 0) {
        error_setg(errp, "cannot create an event notifier");
        return false;
    }
    qemu_thread_create(&dl->thread, "dump_live", fault_thread, dl,
                       QEMU_THREAD_JOINABLE);
    dl->thread_started = true;
    trace_dump_live_start(bytes, g_get_monotonic_time() - t0, unpopulated);
    return true;
}

/* Take the page at @pa of @r from its copy, and free the copy */
static void take_copy(DumpLive *dl, LiveRAM *r, hwaddr pa, uint8_t *buf)
{
    LiveCopy *c = g_hash_table_lookup(dl->copies, &pa);

    memcpy(buf, c->data, dl->psize);
    g_hash_table_remove(dl->copies, &pa);
    clear_bit((pa - r->start) / dl->psize, r->copied);
    dl->copy_bytes -= dl->psize;
}

const void *dump_live_map(DumpLive *dl, hwaddr pa, uint64_t *len)
{
    LiveRAM *r;
    size_t first, end, i, next;
    const void *ptr = NULL;
    uint8_t *host;

    qemu_mutex_lock(&dl->lock);
    r = ram_find(dl, pa);
    /* the dump asks for whole pages */
    if (dl->broken || !r || pa % dl->psize) {
        goto out;
    }
    *len = MIN(MIN(*len, r->end - pa), LIVE_CHUNK);
    /* end on a huge page boundary, so as not to split the huge page */
    host = r->host + (pa - r->start);
    if (QEMU_ALIGN_PTR_DOWN(host + *len, LIVE_HUGE) > host &&
        pa + *len < r->end) {
        *len = QEMU_ALIGN_PTR_DOWN(host + *len, LIVE_HUGE) - host;
    }
    first = (pa - r->start) / dl->psize;
    end = first + *len / dl->psize;
    if (end == first) {
        goto out;
    }
    *len = (end - first) * dl->psize;

    /* what the guest changed since comes from the copies */
    for (i = first; i < end; i = next) {
        next = find_next_bit(r->copied, end, i);
        memcpy(dl->chunk + (i - first) * dl->psize, r->host + i * dl->psize,
               (next - i) * dl->psize);
        if (next < end) {
            take_copy(dl, r, r->start + next * dl->psize,
                      dl->chunk + (next - first) * dl->psize);
            next++;
        }
    }

    bitmap_clear(r->pending, first, end - first);
    if (dl->stopping) {
        /* everything is unprotected already */
    } else if (!dl->aliased) {
        unprotect(dl, r->host + first * dl->psize, (end - first) * dl->psize);
    } else {
        for (i = first; i < end; i++) {
            uint8_t *page = r->host + i * dl->psize;

            if (!alias_pending(dl, r, page)) {
                unprotect(dl, page, dl->psize);
            }
        }
    }
    qemu_cond_broadcast(&dl->cond);
    ptr = dl->chunk;
out:
    qemu_mutex_unlock(&dl->lock);
    return ptr;
}

void dump_live_finish(DumpLive *dl)
{
    guint i;

    qemu_mutex_lock(&dl->lock);
    dl->stopping = true;
    qemu_cond_broadcast(&dl->cond);
    qemu_mutex_unlock(&dl->lock);

    if (dl->uffd >= 0) {
        unprotect_all(dl);
    }
    if (dl->thread_started) {
        event_notifier_set(&dl->quit);
        qemu_thread_join(&dl->thread);
        event_notifier_cleanup(&dl->quit);
    }
    for (i = 0; i < dl->ram->len; i++) {
        LiveRAM *r = &g_array_index(dl->ram, LiveRAM, i);

        if (r->registered) {
            uffd_unregister_memory(dl->uffd, r->host,
                                   ram_pages(dl, r) * dl->psize);
        }
        g_free(r->pending);
        g_free(r->copied);
    }
    if (dl->uffd >= 0) {
        uffd_close_fd(dl->uffd);
    }
    if (dl->discard_disabled) {
        ram_block_discard_disable(false);
    }
    trace_dump_live_finish(dl->copied_pages, dl->peak_bytes, dl->stalls);

    g_array_free(dl->ram, true);
    g_hash_table_destroy(dl->copies);
    g_free(dl->chunk);
    qemu_cond_destroy(&dl->cond);
    qemu_mutex_destroy(&dl->lock);
    g_free(dl);
}

#else /* !CONFIG_LINUX */

bool dump_live_available(Error **errp)
{
    error_setg(errp, "live dumps need Linux (userfaultfd)");
    return false;
}

DumpLive *dump_live_new(uint64_t budget)
{
    return g_new0(DumpLive, 1);
}

void dump_live_add_ram(DumpLive *dl, hwaddr start, hwaddr end, void *host)
{
}

void dump_live_want(DumpLive *dl, hwaddr start, hwaddr end)
{
}

bool dump_live_start(DumpLive *dl, Error **errp)
{
    return dump_live_available(errp);
}

const void *dump_live_map(DumpLive *dl, hwaddr pa, uint64_t *len)
{
    return NULL;
}

void dump_live_finish(DumpLive *dl)
{
    g_free(dl);
}

#endif /* CONFIG_LINUX */
