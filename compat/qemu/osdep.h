/*
 * The part of QEMU's qemu/osdep.h that dump/windmp/ needs, for builds of
 * the core outside QEMU (the windmp tool and the unit tests).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_COMPAT_OSDEP_H
#define WINDMP_COMPAT_OSDEP_H

#include <assert.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <glib.h>

#define QEMU_BUILD_BUG_ON(x) G_STATIC_ASSERT(!(x))

/* as QEMU's include/qemu/typedefs.h */
typedef struct Error Error;
typedef struct JSONWriter JSONWriter;
typedef struct Range Range;

/* as QEMU's include/qemu/compiler.h */
#ifndef sizeof_field
#define sizeof_field(type, field) sizeof(((type *)0)->field)
#endif

/* as QEMU's include/qemu/osdep.h */
#ifndef ROUND_DOWN
#define ROUND_DOWN(n, d) ((n) & -(0 ? (n) : (d)))
#endif
#ifndef ROUND_UP
#define ROUND_UP(n, d) ROUND_DOWN((n) + (d) - 1, (d))
#endif
#ifndef DIV_ROUND_UP
#define DIV_ROUND_UP(n, d) (((n) + (d) - 1) / (d))
#endif

#ifndef ARRAY_SIZE
#define ARRAY_SIZE(x) (sizeof(x) / sizeof((x)[0]))
#endif

#endif
