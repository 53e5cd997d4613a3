/*
 * Windows crash dump (dump-guest-memory -w, format win-dmp)
 *
 * The adapter between QEMU's dump machinery and the win-dmp core in
 * dump/windmp/: it hands the core guest RAM (the dump's own snapshot of
 * the RAM blocks, so no device is ever reached), the vCPU registers and
 * the guest's vmcoreinfo note, and streams what the core plans to the
 * dump's file descriptor.
 *
 * Copyright (c) 2018 Virtuozzo International GmbH
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "system/dump.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/main-loop.h"
#include "qemu/units.h"
#include "hw/core/cpu.h"
#include "hw/boards.h"
#include "hw/misc/vmcoreinfo.h"
#include "system/dma.h"
#include "system/runstate.h"
#include "win_dump.h"
#include "live.h"
#include "windmp/windmp.h"
#include "cpu.h"

#if defined(TARGET_X86_64)

#define WIN_DUMP_NOTE_MAX   VMCOREINFO_WIN_DUMP_NOTE_SIZE64

/* 100 ns ticks from 1601-01-01 to 1970-01-01 */
#define FILETIME_UNIX_EPOCH 116444736000000000ull

bool win_dump_available(Error **errp)
{
    ERRP_GUARD();
    VMCoreInfoState *vmci = vmcoreinfo_find();
    g_autofree uint8_t *note = NULL;
    uint32_t size;

    if (!vmci) {
        /* QMP drops hints: what to do must be in the message itself */
        error_setg(errp, "win-dmp: no vmcoreinfo device, through which the"
                   " guest publishes its Windows crash dump header; start"
                   " QEMU with -device vmcoreinfo (libvirt: <vmcoreinfo"
                   " state='on'/>) and run the virtio-win fwcfg driver in"
                   " the guest");
        return false;
    }
    size = le32_to_cpu(vmci->vmcoreinfo.size);
    if (!vmci->has_vmcoreinfo ||
        le16_to_cpu(vmci->vmcoreinfo.guest_format) !=
        FW_CFG_VMCOREINFO_FORMAT_ELF) {
        error_setg(errp, "win-dmp: the guest has not published a Windows"
                   " crash dump header; install the virtio-win fwcfg driver"
                   " in the guest, or wait until it has loaded");
        error_append_hint(errp, "Device Manager shows it as \"QEMU FwCfg"
                          " Device\"; a guest that is still booting has not"
                          " loaded it yet.\n");
        return false;
    }
    /* the note can't be a header if it is larger than the largest one */
    if (size < VMCOREINFO_ELF_NOTE_HDR_SIZE || size > WIN_DUMP_NOTE_MAX) {
        error_setg(errp, "win-dmp: the guest's vmcoreinfo note (%" PRIu32
                   " bytes) is not a Windows crash dump header; for a Linux"
                   " guest, use the elf or kdump formats", size);
        return false;
    }
    note = g_malloc(size);
    if (!dump_read_guest_ram(le64_to_cpu(vmci->vmcoreinfo.paddr), note,
                             size)) {
        error_setg(errp, "win-dmp: the guest's vmcoreinfo note is not in"
                   " guest RAM");
        return false;
    }
    if (!windmp_note_check(note, size, errp)) {
        error_prepend(errp, "win-dmp: ");
        return false;
    }
    return true;
}

/* The dump's snapshot of guest RAM, without ROM */
typedef struct QemuGuest {
    DumpState *s;
    GArray *ram;                /* of WinDumpRange */
    GArray *host;               /* of uint8_t *, parallel to ram */
    /* a live dump: RAM as it was when the guest was resumed */
    DumpLive *live;
} QemuGuest;

static const uint8_t *guest_ram_ptr(QemuGuest *qg, uint64_t pa, uint64_t *len)
{
    guint i;

    for (i = 0; i < qg->ram->len; i++) {
        WinDumpRange *r = &g_array_index(qg->ram, WinDumpRange, i);

        if (pa >= r->start && pa < r->end) {
            *len = MIN(*len, r->end - pa);
            return g_array_index(qg->host, uint8_t *, i) + (pa - r->start);
        }
    }
    return NULL;
}

static bool guest_read(void *opaque, uint64_t pa, void *buf, uint64_t len)
{
    uint8_t *p = buf;

    while (len) {
        uint64_t n = len;
        const uint8_t *src = guest_ram_ptr(opaque, pa, &n);

        if (!src) {
            return false;
        }
        memcpy(p, src, n);
        p += n;
        pa += n;
        len -= n;
    }
    return true;
}

static const void *guest_map(void *opaque, uint64_t pa, uint64_t *len)
{
    QemuGuest *qg = opaque;

    if (qg->live) {
        return dump_live_map(qg->live, pa, len);
    }
    return guest_ram_ptr(qg, pa, len);
}

static void guest_unmap(void *opaque, const void *ptr, uint64_t len)
{
}

static void guest_warn(void *opaque, const char *msg)
{
    warn_report("win-dmp: %s", msg);
}

static const WinDumpGuestOps guest_ops = {
    .read = guest_read,
    .map = guest_map,
    .unmap = guest_unmap,
    .warn = guest_warn,
};

/*
 * The PC's option ROM and BIOS window below 1 MiB is firmware, even where
 * the firmware left its PAM shadow writable; windmp leaves it out of an
 * ELF core's RAM the same way, so that both make the same bitmap dumps.
 */
#define PC_ROM_START    0xc0000ull
#define PC_ROM_END      0x100000ull

static void guest_ram_add(QemuGuest *qg, uint64_t start, uint64_t end,
                          uint8_t *host)
{
    WinDumpRange r = { start, end };
    WinDumpRange *last;

    if (start < PC_ROM_END && end > PC_ROM_START) {
        if (start < PC_ROM_START) {
            guest_ram_add(qg, start, PC_ROM_START, host);
        }
        if (end > PC_ROM_END) {
            guest_ram_add(qg, PC_ROM_END, end, host + (PC_ROM_END - start));
        }
        return;
    }
    last = qg->ram->len ?
        &g_array_index(qg->ram, WinDumpRange, qg->ram->len - 1) : NULL;

    if (last && last->end == start &&
        g_array_index(qg->host, uint8_t *, qg->ram->len - 1) +
        (last->end - last->start) == host) {
        last->end = end;
        return;
    }
    g_array_append_val(qg->ram, r);
    g_array_append_val(qg->host, host);
}

/*
 * Guest RAM as the dump saw it, less what the guest cannot write: a run
 * over firmware (ROM, or RAM mapped read-only like the BIOS shadow at
 * 0xc0000-0xfffff) would claim firmware is memory.
 */
static void guest_ram_init(QemuGuest *qg, DumpState *s)
{
    GuestPhysBlock *block;

    qg->s = s;
    qg->ram = g_array_new(false, false, sizeof(WinDumpRange));
    qg->host = g_array_new(false, false, sizeof(uint8_t *));
    QTAILQ_FOREACH(block, &s->guest_phys_blocks.head, next) {
        uint64_t pos = block->target_start;

        while (pos < block->target_end) {
            MemoryRegionSection mrs;
            uint64_t end;
            bool writable;

            mrs = memory_region_find(get_system_memory(), pos,
                                     block->target_end - pos);
            if (!mrs.mr) {
                break;
            }
            /* the section found may start after @pos */
            end = mrs.offset_within_address_space + int128_get64(mrs.size);
            writable = !mrs.readonly && !memory_region_is_rom(mrs.mr) &&
                       !memory_region_is_romd(mrs.mr);
            if (writable) {
                guest_ram_add(qg, mrs.offset_within_address_space, end,
                              block->host_addr +
                              (mrs.offset_within_address_space -
                               block->target_start));
            }
            memory_region_unref(mrs.mr);
            pos = end;
        }
    }
}

/*
 * Copies of the pages that the guest writes before a live dump reaches
 * them: a sixteenth of the dump, within these bounds.  A guest that
 * writes more meanwhile waits for the dump.
 */
#define LIVE_BUDGET_MIN     (16 * MiB)
#define LIVE_BUDGET_MAX     (1 * GiB)

/*
 * Protect the RAM that @wd plans to dump and resume the guest: from here
 * on, the dump reads RAM through qg->live
 */
static bool live_start(DumpState *s, QemuGuest *qg, const WinDump *wd,
                       Error **errp)
{
    Error *err = NULL;
    guint i;

    qg->live = dump_live_new(MIN(MAX(wd->total_size / 16, LIVE_BUDGET_MIN),
                                 LIVE_BUDGET_MAX));
    for (i = 0; i < qg->ram->len; i++) {
        WinDumpRange *r = &g_array_index(qg->ram, WinDumpRange, i);

        dump_live_add_ram(qg->live, r->start, r->end,
                          g_array_index(qg->host, uint8_t *, i));
    }
    for (i = 0; i < wd->nr_extents; i++) {
        dump_live_want(qg->live, wd->extents[i].start, wd->extents[i].end);
    }
    if (!dump_live_start(qg->live, &err)) {
        dump_live_finish(qg->live);
        qg->live = NULL;
        /* QMP drops hints: what still works must be in the message */
        error_setg(errp, "win-dmp: cannot take a live dump: %s; a dump"
                   " without live still works", error_get_pretty(err));
        error_free(err);
        return false;
    }

    /* the dump thread does not hold the BQL (live implies detach) */
    bql_lock();
    vm_start();
    bql_unlock();
    s->resume = false;
    return true;
}

static void cpu_state(WinDumpCpu *c, CPUState *cs)
{
    CPUX86State *env = &X86_CPU(cs)->env;
    int i;

    memset(c, 0, sizeof(*c));
    for (i = 0; i < 16; i++) {
        c->regs[i] = env->regs[i];
    }
    c->rip = env->eip;
    c->rflags = cpu_compute_eflags(env);
    for (i = 0; i < 6; i++) {
        c->sel[i] = env->segs[i].selector;
    }
    for (i = 0; i < 8; i++) {
        c->dr[i] = env->dr[i];
    }

    /* the FXSAVE image, as helper_fxsave() lays it out */
    c->fx.ControlWord = env->fpuc;
    c->fx.StatusWord = (env->fpus & ~0x3800) | (env->fpstt & 7) << 11;
    for (i = 0; i < 8; i++) {
        c->fx.TagWord |= !env->fptags[i] << i;
    }
    c->fx.ErrorOpcode = env->fpop;
    c->fx.ErrorOffset = env->fpip;
    c->fx.ErrorSelector = env->fpcs;
    c->fx.DataOffset = env->fpdp;
    c->fx.DataSelector = env->fpds;
    c->fx.MxCsr = env->mxcsr;
    c->fx.MxCsr_Mask = 0xffff;
    for (i = 0; i < 8; i++) {
        floatx80 st = env->fpregs[(env->fpstt + i) & 7].d;

        c->fx.FloatRegisters[i].low = st.low;
        c->fx.FloatRegisters[i].high = st.high;
    }
    for (i = 0; i < 16; i++) {
        c->fx.XmmRegisters[i].low = env->xmm_regs[i].ZMM_Q(0);
        c->fx.XmmRegisters[i].high = env->xmm_regs[i].ZMM_Q(1);
    }
    c->crashed = cs->crash_occurred;
    /* CR4.LA57 tells the core how many levels the page tables have */
    c->has_cr = true;
    for (i = 0; i < 5; i++) {
        c->cr[i] = env->cr[i];
    }
    /*
     * With hv-crash, Windows writes its bugcheck to the crash MSRs before
     * it notifies the crash; they hold it when KiBugcheckData does not.
     */
    if (cs->crash_occurred &&
        hyperv_feat_enabled(X86_CPU(cs), HYPERV_FEAT_CRASH) &&
        env->msr_hv_crash_params[0]) {
        QEMU_BUILD_BUG_ON(HV_CRASH_PARAMS < ARRAY_SIZE(c->hv_crash_params));
        c->hv_crash = true;
        for (i = 0; i < ARRAY_SIZE(c->hv_crash_params); i++) {
            c->hv_crash_params[i] = env->msr_hv_crash_params[i];
        }
    }
}

static bool write_fd(void *opaque, const void *buf, size_t len, Error **errp)
{
    DumpState *s = opaque;

    if (qemu_write_full(s->fd, buf, len) != len) {
        error_setg_errno(errp, errno, "failed to write the dump");
        return false;
    }
    s->written_size += len;
    return true;
}

static bool skip_fd(void *opaque, uint64_t len, Error **errp)
{
    DumpState *s = opaque;

    if (lseek(s->fd, len, SEEK_CUR) < 0) {
        error_setg_errno(errp, errno, "failed to seek in the dump");
        return false;
    }
    s->written_size += len;
    return true;
}


/*
 * Where the dump starts in @fd: an fd: output is the caller's file, which
 * may hold the caller's own bytes before it (or be opened for appending).
 * -1 when it cannot seek (a pipe).
 */
static off_t fd_start(int fd)
{
    struct stat st;
    int flags = fcntl(fd, F_GETFL);

    if (flags >= 0 && (flags & O_APPEND)) {
        return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) ? st.st_size : -1;
    }
    return lseek(fd, 0, SEEK_CUR);
}

/* A trailing hole was skipped, not written: give the file its length */
static bool fd_finish(int fd, Error **errp)
{
    off_t end = lseek(fd, 0, SEEK_CUR);

    if (end < 0 || ftruncate(fd, end) < 0) {
        error_setg_errno(errp, errno, "failed to extend the dump");
        return false;
    }
    return true;
}

void create_win_dump(DumpState *s, Error **errp)
{
    ERRP_GUARD();
    QemuGuest qg = { 0 };
    WinDumpGuest g = { .ops = &guest_ops, .opaque = &qg };
    MachineState *ms = MACHINE(qdev_get_machine());
    WinDumpRange hotplug;
    WinDumpOptions opts = {
        .system_time = g_get_real_time() * 10 + FILETIME_UNIX_EPOCH,
        .kernel_only = s->win_dmp_kernel,
    };
    g_autofree WinDumpCpu *cpus = NULL;
    WinDumpSink sink = { .write = write_fd, .opaque = s };
    WinDump wd;
    CPUState *cs;
    unsigned i = 0;
    off_t start;
    bool ok;

    if (!s->guest_note) {
        /* dump_init() warned why, or the guest withdrew it meanwhile */
        error_setg(errp, "win-dmp: the guest's vmcoreinfo note could not be"
                   " read when the dump started");
        return;
    }

    guest_ram_init(&qg, s);
    g.ram = (WinDumpRange *)qg.ram->data;
    g.nr_ram = qg.ram->len;
    if (ms->device_memory) {
        /* DIMMs and virtio-mem: plugged after the header, maybe */
        hotplug.start = ms->device_memory->base;
        hotplug.end = hotplug.start +
                      memory_region_size(&ms->device_memory->mr);
        g.hotplug = &hotplug;
        g.nr_hotplug = 1;
    }

    CPU_FOREACH(cs) {
        i++;
    }
    cpus = g_new(WinDumpCpu, i);
    g.nr_cpus = i;
    g.cpus = cpus;
    i = 0;
    CPU_FOREACH(cs) {
        cpu_state(&cpus[i++], cs);
    }

    if (!windmp_prepare(&wd, &g, s->guest_note, s->guest_note_size, &opts,
                        errp)) {
        error_prepend(errp, "win-dmp: ");
        goto out;
    }
    s->total_size = wd.total_size;
    /* a guest that is not running is dumped as it is */
    if (s->live && s->resume && !live_start(s, &qg, &wd, errp)) {
        windmp_cleanup(&wd);
        goto out;
    }
    start = fd_start(s->fd);
    sink.skip = windmp_fd_can_skip(s->fd) ? skip_fd : NULL;
    ok = windmp_write(&wd, &g, &sink, errp) &&
         (!sink.skip || fd_finish(s->fd, errp));
    if (qg.live) {
        dump_live_finish(qg.live);
    }
    if (!ok) {
        error_prepend(errp, "win-dmp: ");
        /*
         * Leave nothing behind that could pass for a complete dump, and
         * keep what the caller's file held before the dump started
         */
        if (start >= 0 && ftruncate(s->fd, start) < 0 && errno != EINVAL) {
            warn_report("win-dmp: could not truncate the incomplete dump: %s",
                        strerror(errno));
        }
    }
    windmp_cleanup(&wd);

out:
    g_array_free(qg.ram, true);
    g_array_free(qg.host, true);
}

#else /* !TARGET_X86_64 */

bool win_dump_available(Error **errp)
{
    error_setg(errp, "Windows dump is only available for x86-64");

    return false;
}

void create_win_dump(DumpState *s, Error **errp)
{
    win_dump_available(errp);
}

#endif
