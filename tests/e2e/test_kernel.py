# SPDX-License-Identifier: GPL-2.0-or-later
"""
Kernel memory dumps (win-dmp-kernel, HMP -w -k, windmp convert --kernel),
complete bitmap dumps for more runs than the header holds, and memory
hot-plugged after the guest published its header.

The guest runs with kmap=16 user=8: its kernel direct map covers only the
first 16 MiB of RAM, 8 MiB above that are mapped only in the user half of
the address space, and a few scattered pages higher up are mapped only
through 4 KiB kernel pages (kextra).  A kernel memory dump must hold
exactly the kernel-mapped RAM (the page tables are in the low 4 MiB), none
of the user pages, and what WinDbg needs to bootstrap (the KDBG, every
KPRCB and context, read through the dump's own DirectoryTableBase).
"""
import os
import subprocess

import pytest

import checks
import dmp
import qemu

# name: (guest, options)
CONFIGS = {
    "x64": (64, "kmap=16 user=8 panic=1"),
    "la57": ("64-la57", "kmap=16 user=8 kdbg=encoded"),
    "x86pae": (32, "pae=1 kmap=16 user=8"),
    "x86": (32, "pae=0 kmap=16 user=8 kdbg=encoded"),
}
PAGE = 4096
_booted = {}


@pytest.fixture(scope="module")
def booted(vms, qemu_bin, guest_dir):
    def get(name):
        if name not in _booted or not _booted[name].alive():
            bits, append = CONFIGS[name]
            elf = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
            if not os.path.isfile(elf):
                pytest.fail(f"test guest missing: {elf}", pytrace=False)
            _booted[name] = vms.start(qemu_bin, elf, append,
                                      name=f"kernel-{name}")
        return _booted[name]
    yield get
    _booted.clear()


def kernel_dump(vm, path, how="qmp"):
    if how == "qmp":
        vm.cmd("dump-guest-memory", {"paging": False, "format": "win-dmp",
                                     "win-dmp-kernel": True,
                                     "protocol": "file:" + path},
               timeout=qemu.DUMP_TIMEOUT)
        return ""
    return vm.hmp(f"dump-guest-memory -w -k {path}",
                  timeout=qemu.DUMP_TIMEOUT)


def mask_time(b, x64):
    o = 0xFA8 if x64 else 0xFC0
    return b[:o] + bytes(8) + b[o + 8:]


def expected_pfns(vm, ram_pfns):
    """The kernel-mapped RAM: below kmap_end, and the kextra pages."""
    r = vm.ready
    kmap_end = int(r["kmap_end"], 0)
    kextra = {int(x, 0) >> 12 for x in r["kextra"].split(",")}
    return {p for p in ram_pfns if p * PAGE < kmap_end or p in kextra}


def user_pfns(vm):
    start, end = (int(x, 0) for x in vm.ready["user"].split(","))
    return set(range(start >> 12, end >> 12))


def check_bitmap(d, signature):
    """The bitmap header as kdmp-parser, volatility3 and rizin need it."""
    b = d.bitmap
    assert d["DumpType"] == 5, d["DumpType"]
    assert b is not None
    assert b["Signature"] == signature, b
    assert b["BitmapSize"] % 32 == 0, b
    assert b["FirstPage"] % PAGE == 0, b
    assert b["FirstPage"] >= b["offset"] + b["BitmapSize"] // 8, b
    n = d.pages()
    assert b["TotalPresentPages"] == n, (b, n)
    assert d["RequiredDumpSpace"] == b["FirstPage"] + n * PAGE
    assert len(d.data) == d["RequiredDumpSpace"]
    # nothing but zeros between the bitmap and the first page
    tail = d.data[b["offset"] + b["BitmapSize"] // 8:b["FirstPage"]]
    assert tail == bytes(len(tail))
    return {p for base, count, _ in d.runs for p in range(base, base + count)}


@pytest.mark.parametrize("name", list(CONFIGS))
def test_kernel_dump(booted, workdir, name):
    """The pages of a kernel memory dump are exactly the kernel-mapped RAM,
    each with the guest's bytes; the header, KDBG, contexts and bugcheck
    pass the same checks as a complete dump; guest RAM is unchanged."""
    vm = booted(name)
    _, append = CONFIGS[name]
    vm.stop()
    try:
        regs = vm.registers()
        before = vm.pmemsave(os.path.join(str(workdir), "before.ram"))
        path = os.path.join(str(workdir), "kernel.dmp")
        kernel_dump(vm, path)
        full = os.path.join(str(workdir), "full.dmp")
        vm.dump(full)
        after = vm.pmemsave(os.path.join(str(workdir), "after.ram"))
    finally:
        vm.cont()
    checks.assert_ram_unchanged(before, after)
    d = dmp.Dump(path)
    f = dmp.Dump(full)
    cur = 1 if "panic=1" in append else 0
    errs = checks.check_dump(d, vm, append, regs=regs, current_cpu=cur,
                             full=False, dump_type=5)
    assert not errs, "\n".join(errs)

    got = check_bitmap(d, "SDMP")
    assert d.bitmap["DumpOptions"] == 1
    # above 1 MiB the guest's runs (the complete dump's) are all of RAM;
    # below it QEMU has RAM that Windows leaves out of its runs
    runs = set(f.pfns())
    want = {p for p in expected_pfns(vm, runs) if p >= 0x100}
    got_hi = {p for p in got if p >= 0x100}
    assert not got_hi - want, \
        f"pages the kernel does not map: {[hex(p) for p in sorted(got_hi - want)[:8]]}"
    assert not want - got_hi, \
        f"kernel pages missing: {[hex(p) for p in sorted(want - got_hi)[:8]]}"
    kmap_end = int(vm.ready["kmap_end"], 0)
    assert all(p * PAGE < kmap_end for p in got if p < 0x100)
    user = user_pfns(vm)
    assert user and not (got & user), "user-only pages in the dump"
    # every page holds what the guest had there (the complete dump has
    # the same bytes, the contexts included)
    n = 0
    for pfn in sorted(got & runs):
        assert d.page(pfn) == f.page(pfn), f"PFN {pfn:#x} differs"
        n += 1
    assert n > 16 * 256 // 2, n
    # the kextra pages are pattern pages, outside the direct map
    zero = checks.zero_rule(append)
    for x in vm.ready["kextra"].split(","):
        pfn = int(x, 0) >> 12
        assert d.page(pfn) == checks.expected_page(pfn, zero)
    assert len(d.data) < len(f.data) // 3, (len(d.data), len(f.data))


@pytest.mark.parametrize("name", ["x64", "x86pae"])
def test_kernel_hmp_pipe_convert(booted, workdir, windmp_tool, name):
    """HMP -w -k, a pipe, and windmp convert --kernel of an ELF core of the
    same stopped guest all give the QMP file (SystemTime aside)."""
    vm = booted(name)
    x64 = vm.ready["arch"] == "x64"
    vm.stop()
    try:
        qmp_path = os.path.join(str(workdir), "qmp.dmp")
        hmp_path = os.path.join(str(workdir), "hmp.dmp")
        elf = os.path.join(str(workdir), "core.elf")
        kernel_dump(vm, qmp_path)
        out = kernel_dump(vm, hmp_path, "hmp")
        assert not out.strip(), out
        piped = vm.dump_to_pipe(extra={"win-dmp-kernel": True})
        vm.dump(elf, fmt="elf")
    finally:
        vm.cont()
    a = open(qmp_path, "rb").read()
    assert mask_time(open(hmp_path, "rb").read(), x64) == mask_time(a, x64)
    assert mask_time(piped, x64) == mask_time(a, x64)
    conv = os.path.join(str(workdir), "conv.dmp")
    # an ELF core does not say which vCPU crashed: the user does
    cpu = "1" if "panic=1" in CONFIGS[name][1] else "0"
    p = subprocess.run([windmp_tool, "convert", "--kernel", "--cpu", cpu,
                        elf, conv], capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert mask_time(open(conv, "rb").read(), x64) == mask_time(a, x64)
    p = subprocess.run([windmp_tool, "verify", qmp_path, "--against", elf],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    p = subprocess.run([windmp_tool, "info", qmp_path],
                       capture_output=True, text=True)
    assert p.returncode == 0 and "SDMP (kernel memory)" in p.stdout, p.stdout


def test_kernel_refused_with_other_formats(booted, workdir):
    vm = booted("x64")
    path = os.path.join(str(workdir), "x.elf")
    with pytest.raises(qemu.QMPError) as e:
        vm.cmd("dump-guest-memory", {"paging": False, "format": "elf",
                                     "win-dmp-kernel": True,
                                     "protocol": "file:" + path})
    assert "only valid with format win-dmp" in str(e.value)
    out = vm.hmp(f"dump-guest-memory -k {path}")
    assert "only valid with format win-dmp" in out
    assert not os.path.exists(path) or os.path.getsize(path) == 0


@pytest.mark.parametrize("bits", [64, 32])
def test_more_runs_than_fit(vms, qemu_bin, guest_dir, workdir, bits):
    """The guest's header says it has more memory runs than fit: the dump
    holds every page of guest RAM behind an FDMP bitmap, with a warning,
    and the runs describe guest RAM."""
    n = 60 if bits == 64 else 100
    append = f"runs={n}" + (" pae=1" if bits == 32 else "")
    vm = vms.start(qemu_bin, os.path.join(guest_dir,
                                          f"windmp-guest{bits}.elf"),
                   append, name=f"runs{bits}")
    vm.stop()
    path = os.path.join(str(workdir), "fdmp.dmp")
    mark = vm.stderr_mark()
    vm.dump(path)
    assert "more than the" in vm.stderr()[mark:], vm.stderr()[mark:]
    d = dmp.Dump(path)
    got = check_bitmap(d, "FDMP")
    errs = checks.check_dump(d, vm, append, full=False, dump_type=5)
    errs = [e for e in errs if not e.startswith("runs ")]
    assert not errs, "\n".join(errs)
    # every page of the guest's runs (all of its RAM above 1 MiB), each
    # pattern page with its pattern; the RAM that the firmware keeps for
    # itself is there too
    runs = {p for b, c in checks.guest_runs(vm) for p in range(b, b + c)}
    assert runs and runs <= got, sorted(runs - got)[:8]
    zero = checks.zero_rule(append)
    bad = [p for p in sorted(runs) if p >= checks.PATTERN_FROM and
           d.page(p) != checks.expected_page(p, zero)]
    assert not bad, [hex(p) for p in bad[:8]]
    assert d["NumberOfRuns"] <= (42 if bits == 64 else 86)
    assert d["NumberOfPages"] == len(got)
    vm.kill()


def test_hotplugged_dimm(vms, qemu_bin, guest_dir, workdir):
    """A DIMM plugged after the guest published its header is in the dump:
    one more run, with the DIMM's bytes, and a warning that says so."""
    vm = vms.start(qemu_bin, os.path.join(guest_dir, "windmp-guest64.elf"),
                   "", name="dimm",
                   extra_args=["-m", "128M,slots=2,maxmem=1G"])
    runs0 = checks.guest_runs(vm)
    vm.cmd("object-add", {"qom-type": "memory-backend-ram", "id": "mem1",
                          "size": 64 << 20})
    vm.cmd("device_add", {"driver": "pc-dimm", "id": "dimm1",
                          "memdev": "mem1"})
    dimm = vm.cmd("query-memory-devices")[0]["data"]
    base, size = dimm["addr"], dimm["size"]
    vm.stop()
    path = os.path.join(str(workdir), "dimm.dmp")
    mark = vm.stderr_mark()
    vm.dump(path)
    ram = os.path.join(str(workdir), "dimm.ram")
    vm.cmd("pmemsave", {"val": base, "size": size, "filename": ram})
    assert "hot-plugged" in vm.stderr()[mark:], vm.stderr()[mark:]
    d = dmp.Dump(path)
    runs = [(b, c) for b, c, _ in d.runs]
    assert runs == runs0 + [(base >> 12, size >> 12)], runs
    assert d["NumberOfPages"] == d.pages()
    assert len(d.data) == d["RequiredDumpSpace"] == 0x2000 + d.pages() * PAGE
    assert d.read_pa(base, size) == open(ram, "rb").read()
    assert d.kdbg_ok()
    vm.kill()
