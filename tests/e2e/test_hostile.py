# SPDX-License-Identifier: GPL-2.0-or-later
"""
Hostile-guest tests of the patched QEMU's win-dmp: for each class of
failure measured on stock win-dmp (/work/shared/reference/upstream.md,
"Measured: what a hostile guest does to stock win-dmp"), boot the test
guest with the poke knobs that trigger it, dump, and check that QEMU
survives (alive, answers query-status), that it either refuses with a clear
error and leaves no file that looks valid, or writes a dump that passes the
structural checks with a warning on stderr, and that guest RAM is unchanged.
The cases are one data table: name, guest bits, options, expected outcome.
"""
import os

import pytest

import checks
import dmp
import qemu

REFUSE, WARN = "refuse", "warn"
# more runs than the header holds: every page of RAM behind an FDMP bitmap
FDMP = "fdmp"
ALL = "all"       # every processor gets its context

# x64 header offsets (the guest's poke target "hdr" is the dump header)
RUN0, RUN1 = 0x98, 0xA8          # Run[i].BasePage; PageCount at +8
PRCB_CTX = 0x6D0                  # KPRCB.Context offset in the guest

# (name, bits, guest options, outcome, message substring,
#  processors whose context must be in the dump, for WARN)
CASES = [
    # --- runs: count, range, order
    ("runs-43", 64, "poke=hdr+88:4=2b", FDMP, "more than the 42", ALL),
    ("runs-ffffffff", 64, "poke=hdr+88:4=ffffffff", FDMP, "more than the 42",
     ALL),
    ("runs-0", 64, "poke=hdr+88:4=0", REFUSE, "memory runs", None),
    ("run-beyond-ram", 64, f"poke=hdr+{RUN1 + 8:x}:8=100000", REFUSE,
     "not all guest RAM", None),
    ("run-pci-hole-rom", 64, f"poke=hdr+{RUN1:x}:8=fffc0 poke=hdr+{RUN1 + 8:x}:8=40",
     REFUSE, "not all guest RAM", None),
    ("run-on-lapic", 64, f"poke=hdr+{RUN1:x}:8=fee00 poke=hdr+{RUN1 + 8:x}:8=1",
     REFUSE, "not all guest RAM", None),
    # PFN 1..0xFF: covers 0xA0000-0xFFFFF, where the shadowed BIOS and
    # option ROMs are read-only (PAM "rom" views of pc.ram)
    ("run-on-bios-shadow", 64,
     f"poke=hdr+{RUN0 + 8:x}:8=ff poke=hdr+90:8=7fdf", REFUSE,
     "not all guest RAM", None),
    ("runs-overlap", 64, f"poke=hdr+{RUN1:x}:8=50", REFUSE, "overlaps", None),
    ("runs-unsorted", 64,
     f"poke=hdr+{RUN0:x}:8=100 poke=hdr+{RUN0 + 8:x}:8=7ee0"
     f" poke=hdr+{RUN1:x}:8=1 poke=hdr+{RUN1 + 8:x}:8=9e",
     REFUSE, "sorted", None),
    ("run-base-wraps", 64, f"poke=hdr+{RUN1:x}:8=10000000000000", REFUSE,
     "not a valid page range", None),
    ("run-count-wraps", 64, f"poke=hdr+{RUN1 + 8:x}:8=fffffffffffff00", REFUSE,
     "not a valid page range", None),
    ("numberofpages-inconsistent", 64, "poke=hdr+90:8=1", WARN,
     "header claims", ALL),
    ("numberofpages-huge", 64, "poke=hdr+90:8=ffffffffffffffff", WARN,
     "header claims", ALL),
    ("requireddumpspace-garbage", 64, "poke=hdr+fa0:8=1234", None, None, ALL),
    # --- processors
    ("nproc-0", 64, "poke=hdr+34:4=0", REFUSE, "processors", None),
    ("nproc-64", 64, "poke=hdr+34:4=40", REFUSE, "processors", None),
    ("nproc-ffffffff", 64, "poke=hdr+34:4=ffffffff", REFUSE, "processors", None),
    ("nproc-1-of-2", 64, "poke=hdr+34:4=1", WARN, "Windows uses 1", {0}),
    # --- note / header size
    ("descsz-4096-du64", 64, "descsz=4096", REFUSE, "note", None),
    ("note-size-x86-du64", 64, "note_size=4120", REFUSE, "note", None),
    ("note-size-small", 64, "note_size=100", REFUSE, "note", None),
    ("note-size-1m", 64, "note_size=0x100000", REFUSE, "note", None),
    ("descsz-8192-dump", 32, "descsz=8192", REFUSE, "note", None),
    ("bad-signature", 64, "poke=hdr+0:4=41414141", REFUSE, "PAGE", None),
    ("du64-as-dump", 64, "poke=hdr+4:4=504d5544", REFUSE, "DU64", None),
    # --- KDBG
    ("kdbg-garbage", 64, "poke=hdr+80:8=fffff80012345000", REFUSE, "KDBG", None),
    ("kdbg-noncanonical", 64, "poke=hdr+80:8=8000123456789000", REFUSE,
     "KDBG", None),
    ("kdbg-tag-bad", 64, "poke=kdbg+10:4=0", REFUSE, "KDBG", None),
    ("kdbg-encoded-bad-fallback", 64, "kdbg=encoded poke=hdr+40:8=fffff80012345000",
     REFUSE, "KDBG", None),
    ("kdbg-size-small", 64, "poke=kdbg+14:4=40", REFUSE, "Size", None),
    ("bugcheckdata-garbage", 64, "poke=kdbg+88:8=fffff80012345000", WARN,
     "KiBugcheckData", ALL),
    # --- contexts
    ("ctx-at-lapic", 64, f"poke=prcb0+{PRCB_CTX:x}:8=lapic", WARN,
     "processor 0 gets no context", {1}),
    ("ctx-at-pml4", 64, f"poke=prcb0+{PRCB_CTX:x}:8=pml4", WARN,
     "processor 0 gets no context", {1}),
    ("ctx-at-kdbg", 64, f"poke=prcb1+{PRCB_CTX:x}:8=kdbg", WARN,
     "processor 1 gets no context", {0}),
    ("ctx-overlap", 64, f"poke=prcb1+{PRCB_CTX:x}:8=ctx0+100", WARN,
     "processor 1 gets no context", {0}),
    ("ctx-noncanonical", 64, f"poke=prcb1+{PRCB_CTX:x}:8=8000000000001000",
     WARN, "processor 1 gets no context", {0}),
    ("ctx-unmapped", 64, f"poke=prcb0+{PRCB_CTX:x}:8=fffff80012345000",
     WARN, "processor 0 gets no context", {1}),
    ("ctx-null", 64, f"poke=prcb1+{PRCB_CTX:x}:8=0", WARN,
     "processor 1 gets no context", {0}),
    ("kpb-null", 64, "poke=kpb+8:8=0", WARN, "processor 1 gets no context", {0}),
    ("kpb-garbage", 64, "poke=kdbg+218:8=fffff80012345000", WARN,
     "gets no context", set()),
    # --- DirectoryTableBase
    ("dtb-garbage-ram", 64, "poke=hdr+10:8=7000000", REFUSE,
     "DirectoryTableBase", None),
    ("dtb-beyond-ram", 64, "poke=hdr+10:8=123456789000", REFUSE,
     "DirectoryTableBase", None),
    ("dtb-mmio", 64, "poke=hdr+10:8=fee00000", REFUSE, "DirectoryTableBase", None),
    # --- x86 header
    ("x86-runs-87", 32, "pae=1 poke=hdr+64:4=57", FDMP, "more than the 86",
     ALL),
    ("x86-nproc-0", 32, "pae=1 poke=hdr+24:4=0", REFUSE, "processors", None),
    ("x86-pae-flag-wrong", 32, "pae=1 poke=hdr+5c:1=0", REFUSE,
     "DirectoryTableBase", None),
    ("x86-ctx-at-lapic", 32, "pae=0 poke=prcb0+6d0:4=lapic", WARN,
     "processor 0 gets no context", {1}),
    # --- KUSER_SHARED_DATA: each value only when mapped and sane
    ("kuser-unmapped", 64, "kuser=none", WARN,
     "cannot read KUSER_SHARED_DATA at 0xfffff78000000000", ALL),
    ("kuser-time-torn", 64, "poke=kuser+c:4=13", WARN,
     "InterruptTime is not consistent (High1Time 0x13, High2Time 0x12)", ALL),
    ("kuser-product-type-bad", 64, "poke=kuser+264:4=7", WARN,
     "ProductType is 7, not 1, 2 or 3", ALL),
    ("kuser-suite-mask-bad", 64, "poke=kuser+2d0:4=80000110", WARN,
     "SuiteMask 0x80000110 has unknown bits", ALL),
    ("x86-kuser-unmapped", 32, "pae=0 kuser=none", WARN,
     "cannot read KUSER_SHARED_DATA at 0xffdf0000", ALL),
    ("la57-kuser-unmapped", "64-la57", "kuser=none", WARN,
     "cannot read KUSER_SHARED_DATA at 0xfffff78000000000", ALL),
    # --- 5-level paging: the same refusals and warnings
    ("la57-kdbg-garbage", "64-la57", "poke=hdr+80:8=ff7ff80012345000", REFUSE,
     "KDBG", None),
    ("la57-ctx-at-pml5", "64-la57", f"poke=prcb0+{PRCB_CTX:x}:8=pml4", WARN,
     "processor 0 gets no context", {1}),
]

# the header fields a KUSER_SHARED_DATA case must leave as the guest's
KUSER_KEPT = {
    "kuser-unmapped": ("SystemUpTime", "ProductType", "SuiteMask"),
    "kuser-time-torn": ("SystemUpTime",),
    "kuser-product-type-bad": ("ProductType",),
    "kuser-suite-mask-bad": ("SuiteMask",),
    "x86-kuser-unmapped": ("SystemUpTime", "ProductType", "SuiteMask"),
    "la57-kuser-unmapped": ("SystemUpTime", "ProductType", "SuiteMask"),
}


def looks_valid(path):
    """True if a file exists and starts like a Windows dump."""
    if not os.path.exists(path):
        return False
    with open(path, "rb") as f:
        head = f.read(8)
    return len(head) == 8 and head[:4] == b"PAGE" and head[4:] in (b"DU64",
                                                                   b"DUMP")


def check_fdmp(d, vm, ram):
    """Every page of the guest's RAM, with its bytes but for the contexts,
    behind a bitmap by the readers' rules; the runs describe RAM."""
    b = d.bitmap
    assert d["DumpType"] == 5 and b and b["Signature"] == "FDMP", b
    assert b["BitmapSize"] % 32 == 0 and b["FirstPage"] % 4096 == 0
    assert b["TotalPresentPages"] == d.pages() == d["NumberOfPages"]
    assert len(d.data) == d["RequiredDumpSpace"] == \
        b["FirstPage"] + d.pages() * 4096
    got = set(d.pfns())
    runs = {p for s, c in checks.guest_runs(vm) for p in range(s, s + c)}
    assert runs <= got, sorted(runs - got)[:8]
    assert d.kdbg_ok()
    ctx = [(pa, d.ctx_size) for pa in vm.ready["ctx_pa"]]
    errs = checks.check_dump_matches_ram(d, ram, ctx)
    assert not errs, "\n".join(errs)


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hostile(vms, qemu_bin, guest_dir, workdir, case):
    name, bits, opts, outcome, msg, ctxs = case
    elf = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
    if not os.path.isfile(elf):
        pytest.fail(f"test guest missing: {elf}", pytrace=False)
    vm = vms.start(qemu_bin, elf, opts, name=name)
    try:
        path = os.path.join(str(workdir), f"{name}.dmp")
        mark = vm.stderr_mark()
        vm.stop()
        regs = vm.registers()
        before = vm.pmemsave(os.path.join(str(workdir), "r0"))
        err = None
        try:
            vm.dump(path)
        except qemu.QMPError as e:
            err = e.desc
        assert vm.alive(), f"QEMU died: {vm.stderr()}"
        after = vm.pmemsave(os.path.join(str(workdir), "r1"))
        checks.assert_ram_unchanged(before, after)
        warnings = vm.stderr()[mark:]

        if outcome == REFUSE:
            assert err is not None, (f"expected a refusal naming {msg!r}, got"
                                     f" a dump; stderr: {warnings}")
            assert msg.lower() in err.lower(), err
            assert not looks_valid(path), "a refused dump left a valid-looking file"
            return
        assert err is None, f"dump refused: {err}"
        if outcome in (WARN, FDMP):
            assert msg in warnings, f"no warning {msg!r}; stderr: {warnings!r}"
        d = dmp.Dump(path)
        if outcome == FDMP:
            check_fdmp(d, vm, before)
            return
        errs = checks.check_structure(d, vm)
        if name in KUSER_KEPT:
            for k, v in checks.KUSER.items():
                if k in KUSER_KEPT[name]:
                    v = checks.HDR_KUSER[k]
                if d[k] != v:
                    errs.append(f"{k} {d[k]:#x} != {v:#x}")
        # every dumped page is guest RAM, but for the contexts written
        ram_ctx = {i: pa for i, pa in enumerate(vm.ready["ctx_pa"])}
        written = set(ram_ctx) if ctxs == ALL else ctxs
        allowed = [(ram_ctx[i], d.ctx_size) for i in written]
        errs += checks.check_dump_matches_ram(d, before, allowed)
        procs = None
        for i in written:
            if procs is None:
                procs = d.processors(strict=False)
            if procs[i][0] is None:
                errs.append(f"context of a processor expected in the dump"
                            f" is unreadable: {procs[i][3]}")
                continue
            errs += checks.check_context_regs(procs[i][3], regs[i], d.x64,
                                              label=f"cpu {i}")
            if procs[i][2] != ram_ctx[i]:
                errs.append(f"cpu {i}: context pa {procs[i][2]:#x}")
        errs += checks.check_context_regs(d.header_context(), regs[0], d.x64,
                                          label="header ContextRecord")
        try:
            checks.check_pattern(d)
        except AssertionError as e:
            errs.append(str(e))
        assert not errs, "\n".join(errs)
    finally:
        vm.kill()
