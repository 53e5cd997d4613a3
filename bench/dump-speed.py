#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: how fast win-dmp writes a dump, ours against stock QEMU (and
against dd of the same size, the page cache's own speed), side by side in
one run.  Also the QEMU process's peak RSS growth during the dump, since a
dump must not buffer guest memory.  Then windmp convert of an ELF core of
the same guest into the same .dmp, and its peak anonymous memory (the core
is mapped, so its pages count as file-backed RSS, not as windmp's own).

    bench/dump-speed.py [--mem-mb 2048] [--runs 3] [--accel tcg]

Boots the test guest (which fills all its RAM with a pattern) once per
QEMU, then dumps it --runs times into a temporary directory.
"""

import argparse
import shutil
import os
import statistics
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests", "e2e"))
import qemu  # noqa: E402


def peak_rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def bench_qemu(label, binary, guest, args, work, elf=None):
    times, size, rss = [], 0, []
    with qemu.VM(binary, guest, workdir=work, accel=args.accel,
                 mem_mb=args.mem_mb, name=label) as vm:
        vm.wait_ready(timeout=args.boot_timeout)
        if elf:
            vm.stop()
            vm.hmp(f"dump-guest-memory {elf}", timeout=600)
        out = os.path.join(work, f"{label}.dmp")
        for _ in range(args.runs):
            if os.path.exists(out):
                os.unlink(out)
            before = peak_rss_kb(vm.proc.pid)
            t0 = time.monotonic()
            res = vm.hmp(f"dump-guest-memory -w {out}", timeout=600)
            times.append(time.monotonic() - t0)
            if res.strip():
                raise RuntimeError(f"{label}: {res.strip()}")
            size = os.path.getsize(out)
            rss.append(peak_rss_kb(vm.proc.pid) - before)
            os.unlink(out)
    return times, size, max(rss)


def anon_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def bench_convert(tool, elf, runs, work):
    """windmp convert --runs times; the peak of its anonymous RSS."""
    times, peak = [], 0
    out = os.path.join(work, "convert.dmp")
    for _ in range(runs):
        t0 = time.monotonic()
        p = subprocess.Popen([tool, "convert", "-q", elf, out])
        while p.poll() is None:
            peak = max(peak, anon_kb(p.pid))
            time.sleep(0.005)
        times.append(time.monotonic() - t0)
        if p.returncode:
            raise RuntimeError(f"windmp convert exited {p.returncode}")
        size = os.path.getsize(out)
        os.unlink(out)
    return times, size, peak


def bench_dd(size, runs, work):
    times = []
    out = os.path.join(work, "dd.out")
    for _ in range(runs):
        t0 = time.monotonic()
        subprocess.run(["dd", "if=/dev/zero", f"of={out}", "bs=1M",
                        f"count={size >> 20}", "status=none"], check=True)
        times.append(time.monotonic() - t0)
        os.unlink(out)
    return times


def main():
    build = os.environ.get("WINDMP_BUILD", os.path.join(top, "build"))
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ours", default=os.path.join(build, "qemu",
                                                   "qemu-system-x86_64"))
    ap.add_argument("--stock", default="/usr/bin/qemu-system-x86_64")
    ap.add_argument("--windmp", default=os.path.join(build, "core",
                                                     "windmp"))
    ap.add_argument("--guest", default=os.path.join(build, "guest",
                                                    "windmp-guest64.elf"))
    ap.add_argument("--mem-mb", type=int, default=2048)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--accel", default="tcg",
                    help="tcg boots big guests faster on nested KVM")
    ap.add_argument("--boot-timeout", type=float, default=900)
    args = ap.parse_args()

    work = tempfile.mkdtemp(prefix="windmp-bench-", dir="/var/tmp")
    rows = []
    elf = os.path.join(work, "core.elf")
    for label, binary in (("stock", args.stock), ("ours", args.ours)):
        times, size, rss = bench_qemu(label, binary, args.guest, args, work,
                                      elf=elf if label == "ours" else None)
        rows.append((f"{label} ({binary})", times, size, rss))
    size = rows[-1][2]
    rows.append(("dd of the same size", bench_dd(size, args.runs, work),
                 size, 0))
    times, csize, anon = bench_convert(args.windmp, elf, args.runs, work)
    if csize != size:
        raise RuntimeError(f"windmp convert wrote {csize} bytes, the"
                           f" in-tree dump {size}")
    rows.append(("windmp convert of its ELF core (anon RSS)", times, csize,
                 anon))
    shutil.rmtree(work)

    print(f"win-dmp of a {args.mem_mb} MiB guest ({args.accel}),"
          f" {args.runs} runs each, file {size / 2**20:.0f} MiB")
    print(f"{'':44} {'median s':>9} {'min s':>7} {'MiB/s':>7} {'+RSS KiB':>9}")
    for name, times, sz, rss in rows:
        med = statistics.median(times)
        print(f"{name[:44]:44} {med:9.2f} {min(times):7.2f}"
              f" {sz / 2**20 / med:7.0f} {rss:9d}")


if __name__ == "__main__":
    main()
