#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""
windmp test guest: end-to-end check against a stock QEMU (default
/usr/bin/qemu-system-x86_64, e.g. Debian's 7.2). Boots each guest variant,
waits for the READY line, takes "dump-guest-memory -w" through HMP (sent
over QMP's human-monitor-command) and checks the .dmp file: signature,
KdDebuggerDataBlock, bugcheck, size == RequiredDumpSpace, runs, per-CPU
CONTEXTs written by QEMU, the RAM pattern, and that QEMU restored the
guest's CONTEXT areas afterwards.

usage: run-stock-check.py [--qemu BIN] [--outdir DIR] [--accel tcg,kvm]
                          [--only NAME] [--mem 128]
The guest kernels must already be built (make -C tests/guest O=DIR).
"""
import argparse
import json
import os
import re
import resource
import socket
import struct
import subprocess
import sys
import tempfile
import time

MAGIC = 0x57494E444D500000
X64_REGS = [  # CONTEXT offset, name, value (| cpu index)
    (0x78, "rax", 0x5241580000000000), (0x80, "rcx", 0x5243580000000000),
    (0x88, "rdx", 0x5244580000000000), (0x90, "rbx", 0x5242580000000000),
    (0xA0, "rbp", 0x5242500000000000), (0xA8, "rsi", 0x5253490000000000),
    (0xB0, "rdi", 0x5244490000000000), (0xB8, "r8", 0x5238000000000000),
    (0xC0, "r9", 0x5239000000000000), (0xC8, "r10", 0x5231300000000000),
    (0xD0, "r11", 0x5231310000000000), (0xD8, "r12", 0x5231320000000000),
    (0xE0, "r13", 0x5231330000000000), (0xE8, "r14", 0x5231340000000000),
    (0xF0, "r15", 0x5231350000000000),
]
X86_REGS = [
    (0xB0, "eax", 0x52415800), (0xAC, "ecx", 0x52435800),
    (0xA8, "edx", 0x52445800), (0xA4, "ebx", 0x52425800),
    (0xB4, "ebp", 0x52425000), (0xA0, "esi", 0x52534900),
    (0x9C, "edi", 0x52444900),
]


def page_expected(pfn):
    if pfn % 16 == 5:
        return bytes(4096)
    return struct.pack("<QQ", MAGIC ^ pfn, ~pfn & (2**64 - 1)) * 256


class Qmp:
    def __init__(self, path):
        self.s = socket.socket(socket.AF_UNIX)
        for _ in range(100):
            try:
                self.s.connect(path)
                break
            except OSError:
                time.sleep(0.1)
        self.f = self.s.makefile("rw")
        self.recv()
        self.cmd("qmp_capabilities")

    def recv(self):
        while True:
            m = json.loads(self.f.readline())
            if "event" not in m:
                return m

    def cmd(self, name, **args):
        self.f.write(json.dumps({"execute": name, "arguments": args}) + "\n")
        self.f.flush()
        r = self.recv()
        if "error" in r:
            raise RuntimeError(f"{name}: {r['error']}")
        return r["return"]

    def hmp(self, line):
        return self.cmd("human-monitor-command", **{"command-line": line})


def parse_ready(text):
    m = re.search(r"WINDMP-GUEST READY (.*?)\r?\n", text)
    if not m:
        return None
    d = dict(kv.split("=", 1) for kv in m.group(1).split())
    for k in ("prcb", "ctx", "ctx_pa"):
        d[k] = [int(x, 16) for x in d[k].split(",")]
    for k in ("kdbg", "kdbg_hdr", "dtb", "note", "bugcheck", "pattern_from", "ram_end"):
        d[k] = int(d[k], 16)
    d["cpus"] = int(d["cpus"])
    return d


def check_dump(path, ready, exp_bugcheck, x64, errors):
    def err(msg):
        errors.append(msg)

    data = open(path, "rb").read()
    hsz = 0x2000 if x64 else 0x1000
    if data[0:4] != b"PAGE" or data[4:8] != (b"DU64" if x64 else b"DUMP"):
        err(f"bad signature {data[0:8]!r}")
        return
    if x64:
        kdbg, = struct.unpack_from("<Q", data, 0x80)
        code, = struct.unpack_from("<I", data, 0x38)
        params = list(struct.unpack_from("<4Q", data, 0x40))
        nruns, = struct.unpack_from("<I", data, 0x88)
        npages, = struct.unpack_from("<Q", data, 0x90)
        runs = [struct.unpack_from("<QQ", data, 0x98 + 16 * i) for i in range(nruns)]
        req, = struct.unpack_from("<Q", data, 0xFA0)
        dtb, = struct.unpack_from("<Q", data, 0x10)
        pfndb, = struct.unpack_from("<Q", data, 0x18)
        nproc, = struct.unpack_from("<I", data, 0x34)
        exp_pfndb = 0xFFFFF80000305200
    else:
        kdbg, = struct.unpack_from("<I", data, 0x60)
        code, = struct.unpack_from("<I", data, 0x28)
        params = list(struct.unpack_from("<4I", data, 0x2C))
        nruns, npages = struct.unpack_from("<II", data, 0x64)
        runs = [struct.unpack_from("<II", data, 0x6C + 8 * i) for i in range(nruns)]
        req, = struct.unpack_from("<I", data, 0xFA0)
        dtb, = struct.unpack_from("<I", data, 0x10)
        pfndb, = struct.unpack_from("<I", data, 0x14)
        nproc, = struct.unpack_from("<I", data, 0x24)
        exp_pfndb = 0x80305200
        pae = data[0x5C]
        if pae != (1 if ready["arch"] == "x86pae" else 0):
            err(f"PaeEnabled {pae} for {ready['arch']}")
    if kdbg != ready["kdbg"] & (2**64 - 1 if x64 else 2**32 - 1):
        err(f"KdDebuggerDataBlock {kdbg:#x} != decoded KDBG {ready['kdbg']:#x}")
    if dtb != ready["dtb"]:
        err(f"DirectoryTableBase {dtb:#x} != {ready['dtb']:#x}")
    if pfndb != exp_pfndb:
        err(f"PfnDataBase {pfndb:#x} != {exp_pfndb:#x}")
    if nproc != ready["cpus"]:
        err(f"NumberProcessors {nproc} != {ready['cpus']}")
    exp_code = exp_bugcheck[0] or 0x161
    if code != exp_code or params != exp_bugcheck[1:]:
        err(f"bugcheck {code:#x} {[hex(p) for p in params]} != "
            f"{exp_code:#x} {[hex(p) for p in exp_bugcheck[1:]]}")
    if sum(c for _, c in runs) != npages:
        err("NumberOfPages != sum of runs")
    if req != hsz + npages * 4096 or len(data) != req:
        err(f"size {len(data):#x} RequiredDumpSpace {req:#x} pages {npages:#x}")
    if runs and runs[-1][0] + runs[-1][1] != ready["ram_end"]:
        err(f"last run ends at {runs[-1][0] + runs[-1][1]:#x}, READY ram_end {ready['ram_end']:#x}")
    # page index: pfn -> file offset
    offs = {}
    off = hsz
    for base, count in runs:
        offs[(base, count)] = off
        off += count * 4096

    def page(pfn):
        for (base, count), o in offs.items():
            if base <= pfn < base + count:
                return data[o + (pfn - base) * 4096: o + (pfn - base + 1) * 4096]
        return None

    bad = checked = 0
    for base, count in runs:
        o = offs[(base, count)]
        for pfn in range(max(base, 0x400), base + count):
            po = o + (pfn - base) * 4096
            checked += 1
            if data[po:po + 4096] != page_expected(pfn):
                if bad < 3:
                    err(f"pattern mismatch at pfn {pfn:#x}")
                bad += 1
    if bad:
        err(f"{bad} of {checked} pattern pages wrong")
    # CONTEXTs written by QEMU into KPRCB->Context
    regs = X64_REGS if x64 else X86_REGS
    for i, cpa in enumerate(ready["ctx_pa"]):
        pg = page(cpa >> 12)
        if pg is None:
            err(f"ctx page of cpu {i} not in dump")
            continue
        c = pg[cpa & 0xFFF:]
        if x64:
            flags, mxcsr = struct.unpack_from("<II", c, 0x30)
            mx2, = struct.unpack_from("<I", c, 0x118)
            if flags != 0x10001F or mxcsr != mx2:
                err(f"cpu{i} CONTEXT flags {flags:#x} mxcsr {mxcsr:#x}/{mx2:#x}")
        for o, name, val in regs:
            got, = struct.unpack_from("<Q" if x64 else "<I", c, o)
            if got != val | i:
                err(f"cpu{i} {name} {got:#x} != {val | i:#x}")
                break
    return checked


def run_case(args, name, kernel, cmdline, accel, x64, exp_bugcheck, extra=()):
    tmp = tempfile.mkdtemp(prefix="windmp-", dir=args.outdir)
    ser, sock, dmp = (os.path.join(tmp, n) for n in ("serial.txt", "qmp.sock", "dump.dmp"))
    cmd = [args.qemu, "-machine", "pc", "-accel", accel, "-m", f"{args.mem}M",
           "-smp", "2", "-device", "vmcoreinfo", "-display", "none", "-nodefaults",
           "-no-reboot", "-serial", f"file:{ser}", "-device", "pvpanic",
           "-action", "panic=none", "-qmp", f"unix:{sock},server=on,wait=off",
           "-kernel", kernel, "-append", cmdline, *extra]
    t0 = time.time()
    # a broken header can make QEMU write an endless file: cap it at 2 GiB
    p = subprocess.Popen(cmd, stderr=subprocess.PIPE, preexec_fn=lambda: resource.setrlimit(
        resource.RLIMIT_FSIZE, (2 << 30, 2 << 30)))
    errors = []
    ready = None
    try:
        q = Qmp(sock)
        while time.time() - t0 < args.timeout:
            text = open(ser, errors="replace").read() if os.path.exists(ser) else ""
            ready = parse_ready(text)
            if ready or "WINDMP-GUEST FAIL" in text or p.poll() is not None:
                break
            time.sleep(0.2)
        if not ready:
            errors.append("no READY line: " + text.strip().splitlines()[-1:][0]
                          if text.strip() else "no READY line (no output)")
        else:
            time.sleep(0.2)
            t1 = time.time()
            out = q.hmp(f"dump-guest-memory -w {dmp}")
            if out.strip():
                errors.append(f"HMP said: {out.strip()}")
            dt = time.time() - t1
            if os.path.exists(dmp):
                checked = check_dump(dmp, ready, exp_bugcheck, x64, errors)
            else:
                errors.append("no dump file")
                checked = 0
            # QEMU must have restored the guest's CONTEXT areas
            for i, cpa in enumerate(ready["ctx_pa"]):
                r = q.hmp(f"xp /1xg {cpa:#x}")
                want = f"{0xC0 + i:02x}" * 8
                if want not in r.replace("0x", ""):
                    errors.append(f"cpu{i} CONTEXT not restored: {r.strip()}")
        q.cmd("quit")
    except Exception as e:  # noqa: BLE001
        errors.append(f"exception: {e}")
    finally:
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
    stderr = p.stderr.read().decode(errors="replace").strip()
    status = "PASS" if not errors else "FAIL"
    print(f"[{status}] {name} accel={accel} append='{cmdline}'")
    if ready:
        print(f"       READY arch={ready['arch']} cpus={ready['cpus']} kdbg={ready['kdbg']:#x}"
              f" ram_end={ready['ram_end']:#x}; dump {os.path.getsize(dmp) if os.path.exists(dmp) else 0:#x}"
              f" bytes in {dt:.1f}s, {checked} pattern pages checked")
    for e in errors:
        print("       " + e)
    if stderr:
        print("       qemu stderr: " + stderr.replace("\n", "\n                    "))
    if not errors and not args.keep:
        for f in (ser, dmp):
            os.unlink(f)
        os.rmdir(tmp)
    return not errors


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--qemu", default="/usr/bin/qemu-system-x86_64")
    ap.add_argument("--outdir", default=os.path.join(here, "build"))
    ap.add_argument("--accel", default=None)
    ap.add_argument("--only", default=None)
    ap.add_argument("--mem", type=int, default=128)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--keep", action="store_true")
    ap.add_argument("--force", action="store_true", help="run x86 cases on kvm_pvm too")
    args = ap.parse_args()
    args.outdir = os.path.abspath(args.outdir)
    accels = args.accel.split(",") if args.accel else (
        ["tcg", "kvm"] if os.access("/dev/kvm", os.W_OK) else ["tcg"])
    k64 = os.path.join(args.outdir, "windmp-guest64.elf")
    k32 = os.path.join(args.outdir, "windmp-guest32.elf")
    d64 = [0xD1, 0xFFFFF80000001000, 2, 0, 0xFFFFF80000002000]
    d32 = [0xD1, 0x80001000, 2, 0, 0x80002000]
    cases = [
        ("x64-default", k64, "", True, d64),
        ("x64-encoded-live", k64, "kdbg=encoded bugcheck=0 cr3=kernel panic=1",
         True, [0, 0, 0, 0, 0]),
        ("x64-bugcheck", k64, "bugcheck=0x7E,0x11,0x22,0x33,0x44 panic=0", True,
         [0x7E, 0x11, 0x22, 0x33, 0x44]),
        ("x86pae-default", k32, "", False, d32),
        ("x86pae-encoded", k32, "kdbg=encoded bugcheck=0xA,1,2,3,4", False, [0xA, 1, 2, 3, 4]),
        ("x86-nopae", k32, "pae=0", False, d32),
        ("x86-nopae-live", k32, "pae=0 kdbg=encoded bugcheck=0 cr3=kernel", False,
         [0, 0, 0, 0, 0]),
    ]
    ok = True
    for accel in accels:
        for name, kernel, cmdline, x64, bc in cases:
            if args.only and not re.search(args.only, name):
                continue
            if accel == "kvm" and not x64 and os.path.exists("/sys/module/kvm_pvm") \
                    and not args.force:
                # PVM runs guests without VMX/SVM; it cannot run 32-bit
                # paging (CR0.PG without EFER.LME raises #GP in the guest).
                print(f"[SKIP] {name} accel=kvm: host KVM is kvm_pvm (no 32-bit paging)")
                continue
            ok &= run_case(args, name, kernel, cmdline, accel, x64, bc)
    print("ALL PASS" if ok else "SOME FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
