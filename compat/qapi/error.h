/*
 * The subset of QEMU's Error API (qapi/error.h) that dump/windmp/ uses,
 * for builds outside QEMU.  Same names, same rules.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_COMPAT_ERROR_H
#define WINDMP_COMPAT_ERROR_H

typedef struct Error Error;

void error_setg(Error **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void error_prepend(Error **errp, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
const char *error_get_pretty(const Error *err);
void error_free(Error *err);

#endif
