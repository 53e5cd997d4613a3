/*
 * QEMU's Error API, reduced to what dump/windmp/ needs outside QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"

struct Error {
    char *msg;
};

void error_setg(Error **errp, const char *fmt, ...)
{
    va_list ap;

    if (!errp) {
        return;
    }
    g_assert(*errp == NULL);
    *errp = g_new0(Error, 1);
    va_start(ap, fmt);
    (*errp)->msg = g_strdup_vprintf(fmt, ap);
    va_end(ap);
}


void error_prepend(Error **errp, const char *fmt, ...)
{
    g_autofree char *pre = NULL;
    char *old;
    va_list ap;

    if (!errp || !*errp) {
        return;
    }
    va_start(ap, fmt);
    pre = g_strdup_vprintf(fmt, ap);
    va_end(ap);
    old = (*errp)->msg;
    (*errp)->msg = g_strconcat(pre, old, NULL);
    g_free(old);
}


const char *error_get_pretty(const Error *err)
{
    return err->msg;
}

void error_free(Error *err)
{
    if (err) {
        g_free(err->msg);
        g_free(err);
    }
}

void error_propagate(Error **dst_errp, Error *local_err)
{
    if (!local_err) {
        return;
    }
    if (!dst_errp) {
        error_free(local_err);
        return;
    }
    g_assert(*dst_errp == NULL);
    *dst_errp = local_err;
}
