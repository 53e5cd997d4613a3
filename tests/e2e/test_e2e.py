# SPDX-License-Identifier: GPL-2.0-or-later
"""
End-to-end tests of the patched QEMU's win-dmp: boot the windmp test guest
(x64 with 4- and 5-level paging, x86 PAE and non-PAE, -smp 2), dump it
through QMP (sync and detached with query-dump polling and DUMP_COMPLETED),
HMP "-w" and a pipe ("getfd" + "fd:"), and check every header field, each
CPU's CONTEXT against "info registers -a", the RAM pattern and that guest
RAM is unchanged. Also the capability reporting and the refusal of paging/filters.
"""
import os
import struct
import subprocess
import sys
import time

import pytest

import checks
import dmp
import qemu

# name: (guest, options, current CPU expected in the header); guest "64"
# is windmp-guest64.elf, "64-la57" its 5-level paging build (TCG: -cpu max;
# conftest.py adds it; under KVM it needs a host CPU with la57)
CONFIGS = {
    "x64": (64, "panic=1", 1),
    "x64-encoded-live": (64, "kdbg=encoded bugcheck=0", 0),
    "x64-kernelcr3": (64, "cr3=kernel panic=0 bugcheck=0x1E,0x1,0x2,0x3,0x4", 0),
    "la57": ("64-la57", "panic=1", 1),
    "la57-encoded-live": ("64-la57", "kdbg=encoded bugcheck=0", 0),
    "la57-kernelcr3": ("64-la57",
                       "cr3=kernel panic=0 bugcheck=0x1E,0x1,0x2,0x3,0x4", 0),
    "x86pae": (32, "pae=1 panic=1 bugcheck=0x50,0x80001000,0,0x80002000,7", 1),
    "x86": (32, "pae=0 kdbg=encoded", 0),
}

_booted = {}
HERE = os.path.dirname(os.path.abspath(__file__))


@pytest.fixture(scope="module")
def booted(vms, qemu_bin, guest_dir):
    """Boot each configuration once per module; return a getter."""
    def get(name):
        if name not in _booted or not _booted[name].alive():
            bits, append, _ = CONFIGS[name]
            elf = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
            if not os.path.isfile(elf):
                pytest.fail(f"test guest missing: {elf}", pytrace=False)
            _booted[name] = vms.start(qemu_bin, elf, append, name=name)
        return _booted[name]
    yield get
    _booted.clear()


def _check(vm, name, snap):
    _, append, cur = CONFIGS[name]
    checks.assert_ram_unchanged(snap["before"], snap["after"])
    d = dmp.Dump(snap["path"])
    errs = checks.check_dump(d, vm, append, regs=snap["regs"],
                             current_cpu=cur, t0=snap["t0"], t1=snap["t1"])
    assert not errs, "\n".join(errs)
    return d


@pytest.mark.parametrize("name", list(CONFIGS))
def test_qmp_dump(booted, workdir, name):
    """Sync QMP dump-guest-memory format=win-dmp: all fields, contexts,
    pattern, RAM unchanged; the VM stays stopped and resumes on cont."""
    vm = booted(name)
    snap = checks.snapshot_dump(vm, workdir, "qmp")
    d = _check(vm, name, snap)
    assert vm.cmd("query-status")["status"] == "paused"
    vm.cont()
    assert vm.cmd("query-status")["status"] == "running"
    # the header shows the current vCPU (pvpanic writer, else 0)
    assert d.header_context() == d.processors()[CONFIGS[name][2]][3]
    assert "win-dmp" not in vm.stderr(), vm.stderr()


@pytest.mark.parametrize("name", ["x64", "la57"])
def test_detached_dump(booted, workdir, name):
    """detach=true: query-dump goes active -> completed with sane progress,
    DUMP_COMPLETED carries the result, and the file is the same dump."""
    vm = booted(name)
    vm.qmp.events.clear()
    snap = checks.snapshot_dump(vm, workdir, "detach")
    polls, ev = snap["result"]
    _check(vm, name, snap)
    size = os.path.getsize(snap["path"])
    assert polls[-1]["status"] == "completed", polls
    assert polls[-1]["completed"] == polls[-1]["total"] == size, polls[-1]
    prev = 0
    for q in polls:
        assert q["status"] in ("active", "completed"), q
        assert prev <= q["completed"] <= q["total"], polls
        prev = q["completed"]
    assert "error" not in ev["data"], ev
    assert ev["data"]["result"]["status"] == "completed"
    assert ev["data"]["result"]["completed"] == size
    vm.cont()


@pytest.mark.parametrize("name", ["x64", "la57"])
def test_hmp_dump(booted, workdir, name):
    """HMP dump-guest-memory -w gives the same checked dump."""
    vm = booted(name)
    snap = checks.snapshot_dump(vm, workdir, "hmp")
    assert snap["result"].strip() == "", snap["result"]
    _check(vm, name, snap)
    vm.cont()


def test_hmp_dump_x86(booted, workdir):
    vm = booted("x86pae")
    snap = checks.snapshot_dump(vm, workdir, "hmp")
    assert snap["result"].strip() == "", snap["result"]
    _check(vm, "x86pae", snap)
    vm.cont()


def _mask_time(b, x64):
    o = 0xFA8 if x64 else 0xFC0
    return b[:o] + bytes(8) + b[o + 8:]


@pytest.mark.parametrize("name", ["x64", "la57", "x86"])
def test_pipe_equals_file(booted, workdir, name):
    """A dump to a pipe (getfd + fd:) has the same bytes as a file dump
    (apart from SystemTime, the time of each dump)."""
    vm = booted(name)
    vm.stop()
    path = os.path.join(str(workdir), "file.dmp")
    vm.dump(path)
    with open(path, "rb") as f:
        fbytes = f.read()
    pbytes = vm.dump_to_pipe()
    vm.cont()
    assert len(pbytes) == len(fbytes), (len(pbytes), len(fbytes))
    x64 = not name.startswith("x86")
    assert _mask_time(pbytes, x64) == _mask_time(fbytes, x64), \
        f"pipe and file dumps differ at {qemu.first_diff(pbytes, fbytes):#x}"
    d = dmp.Dump(pbytes)
    errs = checks.check_dump(d, vm, CONFIGS[name][1],
                             current_cpu=CONFIGS[name][2])
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("extra", [
    {"paging": True},
    {"begin": 0, "length": 0x100000},
    {"begin": 0x100000},
    {"length": 0x100000},
], ids=["paging", "begin+length", "begin", "length"])
@pytest.mark.parametrize("name", ["x64", "la57"])
def test_refuse_paging_and_filter(booted, workdir, extra, name):
    vm = booted(name)
    path = os.path.join(str(workdir), "refused.dmp")
    args = {"paging": False, "protocol": f"file:{path}", "format": "win-dmp"}
    args.update(extra)
    with pytest.raises(qemu.QMPError) as ei:
        vm.cmd("dump-guest-memory", args)
    assert "win-dmp" in ei.value.desc, ei.value.desc
    assert vm.alive()
    assert not os.path.exists(path) or os.path.getsize(path) == 0
    # and through HMP
    if extra == {"paging": True}:
        out = vm.hmp(f"dump-guest-memory -p -w {path}")
        assert "win-dmp" in out or "-w" in out, out


@pytest.mark.parametrize("bits", [64, "64-la57"], ids=["x64", "la57"])
def test_capability_before_ready(vms, qemu_bin, guest_dir, workdir, bits):
    """Before the guest publishes its header win-dmp is not offered and a
    dump says why; after READY it is offered; after a reset, not again."""
    guest = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
    vm = vms.start(qemu_bin, guest, "panic=1", ready=False,
                   extra_args=["-S"], name=f"before-ready-{bits}")
    caps = vm.cmd("query-dump-guest-memory-capability")["formats"]
    assert "win-dmp" not in caps, caps
    assert "elf" in caps
    path = os.path.join(str(workdir), "early.dmp")
    with pytest.raises(qemu.QMPError) as ei:
        vm.dump(path)
    msg = ei.value.desc.lower()
    assert "win-dmp" in msg and ("driver" in msg or "header" in msg
                                 or "vmcoreinfo" in msg), ei.value.desc
    assert not os.path.exists(path) or os.path.getsize(path) == 0
    vm.cont()
    vm.wait_ready()
    caps = vm.cmd("query-dump-guest-memory-capability")["formats"]
    assert "win-dmp" in caps, caps

    # a reset withdraws the header: a new boot has not published one yet
    vm.stop()
    vm.cmd("system_reset")
    caps = vm.cmd("query-dump-guest-memory-capability")["formats"]
    assert "win-dmp" not in caps, caps
    with pytest.raises(qemu.QMPError) as ei:
        vm.dump(path)
    assert "has not published" in ei.value.desc, ei.value.desc
    vm.kill()


@pytest.mark.parametrize("bits", [64, "64-la57"], ids=["x64", "la57"])
def test_no_vmcoreinfo_device(vms, qemu_bin, guest_dir, workdir, bits):
    """Without -device vmcoreinfo win-dmp is never offered and the error
    names the vmcoreinfo device."""
    guest = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
    vm = vms.start(qemu_bin, guest, "", ready=False, vmcoreinfo=False,
                   name=f"no-vmci-{bits}")
    with pytest.raises(qemu.GuestFailed, match="vmcoreinfo"):
        vm.wait_ready()
    caps = vm.cmd("query-dump-guest-memory-capability")["formats"]
    assert "win-dmp" not in caps, caps
    path = os.path.join(str(workdir), "novmci.dmp")
    with pytest.raises(qemu.QMPError) as ei:
        vm.dump(path)
    assert "vmcoreinfo" in ei.value.desc, ei.value.desc
    out = vm.hmp(f"dump-guest-memory -w {path}")
    assert "vmcoreinfo" in out, out
    assert vm.alive()
    vm.kill()


@pytest.mark.parametrize("name", ["x64-encoded-live", "la57-encoded-live"])
def test_dump_while_running(booted, workdir, name):
    """A dump of a running VM (QEMU stops it itself) is valid and the VM
    runs again afterwards; RAM is unchanged (the guest only halts)."""
    vm = booted(name)
    vm.cont() if vm.cmd("query-status")["status"] != "running" else None
    vm.stop()
    regs = vm.registers()
    before = vm.pmemsave(os.path.join(str(workdir), "r0"))
    vm.cont()
    path = os.path.join(str(workdir), "running.dmp")
    vm.dump(path)
    assert vm.cmd("query-status")["status"] == "running"
    vm.stop()
    after = vm.pmemsave(os.path.join(str(workdir), "r1"))
    vm.cont()
    checks.assert_ram_unchanged(before, after)
    d = dmp.Dump(path)
    errs = checks.check_dump(d, vm, CONFIGS[name][1],
                             regs=regs, current_cpu=0)
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("name", ["x64", "la57"])
def test_summary_cli(booted, workdir, name):
    """python3 tests/e2e/dmp.py FILE prints the summary (used by the main
    README)."""
    vm = booted(name)
    path = os.path.join(str(workdir), "s.dmp")
    vm.dump(path)
    p = subprocess.run([sys.executable, os.path.join(HERE, "dmp.py"), path],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    out = p.stdout
    assert "PAGEDU64" in out and "OwnerTag 'KDBG' through DTB: yes" in out
    assert "consistent" in out and "INCONSISTENT" not in out
    assert "cpu 1:" in out
    levels = 5 if name == "la57" else 4
    assert f"(paging lm{levels})" in out, out


HV_PARAMS = [0x9F, 3, 0xFFFF8A8000001000, 0x1234, 0xFFFF8A8000002000]


def _with_hv_crash(stream, cpu, params):
    """The migration stream with the Hyper-V crash MSRs (subsection
    cpu/msr_hyperv_crash) of vCPU cpu set to params."""
    b = bytearray(stream)
    # QEMU_VM_SECTION_FULL, section id, "cpu", instance id = vCPU index
    i = b.find(b"\x03cpu" + struct.pack(">I", cpu))
    assert i > 5 and b[i - 5] == 0x04, "no cpu section in the stream"
    footer = b.find(b"\x7e" + b[i - 4:i], i)     # QEMU_VM_SECTION_FOOTER
    assert footer > i, "no end of the cpu section"
    name = b"cpu/msr_hyperv_crash"
    b[footer:footer] = (bytes([0x05, len(name)]) + name + struct.pack(">I", 1)
                        + b"".join(struct.pack(">Q", p) for p in params))
    return bytes(b)


def _migrate_wait(vm):
    for _ in range(600):
        st = vm.cmd("query-migrate").get("status")
        if st in ("completed", "failed"):
            return st
        time.sleep(0.1)
    return "timeout"


@pytest.mark.parametrize("bugcheck", ["empty", "readable"])
@pytest.mark.parametrize("bits", [64, "64-la57"], ids=["x64", "la57"])
def test_hv_crash(qemu_bin, guest_dir, workdir, bugcheck, bits):
    """hv-crash: the vCPU that wrote the Hyper-V crash MSRs is the current
    one, and its bugcheck is used when KiBugcheckData is empty (a readable
    one wins).  A guest cannot write those MSRs here: TCG ignores them and
    this machine's KVM (PVM) raises #GP (the guest's hvcrash= option shows
    it).  QEMU keeps them in each vCPU's migration state, so the test
    migrates the stopped guest into a second QEMU with them set on vCPU 1
    (which reported the panic), and dumps there: what the adapter reads is
    QEMU's own crash state, as after KVM's crash exit.  TCG for both ends:
    the stream is the same under any accelerator."""
    elf = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
    append = "panic=1" + (" bugcheck=0" if bugcheck == "empty" else "")
    w = str(workdir)
    args = ["-cpu", "max,hv-crash" if bits != 64 else "qemu64,hv-crash"]
    src = qemu.VM(qemu_bin, elf, append, workdir=w, accel="tcg",
                  name="hv-src", extra_args=args)
    dst = None
    try:
        src.wait_ready()
        src.stop()
        mig = os.path.join(w, "mig")
        src.cmd("migrate", {"uri": f"file:{mig}"})
        assert _migrate_wait(src) == "completed"
        ready, serial = src.ready, src.serial()
        src.kill()
        with open(mig, "rb") as f:
            stream = _with_hv_crash(f.read(), 1, HV_PARAMS)
        with open(mig + ".hv", "wb") as f:
            f.write(stream)
        dst = qemu.VM(qemu_bin, elf, append, workdir=w, accel="tcg",
                      name="hv-dst", extra_args=args + ["-incoming", "defer"])
        dst.cmd("migrate-incoming", {"uri": f"file:{mig}.hv"})
        assert _migrate_wait(dst) == "completed", dst.stderr()
        # the guest's READY line and runs are in the source's serial log
        dst.ready = ready
        dst.serial = lambda: serial
        regs = dst.registers()
        mark = dst.stderr_mark()
        path = os.path.join(w, "hv.dmp")
        dst.dump(path)
        warnings = dst.stderr()[mark:]
        d = dmp.Dump(path)
        if bugcheck == "empty":
            assert ("KiBugcheckData is empty; the bugcheck is from the Hyper-V"
                    " crash MSRs of vCPU 1") in warnings, warnings
            assert d["BugCheckCode"] == HV_PARAMS[0]
            assert d["BugCheckParameters"] == HV_PARAMS[1:]
        else:
            assert "win-dmp" not in warnings, warnings
            errs = checks.check_dump(d, dst, append, regs=regs,
                                     current_cpu=1)
            assert not errs, "\n".join(errs)
        # the header's context: the vCPU that wrote the MSRs
        assert d.header_context() == d.processors()[1][3]
        errs = checks.check_context_regs(d.header_context(), regs[1], True,
                                         label="header ContextRecord")
        assert not errs, "\n".join(errs)
    finally:
        src.kill()
        if dst:
            dst.kill()
