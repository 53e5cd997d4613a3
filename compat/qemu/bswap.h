/*
 * Little-endian accessors with QEMU's names (qemu/bswap.h), for builds of
 * dump/windmp/ outside QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_COMPAT_BSWAP_H
#define WINDMP_COMPAT_BSWAP_H

#define le16_to_cpu(x) GUINT16_FROM_LE(x)
#define le32_to_cpu(x) GUINT32_FROM_LE(x)
#define le64_to_cpu(x) GUINT64_FROM_LE(x)
#define cpu_to_le16(x) GUINT16_TO_LE(x)
#define cpu_to_le32(x) GUINT32_TO_LE(x)
#define cpu_to_le64(x) GUINT64_TO_LE(x)

static inline int lduw_le_p(const void *p)
{
    uint16_t v;

    memcpy(&v, p, sizeof(v));
    return le16_to_cpu(v);
}

static inline int ldl_le_p(const void *p)
{
    uint32_t v;

    memcpy(&v, p, sizeof(v));
    return le32_to_cpu(v);
}

static inline uint64_t ldq_le_p(const void *p)
{
    uint64_t v;

    memcpy(&v, p, sizeof(v));
    return le64_to_cpu(v);
}

static inline void stw_le_p(void *p, uint16_t v)
{
    v = cpu_to_le16(v);
    memcpy(p, &v, sizeof(v));
}

static inline void stl_le_p(void *p, uint32_t v)
{
    v = cpu_to_le32(v);
    memcpy(p, &v, sizeof(v));
}

static inline void stq_le_p(void *p, uint64_t v)
{
    v = cpu_to_le64(v);
    memcpy(p, &v, sizeof(v));
}

#endif
