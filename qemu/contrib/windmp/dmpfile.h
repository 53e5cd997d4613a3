/*
 * Windows crash dumps (.dmp) as seen by windmp: header, page map and the
 * checks a reader relies on
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_DMPFILE_H
#define WINDMP_DMPFILE_H

#include "dump/windmp/windmp.h"
#include "filemem.h"

/* DumpType 6 reads as 5; the bitmap header is in qemu/win_dump_defs.h */
#define WIN_DUMP_TYPE_BITMAP_KERNEL     6

/* One stretch of guest-physical memory stored contiguously in the file */
typedef struct DmpExtent {
    uint64_t pa;
    uint64_t len;
    uint64_t offset;
} DmpExtent;

typedef enum DmpSeverity {
    DMP_INFO,
    DMP_WARNING,    /* a reader copes, but something is off */
    DMP_ERROR,      /* a reader fails, or reads wrong data */
} DmpSeverity;

typedef struct DmpFinding {
    DmpSeverity severity;
    char *msg;
} DmpFinding;

typedef struct DmpProcessor {
    uint64_t prcb;              /* KiProcessorBlock[i], 0 if unreadable */
    uint64_t context_va;        /* KPRCB.Context, 0 if unreadable */
    bool has_context;           /* the CONTEXT could be read */
    WinContext context;
} DmpProcessor;

typedef struct DmpFile {
    const uint8_t *data;
    uint64_t size;
    bool x64;
    const WinDumpHeader *hdr;   /* points into data */
    uint64_t hdr_size;
    uint32_t dump_type;
    bool bitmap;
    bool summary;               /* a kernel memory dump ("SDMP") */

    /* the page map; ram[] is the same ranges, for the core's walker */
    DmpExtent *extents;
    size_t nr_extents;
    WinDumpRange *ram;
    const uint8_t **ram_data;   /* where the file holds ram[i] */
    FileMem mem;                /* the same, for the core */
    uint64_t pages;             /* pages the map holds */
    uint64_t expected_size;     /* what the file size should be */

    /* from the header, LE-decoded */
    uint64_t dtb;
    uint64_t kdbg_va;
    uint64_t pfn_database;
    uint64_t ps_loaded_module_list;
    uint64_t ps_active_process_head;
    uint32_t nr_processors;
    uint32_t bugcheck_code;
    uint64_t bugcheck_param[4];
    uint32_t major, minor, machine;
    uint64_t system_time, required_space;
    uint64_t claimed_pages;

    /*
     * How to walk the page tables.  The file does not record CR4.LA57:
     * x64 dumps get 5 levels when only 5 lead from KdDebuggerDataBlock
     * to a block tagged "KDBG", else 4.  Set it before dmpfile_check()
     * to override.
     */
    WinDumpPaging paging;

    /* what reading through the dump found */
    bool kdbg_ok;
    uint8_t kdbg[KDBG_MIN_SIZE];
    DmpProcessor *cpus;         /* nr_processors, if the KDBG was read */

    GArray *findings;           /* of DmpFinding */
} DmpFile;

/*
 * Parse the .dmp in @data (@size bytes, which must stay mapped while @df
 * is used).  Fails only when there is no page map to speak of; anything
 * else a reader would trip on becomes a finding.
 */
bool dmpfile_parse(DmpFile *df, const void *data, uint64_t size,
                   Error **errp);
/* Read the KDBG and the processors' contexts through the dump */
void dmpfile_check(DmpFile *df);
void dmpfile_free(DmpFile *df);

/* Number of findings at @severity or worse */
unsigned dmpfile_count(const DmpFile *df, DmpSeverity severity);

/* The core's view of the memory the dump holds */
void dmpfile_guest(const DmpFile *df, WinDumpGuest *g);
WinDumpPaging dmpfile_paging(const DmpFile *df);

/* A pointer to guest-physical [pa, pa + *len), *len shortened; or NULL */
const uint8_t *dmpfile_ptr(const DmpFile *df, uint64_t pa, uint64_t *len);

#endif /* WINDMP_DMPFILE_H */
