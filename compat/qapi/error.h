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
void error_propagate(Error **dst_errp, Error *local_err);

/*
 * As in QEMU: a function that prepends to, or hints on, its errp works on
 * an Error of its own when the caller passed NULL, and hands it on when
 * it returns.  (Outside QEMU there is no error_fatal or error_abort.)
 */
typedef struct ErrorPropagator {
    Error *local_err;
    Error **errp;
} ErrorPropagator;

static inline void error_propagator_cleanup(ErrorPropagator *prop)
{
    error_propagate(prop->errp, prop->local_err);
}

G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(ErrorPropagator, error_propagator_cleanup);

#define ERRP_GUARD()                                            \
    g_auto(ErrorPropagator) _auto_errp_prop = {.errp = errp};   \
    do {                                                        \
        if (!errp) {                                            \
            errp = &_auto_errp_prop.local_err;                  \
        }                                                       \
    } while (0)

#endif
