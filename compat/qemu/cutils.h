/*
 * The part of QEMU's qemu/cutils.h that dump/windmp/ needs, for builds of
 * the core outside QEMU (the windmp tool and the unit tests).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_COMPAT_CUTILS_H
#define WINDMP_COMPAT_CUTILS_H

/* Are all @len bytes at @buf zero?  (QEMU: util/bufferiszero.c) */
bool buffer_is_zero(const void *buf, size_t len);

#endif
