/*
 * Live dumps: read guest RAM as it was at one instant while the guest runs
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef DUMP_LIVE_H
#define DUMP_LIVE_H

#include "exec/hwaddr.h"

typedef struct DumpLive DumpLive;

/*
 * Can this host take a live dump of this guest: is there userfaultfd
 * write-protect, for every RAM block of the guest?
 */
bool dump_live_available(Error **errp);

/* A tracker that keeps at most @budget bytes of copies of guest pages */
DumpLive *dump_live_new(uint64_t budget);

/*
 * Guest RAM [start, end) is at @host.  Ranges are added in ascending
 * order and do not overlap; two of them may share host memory.
 */
void dump_live_add_ram(DumpLive *dl, hwaddr start, hwaddr end, void *host);

/* [start, end) is to be dumped: its pages are kept as they are now */
void dump_live_want(DumpLive *dl, hwaddr start, hwaddr end);

/*
 * Write-protect the RAM, with the vCPUs stopped: from here on, a write to
 * a page that is wanted and not dumped yet first copies the page.
 */
bool dump_live_start(DumpLive *dl, Error **errp);

/*
 * Guest RAM at @pa (page-aligned) as it was when dump_live_start()
 * returned: shortens *@len to what is returned (NULL if @pa is not RAM).
 * The bytes are a copy, valid until the next call; the guest writes to
 * that RAM freely from now on.
 */
const void *dump_live_map(DumpLive *dl, hwaddr pa, uint64_t *len);

/* Unprotect all of guest RAM and free @dl; the dump may be incomplete */
void dump_live_finish(DumpLive *dl);

#endif /* DUMP_LIVE_H */
