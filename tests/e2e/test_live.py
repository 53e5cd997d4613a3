# SPDX-License-Identifier: GPL-2.0-or-later
"""
Live win-dmp dumps (dump-guest-memory "live": true, HMP -w -L): the guest
keeps running while the file is written, and the file holds guest RAM as
it was at the pause when the dump started.

The test guest's busy=CPU,BASE,SIZE option makes one vCPU stamp the pages
of [BASE, BASE + SIZE) in turn with an ever-growing counter (v is written
512 times to page (v - 1) % N); its registers (RBX = v, R12 = the region,
R13 = N) say exactly which stamp each page holds at any instant.  So the
dump's context of that vCPU, captured at the pause, predicts every page
of the region in the dump: a page newer than the pause, a torn page or a
context from another instant shows as a mismatch.  The output is held
(a pipe that the test stops reading) so that the guest demonstrably runs
and rewrites the region while the dump is being written.
"""
import os
import re
import subprocess
import time

import pytest

import checks
import dmp
import qemu
from test_faults import PipeReader, small_tmpfs

MiB = 1 << 20
BUSY_CPU = 1
BUSY_BASE = 16 * MiB
CTR_PA = 0x305400               # the guest stores v + 1 there
KVA_DIRECT = 0xFFFFF80000000000
MEM_MB = 128                    # the copy budget is its minimum, 16 MiB
BUDGET = 16 * MiB
FINISH_RE = re.compile(r"(\d+) pages copied before the dump reached them,"
                       r" at most (\d+) bytes of copies at once; (\d+) guest"
                       r" writes waited")


def busy_append(size, extra="kdbg=encoded"):
    return f"{extra} busy={BUSY_CPU},{BUSY_BASE:#x},{size:#x}"


def start(vms, qemu_bin, guest64, size, **kw):
    kw.setdefault("mem_mb", MEM_MB)
    extra = list(kw.pop("extra_args", ())) + ["-trace", "dump_live_*"]
    vm = vms.start(qemu_bin, guest64, busy_append(size), extra_args=extra,
                   **kw)
    wait_counting(vm)
    return vm


def counter(vm):
    return int(vm.hmp(f"xp /1gx {CTR_PA:#x}").split()[-1], 16)


def wait_counting(vm, timeout=30):
    """The busy vCPU runs: its counter moves."""
    c0 = counter(vm)
    deadline = time.monotonic() + timeout
    while counter(vm) == c0:
        assert time.monotonic() < deadline, "the guest's counter does not move"
        time.sleep(0.02)


def uffds(vm):
    """The userfaultfds QEMU holds open."""
    d = f"/proc/{vm.proc.pid}/fd"
    n = []
    for fd in os.listdir(d):
        try:
            link = os.readlink(f"{d}/{fd}")
        except OSError:
            continue
        if link == "anon_inode:[userfaultfd]":
            n.append(fd)
    return len(n)


def live_stats(vm):
    """(pages copied, peak bytes of copies, stalled writes) of the last
    live dump, from the dump_live_finish trace event."""
    m = FINISH_RE.findall(vm.stderr())
    assert m, "no dump_live_finish trace event in QEMU's stderr"
    return tuple(int(x) for x in m[-1])


def check_busy(d, size, append):
    """Every page of the busy region against the busy vCPU's context in
    the dump.  Returns v, the stamp being written at the pause."""
    procs = d.processors()
    ctx = dmp.decode_context(procs[BUSY_CPU][3], True)
    n = size // 4096
    assert ctx["R12"] == KVA_DIRECT + BUSY_BASE and ctx["R13"] == n, (
        f"CPU {BUSY_CPU}'s context is not the busy loop's: R12"
        f" {ctx['R12']:#x} R13 {ctx['R13']:#x}")
    v = ctx["Rbx"]
    assert v >= 1
    zero = checks.zero_rule(append)
    cur = (v - 1) % n
    bad = []
    for p in range(n):
        pfn = (BUSY_BASE >> 12) + p
        page = d.page(pfn)
        # the last stamp of page p that was complete at the pause
        last = p + 1 + n * ((v - 2 - p) // n) if v - 1 >= p + 1 else None
        old = (checks.expected_page(pfn, zero) if last is None else
               last.to_bytes(8, "little") * 512)
        if p == cur:
            # v is being written: a prefix of v, then what was there
            k = 0
            stamp = v.to_bytes(8, "little")
            while k < 512 and page[8 * k:8 * k + 8] == stamp:
                k += 1
            ok = page[8 * k:] == old[8 * k:]
        else:
            ok = page == old
        if not ok:
            bad.append(p)
    assert not bad, (
        f"{len(bad)} of {n} pages of the busy region are not what the"
        f" context at the pause (v = {v}) says, first {bad[:8]}: e.g. page"
        f" {bad[0]} holds {d.page((BUSY_BASE >> 12) + bad[0])[:8].hex()}")
    ctr = d.pa_u64(CTR_PA)
    assert ctr in (v - 1, v), f"the counter in the dump {ctr}, v {v}"
    return v


def check_live_dump(d, vm, size, dump_type=1):
    append = vm.append
    errs = checks.check_dump(d, vm, append, full=False, dump_type=dump_type)
    assert not errs, "\n".join(errs)
    v = check_busy(d, size, append)
    lo = BUSY_BASE >> 12
    checks.check_pattern(d, checks.zero_rule(append),
                         exclude=(lo, lo + size // 4096))
    return v


def events(vm, *names):
    return [e for e in vm.qmp.events if e["event"] in names]


def ts(e):
    return e["timestamp"]["seconds"] + e["timestamp"]["microseconds"] / 1e6


def held_live_dump(vm, extra=None):
    """A live dump into a pipe that stops being read after 1 MiB; returns
    (reader, counter while held, counter a little later)."""
    reader = PipeReader(pause_after=MiB)
    try:
        vm.cmd("getfd", {"fdname": "live"}, fds=[reader.w])
    finally:
        reader.close_write()
    vm.cmd("dump-guest-memory", {"paging": False, "protocol": "fd:live",
                                 "format": "win-dmp", "detach": True,
                                 "live": True, **(extra or {})})
    assert reader.paused.wait(60), "the live dump wrote nothing"
    assert vm.cmd("query-dump")["status"] == "active"
    assert checks_status(vm) == "running", "the VM is not running during" \
        " the live dump"
    a = counter(vm)
    time.sleep(0.5)
    b = counter(vm)
    return reader, a, b


def checks_status(vm):
    return vm.cmd("query-status")["status"]


def finish(vm, reader):
    reader.resume()
    ev = vm.qmp.wait_event("DUMP_COMPLETED", timeout=qemu.DUMP_TIMEOUT)
    reader.join()
    assert "error" not in ev["data"], ev
    assert ev["data"]["result"]["status"] == "completed"
    return ev


def test_live_dump_is_the_pause_instant(vms, qemu_bin, guest64):
    """The guest rewrites an 8 MiB region while the dump waits for its
    reader; the dump holds the region exactly as at the pause."""
    size = 8 * MiB
    vm = start(vms, qemu_bin, guest64, size)
    halted = vm.registers()[0]      # vCPU 0 halts: its registers stay
    vm.qmp.events.clear()
    reader, a, b = held_live_dump(vm)
    assert b > a, "the guest did not run while the live dump was written"
    ev = finish(vm, reader)
    d = dmp.Dump(bytes(reader.data))
    v = check_live_dump(d, vm, size)
    assert a > v, (f"the counter read during the dump ({a}) is not past"
                   f" the pause ({v})")
    errs = checks.check_context_regs(d.processors()[0][3], halted, True,
                                     label="cpu 0")
    assert not errs, "\n".join(errs)
    # paused once, before the dump, resumed before it completed
    stop, resume = events(vm, "STOP"), events(vm, "RESUME")
    assert len(stop) == 1 and len(resume) == 1, vm.qmp.events
    assert ts(stop[0]) <= ts(resume[0]) < ts(ev)
    copied, peak, stalls = live_stats(vm)
    # every page of the region that the guest wrote while the dump was
    # held (before it got there) was copied first, once
    assert copied >= min(size // 4096, b - v), (copied, b - v)
    assert 0 < peak <= BUDGET and stalls == 0, (copied, peak, stalls)
    assert uffds(vm) == 0
    assert counter(vm) > b


def test_live_dump_copy_budget(vms, qemu_bin, guest64):
    """A guest that writes more than the copy budget waits for the dump
    (its counter stops), QEMU's copies stay within the budget, and the
    file is still the pause instant."""
    size = 64 * MiB
    vm = start(vms, qemu_bin, guest64, size)
    reader, a, b = held_live_dump(vm)
    deadline = time.monotonic() + 60
    while True:
        a = counter(vm)
        time.sleep(0.5)
        if counter(vm) == a:
            break
        assert time.monotonic() < deadline, \
            "the guest never waited for the copy budget"
    finish(vm, reader)
    d = dmp.Dump(bytes(reader.data))
    check_live_dump(d, vm, size)
    copied, peak, stalls = live_stats(vm)
    assert stalls > 0 and peak == BUDGET, (copied, peak, stalls)
    wait_counting(vm)


def test_live_kernel_dump_hmp(vms, qemu_bin, guest64, tmp_path):
    """HMP -w -k -L: a live kernel memory dump, the command returns at
    once (-L implies -d), the busy region is in it as at the pause."""
    size = 8 * MiB
    vm = start(vms, qemu_bin, guest64, size)
    path = tmp_path / "live-kernel.dmp"
    out = vm.hmp(f"dump-guest-memory -w -k -L {path}")
    assert out.strip() == "", out
    ev = vm.qmp.wait_event("DUMP_COMPLETED", timeout=qemu.DUMP_TIMEOUT)
    assert "error" not in ev["data"], ev
    d = dmp.Dump(str(path))
    check_live_dump(d, vm, size, dump_type=5)
    assert checks_status(vm) == "running"


def test_live_dump_of_a_paused_guest(vms, qemu_bin, guest64, tmp_path):
    """A paused guest is dumped as it is and stays paused."""
    size = 8 * MiB
    vm = start(vms, qemu_bin, guest64, size)
    vm.cmd("stop")
    vm.qmp.events.clear()
    c = counter(vm)
    path = tmp_path / "paused.dmp"
    _, ev = vm.dump(str(path), detach=True, extra={"live": True})
    assert "error" not in ev["data"], ev
    assert checks_status(vm) == "paused" and not events(vm, "RESUME")
    d = dmp.Dump(str(path))
    v = check_live_dump(d, vm, size)
    assert c in (v - 1, v) and counter(vm) == c
    vm.cmd("cont")
    wait_counting(vm)


def test_live_refusals(vms, qemu_bin, guest64, tmp_path):
    """live needs win-dmp and detach; what the capability says."""
    vm = start(vms, qemu_bin, guest64, 4 * MiB)
    cap = vm.cmd("query-dump-guest-memory-capability")
    assert "win-dmp" in cap["formats"] and cap["live-formats"] == ["win-dmp"]
    base = {"paging": False, "protocol": f"file:{tmp_path}/x.dmp",
            "live": True}
    for extra, msg in (({"format": "win-dmp"}, "needs detach"),
                       ({"format": "elf", "detach": True},
                        "only valid with format win-dmp"),
                       ({"detach": True}, "only valid with format win-dmp")):
        with pytest.raises(qemu.QMPError) as e:
            vm.cmd("dump-guest-memory", {**base, **extra})
        assert msg in e.value.desc
    assert checks_status(vm) == "running" and uffds(vm) == 0
    assert not os.path.exists(f"{tmp_path}/x.dmp")


def disk_dir(tmp_path):
    """A directory on a disk file system (not tmpfs, whose memory
    userfaultfd can protect) for a file-backed guest RAM."""
    fs = subprocess.run(["stat", "-f", "-c", "%T", str(tmp_path)],
                        capture_output=True, text=True).stdout.strip()
    if fs != "tmpfs":
        return tmp_path
    d = os.path.join(os.path.dirname(__file__), "..", "..", "build",
                     "live-test")
    os.makedirs(d, exist_ok=True)
    return d


def test_live_refused_for_file_backed_ram(vms, qemu_bin, guest64, tmp_path):
    """RAM in a file on a disk file system cannot be write-protected:
    the capability says so, a live dump is refused with why and what
    works, and the ordinary dump works."""
    ram = os.path.join(disk_dir(tmp_path), "guest-ram")
    try:
        vm = vms.start(qemu_bin, guest64, busy_append(4 * MiB),
                       mem_mb=MEM_MB, extra_args=[
                           "-object", f"memory-backend-file,id=ram0,size="
                           f"{MEM_MB}M,mem-path={ram},share=on",
                           "-machine", "memory-backend=ram0"])
        wait_counting(vm)
        cap = vm.cmd("query-dump-guest-memory-capability")
        assert "win-dmp" in cap["formats"] and cap["live-formats"] == []
        with pytest.raises(qemu.QMPError) as e:
            vm.dump(str(tmp_path / "live.dmp"), detach=True,
                    extra={"live": True})
        assert "cannot take a live dump" in e.value.desc
        assert "userfaultfd" in e.value.desc and "ram0" in e.value.desc
        assert "a dump without live still works" in e.value.desc
        assert checks_status(vm) == "running" and uffds(vm) == 0
        _, ev = vm.dump(str(tmp_path / "plain.dmp"), detach=True)
        assert "error" not in ev["data"], ev
        wait_counting(vm)
    finally:
        if os.path.exists(ram):
            os.unlink(ram)


def test_live_dump_failure_leaves_guest_running(vms, qemu_bin, guest64,
                                                tmp_path):
    """A live dump that fails (the file system fills up) leaves the guest
    running with its memory unprotected, and nothing that passes for a
    dump; the next live dump works."""
    size = 8 * MiB
    vm = start(vms, qemu_bin, guest64, size)
    with small_tmpfs(tmp_path / "full", 8 * MiB) as full:
        path = os.path.join(full, "live.dmp")
        _, ev = vm.dump(path, detach=True, extra={"live": True})
        assert "No space left" in ev["data"].get("error", ""), ev
        assert os.path.getsize(path) == 0
    assert checks_status(vm) == "running" and uffds(vm) == 0
    wait_counting(vm)
    good = tmp_path / "good.dmp"
    _, ev = vm.dump(str(good), detach=True, extra={"live": True})
    assert "error" not in ev["data"], ev
    check_live_dump(dmp.Dump(str(good)), vm, size)
    assert uffds(vm) == 0
