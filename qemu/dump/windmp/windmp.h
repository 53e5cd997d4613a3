/*
 * Windows crash dump core: validate, patch, plan and write
 *
 * Everything in dump/windmp/ is free of QEMU's globals: it sees the guest
 * only through WinDumpGuest, so that QEMU's dump-guest-memory and the
 * standalone windmp tool (which reads ELF cores) share one implementation
 * of the format and cannot disagree.
 *
 * Every byte of the header, the KDBG block and the page tables is written
 * by the guest.  windmp_prepare() is the one place where all of it is
 * checked; what it accepts is safe for windmp_write() to use.  Guest memory
 * is never modified: the per-CPU contexts that WinDbg reads from the KPRCBs
 * are overlaid on the output instead.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_H
#define WINDMP_H

#include "qemu/win_dump_defs.h"

/* A range [start, end) of guest-physical addresses */
typedef struct WinDumpRange {
    uint64_t start;
    uint64_t end;
} WinDumpRange;

/* Register state of one vCPU, in host byte order */
typedef struct WinDumpCpu {
    /* RAX, RCX, RDX, RBX, RSP, RBP, RSI, RDI, R8..R15: x86 encoding order */
    uint64_t regs[16];
    uint64_t rip;
    uint64_t rflags;
    /* ES, CS, SS, DS, FS, GS selectors: x86 encoding order */
    uint16_t sel[6];
    uint64_t dr[8];
    /* FXSAVE image of the x87/SSE state (MXCSR included) */
    WinXmmSaveArea32 fx;
    /* the guest reported a crash (panic) on this vCPU */
    bool crashed;
    /*
     * CR0..CR4 (CR1 unused), when known: CR4.LA57 says how many levels
     * the kernel's page tables have.
     */
    bool has_cr;
    uint64_t cr[5];
    /*
     * This vCPU reported the crash through the Hyper-V crash MSRs
     * (hv-crash): Windows put its bugcheck code and four parameters there
     */
    bool hv_crash;
    uint64_t hv_crash_params[5];
} WinDumpCpu;

typedef struct WinDumpGuestOps {
    /*
     * Copy guest RAM.  The core only asks for bytes that lie inside
     * WinDumpGuest.ram, so an implementation never reaches a device.
     */
    bool (*read)(void *opaque, uint64_t pa, void *buf, uint64_t len);
    /*
     * Map guest RAM for reading, starting at @pa: shorten *len to how much
     * of it is mapped (at least one byte, at most *len), or return NULL.
     */
    const void *(*map)(void *opaque, uint64_t pa, uint64_t *len);
    void (*unmap)(void *opaque, const void *ptr, uint64_t len);
    /*
     * Optional: hear about what the core tolerated (and left out of the
     * dump) rather than refused.
     */
    void (*warn)(void *opaque, const char *msg);
} WinDumpGuestOps;

typedef struct WinDumpGuest {
    const WinDumpGuestOps *ops;
    void *opaque;
    /* guest RAM (no ROM, no MMIO), sorted, not overlapping */
    const WinDumpRange *ram;
    size_t nr_ram;
    const WinDumpCpu *cpus;
    unsigned nr_cpus;
    /*
     * Optional: where memory can be hot-plugged.  RAM there that the
     * header's runs miss was plugged after the guest published it, and
     * is added to the runs.
     */
    const WinDumpRange *hotplug;
    size_t nr_hotplug;
} WinDumpGuest;

typedef struct WinDumpOptions {
    /* FILETIME for SystemTime, or 0 to keep the guest's */
    uint64_t system_time;
    /*
     * A kernel memory dump (DumpType 5, "SDMP"): only the pages that the
     * kernel half of the address space maps, and the page tables
     */
    bool kernel_only;
} WinDumpOptions;

/* How the kernel's page tables are walked: the x86 paging modes */
typedef enum WinDumpPaging {
    WIN_DUMP_PAGING_X86,        /* 2 levels, 4 KiB and 4 MiB pages */
    WIN_DUMP_PAGING_PAE,        /* 3 levels, 4 KiB and 2 MiB pages */
    WIN_DUMP_PAGING_LM4,        /* 4 levels, 4 KiB, 2 MiB and 1 GiB pages */
    WIN_DUMP_PAGING_LM5,        /* 5 levels (LA57), same page sizes */
} WinDumpPaging;

/* Bytes that the file shows instead of guest RAM (a CPU context) */
typedef struct WinDumpOverlay {
    uint64_t pa;
    uint64_t len;
    uint8_t *data;
} WinDumpOverlay;

typedef struct WinDump {
    bool x64;
    /* how the kernel's page tables are walked */
    WinDumpPaging paging;
    /* the header as it will be written, patched */
    WinDumpHeader hdr;
    size_t hdr_size;

    /* where the KDBG that we checked lives, and its first bytes */
    uint64_t kdbg_va;
    uint8_t kdbg[KDBG_MIN_SIZE];

    /* the vCPU whose registers go to the header's ContextRecord */
    unsigned current_cpu;
    /* how many vCPUs got a context in their KPRCB */
    unsigned nr_contexts;

    /*
     * DumpType 5 only: the bitmap header, the bitmap and the padding up
     * to the first page, written right after the header
     */
    uint8_t *bitmap;
    size_t bitmap_size;
    /*
     * The guest has more memory runs than its header can list: the dump
     * holds all of guest RAM behind a bitmap ("FDMP")
     */
    bool all_ram;

    /* the plan: guest-physical ranges in file order, after the header */
    WinDumpRange *extents;
    size_t nr_extents;
    uint64_t total_size;

    /* sorted by pa, not overlapping */
    WinDumpOverlay *overlays;
    size_t nr_overlays;
} WinDump;

/* Write @len bytes to the output; false and @errp set on failure */
typedef bool (*WinDumpWriteFn)(void *opaque, const void *buf, size_t len,
                               Error **errp);

/*
 * Move the output @len bytes on without writing them, leaving a hole that
 * must read back as zeros; false and @errp set on failure
 */
typedef bool (*WinDumpSkipFn)(void *opaque, uint64_t len, Error **errp);

/*
 * The shortest run of zero pages that becomes a hole.  Each hole is an
 * extent of its own to the file system: page-sized ones made a dump that
 * skipped half the pages of a guest slower than one that wrote them all
 * (ext4), and a file that is slow to read.  Shorter runs are written.
 */
#define WIN_DUMP_HOLE_MIN   (256 * WIN_DUMP_PAGE_SIZE)

/* Where windmp_write() streams the file */
typedef struct WinDumpSink {
    WinDumpWriteFn write;
    /*
     * NULL when the output cannot seek (a pipe, a socket): every byte is
     * then written.  Otherwise runs of all-zero pages (WIN_DUMP_HOLE_MIN
     * or more) are skipped, and when windmp_write() returns true the sink
     * must still make the file its full length (ftruncate), as a trailing
     * hole is skipped too.
     */
    WinDumpSkipFn skip;
    void *opaque;
} WinDumpSink;

/*
 * The checks of a header that its writer (windmp_prepare()) and its
 * readers (windmp info and verify) share: one reading of the layout in
 * win_dump_defs.h.  @h is an x64 header if @x64, else an x86 one; its
 * fields are little-endian.
 */

/* NumberOfRuns and NumberOfPages as the header has them (unchecked) */
uint32_t windmp_header_nr_runs(const WinDumpHeader *h, bool x64);
uint64_t windmp_header_nr_pages(const WinDumpHeader *h, bool x64);

/*
 * Append the header's memory runs to @runs (of WinDumpRange), in header
 * order, and add their pages to *@pages.  NumberOfRuns must be between 1
 * and what fits in the header, and each run a non-empty range of page
 * frames below 2^40 (52 bits of physical address).  On failure @errp
 * says which run is wrong, and @runs holds the valid ones before it: the
 * file offsets of those after it are not known.
 */
bool windmp_header_runs(const WinDumpHeader *h, bool x64, GArray *runs,
                        uint64_t *pages, Error **errp);

/* Are the @nr @runs sorted and disjoint, as a header must list them? */
bool windmp_runs_check_order(const WinDumpRange *runs, size_t nr,
                             Error **errp);

/*
 * DirectoryTableBase without the flag bits CR3 may carry, and how to
 * walk the tables it roots: from PaeEnabled on x86; on x64 4 levels, as
 * the header does not record CR4.LA57 (windmp_x64_paging() asks the
 * vCPUs, a reader of a file tries both)
 */
uint64_t windmp_header_dtb(const WinDumpHeader *h, bool x64,
                           WinDumpPaging *paging);

/*
 * Is the start of a KDBG (its first KDBG_SIZE_OFFSET64 + 4 bytes) one
 * that readers can use: tagged "KDBG", and a Size that reaches
 * OffsetPrcbContext?  *@size gets its Size.
 */
bool windmp_kdbg_check(const uint8_t *kdbg, uint32_t *size, Error **errp);

/* A pointer field of the KDBG (@kdbg: KDBG_MIN_SIZE bytes) */
uint64_t windmp_kdbg_ptr(const uint8_t *kdbg, bool x64, unsigned off);

/*
 * Is @note (@size bytes, the guest's vmcoreinfo ELF note) a Windows crash
 * dump header?  Checks only its shape: name, sizes and signatures.
 */
bool windmp_note_check(const void *note, size_t size, Error **errp);

/*
 * Check the guest's header in @note against the guest, resolve the KDBG,
 * patch the header and plan the file.  On success @wd must be released
 * with windmp_cleanup(); on failure it holds nothing.
 */
bool windmp_prepare(WinDump *wd, const WinDumpGuest *g,
                    const void *note, size_t size,
                    const WinDumpOptions *opts, Error **errp);

/* Stream the file planned by windmp_prepare() to @out */
bool windmp_write(const WinDump *wd, const WinDumpGuest *g,
                  const WinDumpSink *out, Error **errp);

/* Can a sink writing to @fd skip zero pages (WinDumpSink.skip)? */
bool windmp_fd_can_skip(int fd);

void windmp_cleanup(WinDump *wd);

/* The first RAM range that ends above @pa (nr_ram if none does) */
size_t windmp_ram_find(const WinDumpGuest *g, uint64_t pa);

/* Is [pa, pa + len) inside guest RAM? */
bool windmp_is_ram(const WinDumpGuest *g, uint64_t pa, uint64_t len);

/* Read guest RAM; fails cleanly on anything that is not RAM */
bool windmp_read_phys(const WinDumpGuest *g, uint64_t pa, void *buf,
                      uint64_t len, Error **errp);

/*
 * The paging mode of an x64 kernel.  The header does not record it: it
 * is CR4.LA57 of vCPUs 0..@nr_cpus-1 that have paging on (CR0.PG), which
 * must agree.  4 levels if no vCPU's control registers say otherwise.
 */
bool windmp_x64_paging(const WinDumpGuest *g, unsigned nr_cpus,
                       WinDumpPaging *paging, Error **errp);

/*
 * Virtual addresses of the dumped kernel, translated by walking the page
 * tables at the header's DirectoryTableBase, never through a vCPU.
 */

typedef struct WinDumpSpace {
    const WinDumpGuest *g;
    WinDumpPaging paging;
    uint64_t dtb;
    /* page-table entries consulted so far: readers of the file need them */
    GArray *tables;             /* of WinDumpRange */
} WinDumpSpace;

void windmp_space_init(WinDumpSpace *as, const WinDumpGuest *g,
                       WinDumpPaging paging, uint64_t dtb);
void windmp_space_destroy(WinDumpSpace *as);

/*
 * Translate @va.  On success *pa is its physical address and *left the
 * number of bytes from there to the end of its page.
 */
bool windmp_translate(WinDumpSpace *as, uint64_t va, uint64_t *pa,
                      uint64_t *left, Error **errp);

/* Read @len bytes at @va, possibly across pages */
bool windmp_read_virt(WinDumpSpace *as, uint64_t va, void *buf,
                      uint64_t len, Error **errp);

/* Read a kernel pointer at @va: 8 bytes on x64, 4 on x86 */
bool windmp_read_ptr(WinDumpSpace *as, bool x64, uint64_t va, uint64_t *ptr,
                     Error **errp);

/*
 * Where processor @i keeps its CONTEXT: KiProcessorBlock[@i] (from the
 * KDBG in @kdbg, KDBG_MIN_SIZE bytes) is its KPRCB, and the pointer at
 * the KDBG's OffsetPrcbContext in it is *@ctx.  *@prcb is the KPRCB, or
 * 0 if it was not found.
 */
bool windmp_prcb_context(WinDumpSpace *as, bool x64, const uint8_t *kdbg,
                         unsigned i, uint64_t *prcb, uint64_t *ctx,
                         Error **errp);

/*
 * Set in @pages (one bit per page frame below @nr_pfns) each page of guest
 * RAM that the kernel half of the address space maps, and each page table
 * reachable from the root.  Tables that are not in RAM are skipped.
 */
void windmp_kernel_pages(WinDumpSpace *as, unsigned long *pages,
                         uint64_t nr_pfns);

#endif /* WINDMP_H */
