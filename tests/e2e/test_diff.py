# SPDX-License-Identifier: GPL-2.0-or-later
"""
Differential test: boot the same test guest options in stock QEMU (Debian's
7.2, WINDMP_STOCK_QEMU) and in ours, dump win-dmp from each, and compare
field by field and page by page. The intended differences are the table
below; any other difference fails. Both QEMUs must leave guest RAM
unchanged.
"""
import os

import pytest

import checks
import dmp
import qemu

# ---------------------------------------------------------------- intended
# What our QEMU does differently from stock, and nothing else.
# (number, where, name, offset, length, what differs)
INTENDED = [
    (1, "header", "ContextRecord", {"x64": (0x348, 0x4D0), "x86": (0x320, 0x2CC)},
     "ours: CONTEXT of the current vCPU (pvpanic writer, else 0), MxCsr =="
     " FltSave.MxCsr; stock: the driver's boot-time context"),
    (2, "header", "SystemTime", {"x64": (0xFA8, 8), "x86": (0xFC0, 8)},
     "ours: time of the dump (FILETIME); stock: the guest's"),
    # 3: DumpType forced to 1, NumberOfPages recomputed from the runs: the
    #    same values for a valid guest, so no byte may differ (checked).
    (4, "context", "FltSave except MxCsr",
     {"x64": (0x100, 0x18), "x86": None},
     "ours fills x87 control/status/tag (and error pointers); stock zero"),
    (4, "context", "FltSave.MxCsr_Mask, FloatRegisters, Xmm0-15, reserved",
     {"x64": (0x11C, 0x200 - 0x1C), "x86": None},
     "ours fills MxCsr_Mask, x87 and XMM registers; stock zero"),
    (4, "context", "ContextFlags", {"x64": None, "x86": (0x00, 4)},
     "ours adds CONTEXT_EXTENDED_REGISTERS"),
    (4, "context", "ExtendedRegisters", {"x64": None, "x86": (0xCC, 0x200)},
     "ours fills the FXSAVE image; stock zero"),
    # Not in the project's list of 5, found by this test: stock 7.2 declares
    # WinContext32 QEMU_ALIGNED(16), so it writes 0x2D0 bytes, 4 past the
    # real 0x2CC-byte x86 CONTEXT; its dump then has its own zeros there
    # (RAM is restored). Ours writes 0x2CC and the dump keeps the guest's
    # bytes (checked below).
    (6, "context", "4 bytes after the x86 CONTEXT (stock overrun)",
     {"x64": None, "x86": (0x2CC, 4)},
     "stock: zeros from its 0x2D0-byte struct; ours: the guest's bytes"),
    # 5: guest memory: stock writes contexts into guest RAM and restores
    #    them, ours overlays them on the file; both leave RAM unchanged
    #    (checked with pmemsave for both).
    (8, "header", "SystemUpTime", {"x64": (0x1030, 8), "x86": (0xFB8, 8)},
     "ours: KUSER_SHARED_DATA's InterruptTime; stock: the driver's, from boot"),
    (8, "header", "ProductType, SuiteMask",
     {"x64": (0x1040, 8), "x86": (0xF94, 8)},
     "ours: KUSER_SHARED_DATA's; stock: the driver's"),
]

# guest options compared: name -> (guest, options, current CPU); stock
# QEMU reads the LA57 guest through its vCPU's MMU, ours through 5 levels
CONFIGS = {
    "x64": (64, "panic=1", 1),
    "x64-encoded-live": (64, "kdbg=encoded bugcheck=0", 0),
    "la57": ("64-la57", "panic=1", 1),
    "x86pae": (32, "pae=1 panic=1", 1),
    "x86": (32, "pae=0", 0),
}

GUEST_SYSTEM_TIME = 0x01DA5A2B3C4D5E6F


def intended(kind, arch):
    out = []
    for num, k, name, where, _ in INTENDED:
        if k == kind and where[arch]:
            out.append((where[arch][0], where[arch][1], f"#{num} {name}"))
    return out


def diff_offsets(a, b, limit=1 << 20):
    """Byte offsets where a and b differ (same length)."""
    out = []
    for p in qemu.diff_ranges(a, b):
        for i in range(p, min(p + 4096, len(a))):
            if a[i] != b[i]:
                out.append(i)
                if len(out) >= limit:
                    return out
    return out


def classify(offs, regions):
    """Split offsets into (allowed name -> count, unexplained list)."""
    hit, bad = {}, []
    for o in offs:
        for s, n, name in regions:
            if s <= o < s + n:
                hit[name] = hit.get(name, 0) + 1
                break
        else:
            bad.append(o)
    return hit, bad


def take(vm, workdir, tag):
    snap = checks.snapshot_dump(vm, workdir, "qmp", name=f"{tag}.dmp")
    checks.assert_ram_unchanged(snap["before"], snap["after"],
                                f"the {tag} QEMU's dump")
    return snap


@pytest.mark.parametrize("name", list(CONFIGS))
def test_diff(vms, qemu_bin, stock_bin, guest_dir, workdir, name, capsys):
    bits, opts, cur = CONFIGS[name]
    elf = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
    if not os.path.isfile(elf):
        pytest.fail(f"test guest missing: {elf}", pytrace=False)
    arch = "x64" if str(bits).startswith("64") else "x86"

    stock = vms.start(stock_bin, elf, opts, name=f"stock-{name}")
    s_snap = take(stock, workdir, "stock")
    s_ready = stock.ready
    stock.kill()
    ours = vms.start(qemu_bin, elf, opts, name=f"ours-{name}")
    o_snap = take(ours, workdir, "ours")
    ours.kill()

    # the guest is the same in both
    for k in ("kdbg", "dtb", "prcb", "ctx", "ctx_pa", "ram_end"):
        assert s_ready[k] == ours.ready[k], f"guest differs in {k}"

    S = dmp.Dump(s_snap["path"])
    O = dmp.Dump(o_snap["path"])
    report = []

    # ---- our dump is right on its own (registers, pattern, fields)
    errs = checks.check_dump(O, ours, opts, regs=o_snap["regs"],
                             current_cpu=cur, t0=o_snap["t0"], t1=o_snap["t1"])
    assert not errs, "our dump:\n" + "\n".join(errs)

    # ---- header: every byte equal except the intended regions
    assert len(S.hdr) == len(O.hdr)
    hit, bad = classify(diff_offsets(S.hdr, O.hdr), intended("header", arch))
    assert not bad, ("unintended header differences at "
                     + ", ".join(f"{o:#x}" for o in bad[:32]))
    report.append(f"header differences (intended): {hit}")
    # #3: same DumpType / NumberOfPages / runs for a valid guest
    for f in ("DumpType", "NumberOfPages", "NumberOfRuns",
              "RequiredDumpSpace"):
        assert S[f] == O[f], f"{f}: stock {S[f]} ours {O[f]}"
    assert S.runs == O.runs
    # #1: stock kept the guest's boot-time context, ours the current CPU's
    note_hdr = s_snap["before"][checks.NOTE_PA + 24:checks.NOTE_PA + 24 + S.hdr_size]
    assert S.header_context() == note_hdr[S["ContextRecordOffset"]:
                                          S["ContextRecordOffset"] + S.ctx_size], \
        "stock's header ContextRecord is not the guest's"
    assert O.header_context() == O.processors()[cur][3]
    # #2
    assert S["SystemTime"] == GUEST_SYSTEM_TIME, f"{S['SystemTime']:#x}"
    assert O["SystemTime"] != GUEST_SYSTEM_TIME
    # #8: stock kept the header's stale values
    for k, v in checks.HDR_KUSER.items():
        assert S[k] == v, f"stock's {k} {S[k]:#x} != the header's {v:#x}"
        assert O[k] == checks.KUSER[k], f"our {k} {O[k]:#x}"
    assert "#8 SystemUpTime" in hit and "#8 ProductType, SuiteMask" in hit, hit

    # ---- pages
    assert len(S.data) == len(O.data), (len(S.data), len(O.data))
    ctx_regions = []
    for pa in ours.ready["ctx_pa"]:
        for s, n, nm in intended("context", arch):
            ctx_regions.append((pa + s, n, nm))
    strict_bad, loose = [], {}
    ctx_hits = {}
    for base, count, off in S.runs:
        a = S.data[off:off + count * 4096]
        b = O.data[off:off + count * 4096]
        if a == b:
            continue
        for p in qemu.diff_ranges(a, b):
            pfn = base + p // 4096
            pa0 = pfn * 4096
            offs = [pa0 + i for i in diff_offsets(a[p:p + 4096], b[p:p + 4096])]
            h, bad = classify(offs, ctx_regions)
            for k, v in h.items():
                ctx_hits[k] = ctx_hits.get(k, 0) + v
            if not bad:
                continue
            strict = (pfn >= checks.PATTERN_FROM or
                      checks.STRUCT_START <= pa0 < checks.STRUCT_END)
            if strict:
                strict_bad.append((pfn, bad[0], len(bad)))
            else:
                loose[pfn] = len(bad)
    report.append(f"context differences (intended): {ctx_hits}")
    report.append("low pages outside the guest structures that differ"
                  f" (reported, not failed): {len(loose)}"
                  + (f" PFNs {[hex(p) for p in sorted(loose)[:24]]}" if loose
                     else " (low memory is identical)"))
    with capsys.disabled():
        print(f"\n[diff {name}] " + f"\n[diff {name}] ".join(report))
    assert not strict_bad, ("unintended page differences (pfn, first"
                            " address, bytes): "
                            + ", ".join(f"({p:#x}, {a:#x}, {n})"
                                        for p, a, n in strict_bad[:16]))
    # #6: ours keeps the guest's bytes after an x86 CONTEXT
    if arch == "x86":
        for i, pa in enumerate(ours.ready["ctx_pa"]):
            o = O.read_pa(pa + 0x2CC, 4)
            assert o == o_snap["before"][pa + 0x2CC:pa + 0x2D0], \
                f"cpu {i}: our dump changed the bytes after the CONTEXT"
            assert S.read_pa(pa + 0x2CC, 4) == bytes(4), \
                "stock no longer overruns the x86 CONTEXT: update INTENDED #6"
    # the general registers etc. inside the contexts are the same: they are
    # outside the intended regions, so equal bytes prove it; and stock's
    # contexts match info registers too
    for i, (_, _, _, raw) in enumerate(S.processors()):
        errs = checks.check_context_regs(raw, s_snap["regs"][i], S.x64,
                                         ours=False, label=f"stock cpu {i}")
        assert not errs, "\n".join(errs)
