/*
 * Guest RAM that a file holds, as the win-dmp core reads it
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "filemem.h"

const uint8_t *filemem_ptr(const FileMem *m, uint64_t pa, uint64_t *len)
{
    const WinDumpGuest g = { .ram = m->ram, .nr_ram = m->nr };
    size_t i = windmp_ram_find(&g, pa);

    if (i == m->nr || pa < m->ram[i].start) {
        return NULL;
    }
    *len = MIN(*len, m->ram[i].end - pa);
    return m->data[i] + (pa - m->ram[i].start);
}

static bool filemem_read(void *opaque, uint64_t pa, void *buf, uint64_t len)
{
    uint8_t *out = buf;

    while (len) {
        uint64_t n = len;
        const uint8_t *p = filemem_ptr(opaque, pa, &n);

        if (!p) {
            return false;
        }
        memcpy(out, p, n);
        out += n;
        pa += n;
        len -= n;
    }
    return true;
}

static const void *filemem_map(void *opaque, uint64_t pa, uint64_t *len)
{
    return filemem_ptr(opaque, pa, len);
}

static void filemem_unmap(void *opaque, const void *ptr, uint64_t len)
{
}

static const WinDumpGuestOps filemem_ops = {
    .read = filemem_read,
    .map = filemem_map,
    .unmap = filemem_unmap,
};

void filemem_guest(const FileMem *m, WinDumpGuest *g)
{
    memset(g, 0, sizeof(*g));
    g->ops = &filemem_ops;
    g->opaque = (void *)m;
    g->ram = m->ram;
    g->nr_ram = m->nr;
}
