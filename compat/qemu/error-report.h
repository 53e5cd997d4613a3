/*
 * warn_report() with QEMU's name (qemu/error-report.h), for builds of
 * dump/windmp/ outside QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_COMPAT_ERROR_REPORT_H
#define WINDMP_COMPAT_ERROR_REPORT_H

void warn_report(const char *fmt, ...) G_GNUC_PRINTF(1, 2);

/* Where warnings go: stderr unless a test or tool takes them */
typedef void WarnHandler(const char *msg, void *opaque);
void windmp_set_warn_handler(WarnHandler *fn, void *opaque);

#endif
