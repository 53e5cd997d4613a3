# SPDX-License-Identifier: GPL-2.0-or-later
"""
Shared checks for the win-dmp end-to-end tests: what a dump of the windmp
test guest must look like (header fields, runs, sizes, per-CPU CONTEXTs
against "info registers -a", the RAM pattern), plus a helper that takes a
dump with guest RAM saved before and after it.
"""
import os
import re
import struct
import time

import dmp
import qemu

MAGIC = 0x57494E444D500000
PATTERN_FROM = 0x400
FILETIME_UNIX_EPOCH = 116444736000000000
M64 = (1 << 64) - 1

# the guest's fixed layout (tests/guest/layout.h)
NOTE_PA = 0x300000
STRUCT_START, STRUCT_END = 0x300000, 0x380000   # note .. page tables
CTXPG_PA, CTX_OFF = 0x310000, 0x40

CTX64_ALL = 0x10001F
CTX32_OURS = 0x10037     # FULL | DEBUG | EXTENDED


def zero_rule(append=""):
    """(N, D) of the guest's zero=N/D option: pattern pages with
    PFN % D < N are zero; without it, PFN % 16 == 5."""
    m = re.search(r"\bzero=(\w+)/(\w+)", append or "")
    return (int(m.group(1), 0), int(m.group(2), 0)) if m else None


def expected_page(pfn, zero=None):
    if (pfn % zero[1] < zero[0]) if zero else pfn % 16 == 5:
        return bytes(4096)
    return struct.pack("<QQ", (MAGIC ^ pfn) & M64, ~pfn & M64) * 256


def guest_runs(vm):
    """Runs the guest put in its header, from its serial log."""
    return [(int(b, 16), int(c, 16)) for b, c in
            re.findall(r"windmp-guest: run 0x([0-9a-f]+) \+0x([0-9a-f]+)",
                       vm.serial())]


def parse_bugcheck_opt(append, x64):
    """The bugcheck the guest's KiBugcheckData holds for these options."""
    m = re.search(r"\bbugcheck=(\S+)", append)
    if not m:
        if x64:
            return [0xD1, 0xFFFFF80000001000, 2, 0, 0xFFFFF80000002000]
        return [0xD1, 0x80001000, 2, 0, 0x80002000]
    vals = [int(v, 0) for v in m.group(1).split(",")]
    return (vals + [0] * 5)[:5]


def snapshot_dump(vm, tmpdir, how="qmp", name="dump.dmp", check_ram=True):
    """Stop the VM, read registers, save RAM, dump, save RAM again.
    how: qmp | detach | hmp. Returns dict(path, regs, before, after,
    t0, t1, result)."""
    path = os.path.join(str(tmpdir), name)
    vm.stop()
    regs = vm.registers()
    before = vm.pmemsave(os.path.join(str(tmpdir), "ram-before")) \
        if check_ram else None
    t0 = time.time()
    if how == "qmp":
        result = vm.dump(path)
    elif how == "detach":
        result = vm.dump(path, detach=True)
    elif how == "hmp":
        result = vm.dump_hmp(path)
    else:
        raise ValueError(how)
    t1 = time.time()
    after = vm.pmemsave(os.path.join(str(tmpdir), "ram-after")) \
        if check_ram else None
    return dict(path=path, regs=regs, before=before, after=after,
                t0=t0, t1=t1, result=result)


def assert_ram_unchanged(before, after, what="the dump"):
    off = qemu.first_diff(before, after)
    assert off is None, (
        f"guest RAM changed by {what}: first difference at physical"
        f" {off:#x} (pages {[hex(p) for p in qemu.diff_ranges(before, after)[:16]]})")


def filetime(t):
    return int(t * 10_000_000) + FILETIME_UNIX_EPOCH


def check_context_regs(ctx, regs, x64, ours=True, label=""):
    """CONTEXT (decoded) against one CPU of 'info registers -a'."""
    c = dmp.decode_context(ctx, x64)
    errs = []

    def eq(field, reg, mask=None):
        want = regs.get(reg)
        if want is None:
            errs.append(f"{label}: info registers has no {reg}")
            return
        got = c[field]
        if mask:
            want &= mask
        if got != want:
            errs.append(f"{label}: {field} = {got:#x}, registers {reg} = {want:#x}")

    if x64:
        for r in ("Rax", "Rbx", "Rcx", "Rdx", "Rsi", "Rdi", "Rbp", "Rsp",
                  "R8", "R9", "R10", "R11", "R12", "R13", "R14", "R15", "Rip"):
            eq(r, r.upper())
        eq("EFlags", "RFL")
        for s in ("Cs", "Ds", "Es", "Fs", "Gs", "Ss"):
            eq("Seg" + s, s.upper() if s != "Cs" else "CS")
        for d in (0, 1, 2, 3, 6, 7):
            eq(f"Dr{d}", f"DR{d}")
        eq("MxCsr", "MXCSR")
        eq("FltSave.MxCsr", "MXCSR")
        if c["ContextFlags"] != CTX64_ALL:
            errs.append(f"{label}: ContextFlags {c['ContextFlags']:#x}")
        if ours:
            eq("FltSave.ControlWord", "FCW")
            eq("FltSave.StatusWord", "FSW")
            eq("FltSave.TagWord", "FTW")
            for i in range(16):
                if f"XMM{i:02d}" in regs:
                    eq(f"Xmm{i}", f"XMM{i:02d}")
            for i in range(8):
                # FPRi is printed as "mantissa exponent": compare mantissa
                if f"FPR{i}" in regs:
                    if c[f"St{i}"] & M64 != regs[f"FPR{i}"]:
                        errs.append(f"{label}: St{i} mantissa differs")
    else:
        for r in ("Eax", "Ebx", "Ecx", "Edx", "Esi", "Edi", "Ebp", "Esp",
                  "Eip"):
            eq(r, r.upper(), 0xFFFFFFFF)
        eq("EFlags", "EFL" if "EFL" in regs else "RFL", 0xFFFFFFFF)
        for s in ("Cs", "Ds", "Es", "Fs", "Gs", "Ss"):
            eq("Seg" + s, s.upper())
        for d in (0, 1, 2, 3, 6, 7):
            eq(f"Dr{d}", f"DR{d}", 0xFFFFFFFF)
        if ours:
            if c["ContextFlags"] != CTX32_OURS:
                errs.append(f"{label}: ContextFlags {c['ContextFlags']:#x},"
                            f" want {CTX32_OURS:#x}")
            eq("Ext.MxCsr", "MXCSR")
            eq("Ext.ControlWord", "FCW")
            eq("Ext.StatusWord", "FSW")
            eq("Ext.TagWord", "FTW")
            for i in range(8):
                if f"XMM{i:02d}" in regs:
                    eq(f"Xmm{i}", f"XMM{i:02d}")
    return errs


def check_pattern(d, zero=None, exclude=None):
    """Every pattern page (PFN >= 0x400) in the dump against the formula
    (zero: the guest's zero_rule(); exclude: PFNs [lo, hi) that the guest
    changed since).  Returns the number of pages checked; raises
    AssertionError."""
    bad = []
    n = 0
    for base, count, off in d.runs:
        for pfn in range(max(base, PATTERN_FROM), base + count):
            if exclude and exclude[0] <= pfn < exclude[1]:
                continue
            o = off + (pfn - base) * 4096
            if d.data[o:o + 4096] != expected_page(pfn, zero):
                bad.append(pfn)
            n += 1
    assert n > 0, "no pattern page in the dump's runs: nothing was checked"
    assert not bad, (f"{len(bad)} pattern pages differ, first PFNs"
                     f" {[hex(p) for p in bad[:8]]}")
    return n


# the test guest's KUSER_SHARED_DATA (kuser=none: not mapped), and the
# stale values of its header
KUSER = {"SystemUpTime": 0x12 << 32 | 0x89ABCDEF, "ProductType": 3,
         "SuiteMask": 0x110}
HDR_KUSER = {"SystemUpTime": 123456789, "ProductType": 1, "SuiteMask": 0x100}


def check_dump(d, vm, append, regs=None, current_cpu=0, t0=None, t1=None,
               full=True, dump_type=1):
    """The full set of structural checks on a dump of the test guest, of
    the DumpType the caller expects (5: a bitmap dump, whose own rules its
    tests check).  Returns a list of problems (empty when everything
    holds)."""
    r = vm.ready
    x64 = r["arch"] == "x64"
    errs = []

    def want(cond, msg):
        if not cond:
            errs.append(msg)

    want(d.x64 == x64, f"dump is {'x64' if d.x64 else 'x86'}, guest {r['arch']}")
    want(d["Signature"] == b"PAGE", f"Signature {d['Signature']!r}")
    want(d["ValidDump"] == (b"DU64" if x64 else b"DUMP"),
         f"ValidDump {d['ValidDump']!r}")
    want(d["MajorVersion"] == 0xF and d["MinorVersion"] == 19041,
         f"versions {d['MajorVersion']:#x}.{d['MinorVersion']}")
    want(d["DirectoryTableBase"] == r["dtb"],
         f"DirectoryTableBase {d['DirectoryTableBase']:#x} != {r['dtb']:#x}")
    want(d["MachineImageType"] == (0x8664 if x64 else 0x14C),
         f"MachineImageType {d['MachineImageType']:#x}")
    if x64:
        # the dump does not record CR4.LA57: the reader must find it
        want(d.paging == f"lm{r.get('levels', 4)}",
             f"the dump reads as {d.paging} paging, the guest has"
             f" {r.get('levels', 4)} levels")
    want(d["NumberProcessors"] == r["cpus"],
         f"NumberProcessors {d['NumberProcessors']}")
    mask = M64 if x64 else 0xFFFFFFFF
    want(d["KdDebuggerDataBlock"] == r["kdbg"] & mask,
         f"KdDebuggerDataBlock {d['KdDebuggerDataBlock']:#x} != decoded"
         f" KDBG {r['kdbg']:#x}")
    try:
        va, k = d.kdbg()
        want(dmp.u32(k, 0x10) == dmp.KDBG_TAG, "KDBG OwnerTag is not 'KDBG'"
             " through the dump's DirectoryTableBase")
        want(d["PfnDataBase"] == dmp.u64(k, 0xC0) & mask,
             f"PfnDataBase {d['PfnDataBase']:#x} != KDBG+0xC0"
             f" {dmp.u64(k, 0xC0):#x}")
        want(d["PsLoadedModuleList"] == dmp.u64(k, 0x48) & mask,
             "PsLoadedModuleList != KDBG+0x48")
        want(d["PsActiveProcessHead"] == dmp.u64(k, 0x50) & mask,
             "PsActiveProcessHead != KDBG+0x50")
        # bugcheck: the guest's KiBugcheckData, read through the dump
        bc_va = dmp.u64(k, 0x88)
        if x64:
            raw = d.read_va(bc_va, 40)
            kbd = [dmp.u32(raw, 0)] + [dmp.u64(raw, 8 + 8 * i) for i in range(4)]
        else:
            raw = d.read_va(bc_va, 20)
            kbd = [dmp.u32(raw, 4 * i) for i in range(5)]
    except dmp.DumpError as e:
        errs.append(f"KDBG unreadable through the dump: {e}")
        kbd = None
    exp = parse_bugcheck_opt(append, x64)
    if kbd is not None:
        want(kbd == exp, f"KiBugcheckData in dump {kbd} != guest's {exp}")
    code = exp[0] or dmp.LIVE_SYSTEM_DUMP
    want(d["BugCheckCode"] == code,
         f"BugCheckCode {d['BugCheckCode']:#x} != {code:#x}")
    want(d["BugCheckParameters"] == exp[1:],
         f"BugCheckParameters {[hex(x) for x in d['BugCheckParameters']]}"
         f" != {[hex(x) for x in exp[1:]]}")
    if x64:
        want(d["Pad0x3C"] == 0, "pad 0x3C not zero")
        want(d["Pad0x8C"] == 0, "pad 0x8C not zero")
        want(d["Pad0xF9C"] == 0, "pad 0xF9C not zero")
    bitmap = dump_type == 5
    want(d["DumpType"] == dump_type and (d.bitmap is not None) == bitmap,
         f"DumpType {d['DumpType']}, expected {dump_type}")
    # refreshed from KUSER_SHARED_DATA, when the guest maps it
    ku = HDR_KUSER if "kuser=none" in append else KUSER
    for k, v in ku.items():
        want(d[k] == v, f"{k} {d[k]:#x} != {v:#x}")
    gr = guest_runs(vm)
    want(bitmap or gr and [(b, c) for b, c, _ in d.runs] == gr,
         f"runs {[(hex(b), hex(c)) for b, c, _ in d.runs]} != guest's"
         f" {[(hex(b), hex(c)) for b, c in gr]}")
    pages = d.pages()
    want(bitmap or d["NumberOfPages"] == pages,
         f"NumberOfPages {d['NumberOfPages']:#x} != sum of runs {pages:#x}")
    size = (d.bitmap["FirstPage"] if d.bitmap else d.hdr_size) + pages * 4096
    want(d["RequiredDumpSpace"] == size,
         f"RequiredDumpSpace {d['RequiredDumpSpace']:#x} != {size:#x}")
    want(len(d.data) == size, f"file size {len(d.data):#x} != {size:#x}")
    if t0 is not None:
        lo, hi = filetime(t0) - 20_000_000, filetime(t1) + 20_000_000
        want(lo <= d["SystemTime"] <= hi,
             f"SystemTime {d['SystemTime']:#x} not the time of the dump"
             f" ({lo:#x}..{hi:#x})")
    # contexts through KiProcessorBlock
    try:
        procs = d.processors()
    except dmp.DumpError as e:
        errs.append(f"processors unreadable: {e}")
        procs = []
    want(len(procs) == r["cpus"],
         f"{len(procs)} processors readable in the dump, guest has {r['cpus']}")
    for i, (prcb, cva, cpa, raw) in enumerate(procs):
        want(prcb == r["prcb"][i] & mask, f"cpu {i}: KPRCB {prcb:#x}")
        want(cva == r["ctx"][i] & mask, f"cpu {i}: Context va {cva:#x}")
        want(cpa == r["ctx_pa"][i], f"cpu {i}: Context pa {cpa:#x}")
        if regs is not None:
            errs += check_context_regs(raw, regs[i], x64, label=f"cpu {i}")
        # the rest of the context page keeps the guest's fill byte
        page = d.read_pa(cpa & ~0xFFF, 4096)
        o = cpa & 0xFFF
        fill = 0xC0 + i
        want(page[:o] == bytes([fill]) * o and
             page[o + d.ctx_size:] == bytes([fill]) * (4096 - o - d.ctx_size),
             f"cpu {i}: bytes around the CONTEXT are not the guest's 0x{fill:x} fill")
    # header ContextRecord: the current CPU
    hc = d.header_context()
    if len(procs) > current_cpu:
        want(hc == procs[current_cpu][3],
             f"header ContextRecord is not CPU {current_cpu}'s context")
    if x64:
        c = dmp.decode_context(hc, True)
        want(c["MxCsr"] == c["FltSave.MxCsr"],
             "header CONTEXT.MxCsr != FltSave.MxCsr")
    if regs is not None:
        errs += check_context_regs(hc, regs[current_cpu], x64,
                                   label="header ContextRecord")
    if full and len(d.data) == size:
        try:
            check_pattern(d, zero_rule(append))
        except AssertionError as e:
            errs.append(str(e))
    return errs


def check_dump_matches_ram(d, ram, allowed):
    """Every page of the dump equals guest RAM (a pmemsave image) except
    inside the byte ranges in allowed [(pa, len)]. Returns problems."""
    errs = []
    for base, count, off in d.runs:
        pa = base * 4096
        n = count * 4096
        if pa + n > len(ram):
            errs.append(f"run {base:#x}+{count:#x} beyond the saved RAM")
            continue
        fb = d.data[off:off + n]
        rb = ram[pa:pa + n]
        if fb == rb:
            continue
        for p in range(0, n, 4096):
            if fb[p:p + 4096] == rb[p:p + 4096]:
                continue
            for i in range(p, p + 4096):
                if fb[i] != rb[i]:
                    a = pa + i
                    if not any(s <= a < s + ln for s, ln in allowed):
                        errs.append(f"dump differs from guest RAM at"
                                    f" {a:#x} (outside the context areas)")
                        break
            if len(errs) > 8:
                return errs
    return errs


def check_structure(d, vm, runs_from_guest=True):
    """The checks any dump that QEMU writes must pass, whatever the guest
    did: signature, DumpType, runs, counts and sizes, a KDBG reachable
    through DirectoryTableBase."""
    errs = []
    x64 = vm.ready["arch"] == "x64"
    if d["ValidDump"] != (b"DU64" if x64 else b"DUMP"):
        errs.append(f"ValidDump {d['ValidDump']!r}")
    if d["DumpType"] != 1:
        errs.append(f"DumpType {d['DumpType']}")
    if runs_from_guest and [(b, c) for b, c, _ in d.runs] != guest_runs(vm):
        errs.append("runs differ from the guest's")
    prev = 0
    for b, c, _ in d.runs:
        if b < prev or c == 0:
            errs.append("runs unsorted, overlapping or empty")
        prev = b + c
    if d["NumberOfRuns"] > (42 if x64 else 86):
        errs.append(f"NumberOfRuns {d['NumberOfRuns']}")
    size = d.hdr_size + d.pages() * 4096
    if not (d["NumberOfPages"] == d.pages() and
            d["RequiredDumpSpace"] == size == len(d.data)):
        errs.append(f"sizes inconsistent: NumberOfPages {d['NumberOfPages']:#x}"
                    f" runs {d.pages():#x} RequiredDumpSpace"
                    f" {d['RequiredDumpSpace']:#x} file {len(d.data):#x}")
    if not d.kdbg_ok():
        errs.append("KdDebuggerDataBlock does not lead to a 'KDBG'")
    if x64:
        c = dmp.decode_context(d.header_context(), True)
        if c["MxCsr"] != c["FltSave.MxCsr"]:
            errs.append("header MxCsr mismatch")
    return errs
