#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""The main job, end to end: boot the built-in test guest (a tiny kernel
that plays Windows and its fwcfg driver) in the patched QEMU with two
vCPUs, let it "crash", take a Windows crash dump with HMP
`dump-guest-memory -w`, and print what the dump holds.  Then take an ELF
core of the same stopped guest (what libvirt's automatic crash dumps are),
convert it with windmp and check it against the in-tree dump."""

import argparse
import os
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests", "e2e"))
import dmp   # noqa: E402
import qemu  # noqa: E402


def main():
    build = os.environ.get("WINDMP_BUILD", os.path.join(top, "build"))
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--qemu", default=os.path.join(build, "qemu",
                                                   "qemu-system-x86_64"))
    ap.add_argument("--guest", default=os.path.join(build, "guest",
                                                    "windmp-guest64.elf"))
    ap.add_argument("--append", default="kdbg=encoded kmap=16 user=8",
                    help="test guest options (see tests/guest/README.md)")
    ap.add_argument("--accel", default=None, help="kvm or tcg")
    ap.add_argument("-o", "--output", default=os.path.join(build, "demo.dmp"))
    ap.add_argument("--windmp", default=os.path.join(build, "core", "windmp"))
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="windmp-demo-")
    if os.path.exists(args.output):
        os.unlink(args.output)
    with qemu.VM(args.qemu, args.guest, append=args.append, workdir=work,
                 accel=args.accel, name="demo") as vm:
        print(f"booting {os.path.basename(args.guest)} ({args.append}) in"
              f" {args.qemu} with {vm.accel}, 2 vCPUs")
        t0 = time.monotonic()
        # nested KVM makes the guest's first touch of each page slow
        ready = vm.wait_ready(timeout=900)
        print(f"guest ready after {time.monotonic() - t0:.0f} s and crashed on"
              f" purpose: bugcheck {ready.get('bugcheck', 0):#x}")
        print(f"(qemu) dump-guest-memory -w {args.output}")
        out = vm.hmp(f"dump-guest-memory -w {args.output}")
        if out.strip():
            print(out.strip())
        stderr = vm.stderr().strip()
        if stderr:
            print(stderr)
        kernel = os.path.splitext(args.output)[0] + "-kernel.dmp"
        print(f"(qemu) dump-guest-memory -w -k {kernel}")
        out = vm.hmp(f"dump-guest-memory -w -k {kernel}")
        if out.strip():
            print(out.strip())
        elf = os.path.join(work, "demo.elf")
        vm.hmp(f"dump-guest-memory {elf}")
    print()
    dmp.Dump(args.output).summary()
    k = dmp.Dump(kernel)
    print(f"\nkernel memory dump {kernel}: DumpType {k['DumpType']},"
          f" {k.bitmap['Signature']}, {k.pages()} pages"
          f" ({os.path.getsize(kernel) >> 20} MiB of"
          f" {os.path.getsize(args.output) >> 20}: the guest's kernel maps"
          f" 16 MiB), KDBG through its DTB:"
          f" {'yes' if k.kdbg_ok() else 'NO'}")

    converted = os.path.splitext(args.output)[0] + "-from-elf.dmp"
    print(f"\n$ windmp convert demo.elf {converted}")
    rc = subprocess.call([args.windmp, "convert", elf, converted])
    print(f"$ windmp verify {converted} --against demo.elf")
    rc = rc or subprocess.call([args.windmp, "verify", converted,
                                "--against", elf])
    a = open(converted, "rb").read()
    b = open(args.output, "rb").read()
    # the header's SystemTime: the core's mtime vs the time of the dump
    hdr, t = (0x2000, 0xFA8) if a[4:8] == b"DU64" else (0x1000, 0xFC0)
    fields = sorted({"SystemTime" if t <= i < t + 8 else f"header+{i:#x}"
                     for i in range(min(hdr, len(a), len(b)))
                     if a[i] != b[i]})
    pages_same = a[hdr:] == b[hdr:]
    print("converted vs in-tree dump: memory",
          "identical" if pages_same else "DIFFERS",
          "- header differs in:", ", ".join(fields) or "nothing")
    os.unlink(elf)
    return rc


if __name__ == "__main__":
    sys.exit(main())
