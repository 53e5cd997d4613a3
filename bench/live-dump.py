#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: how long a live win-dmp pauses the guest, against the
ordinary dump (ours and Debian's stock QEMU), all in one run.

    bench/live-dump.py [--mem-mb 1024,4096,16384] [--runs 3]
                       [--accel tcg|kvm] [--dir DIR]

For each guest size it boots the test guest in stock QEMU and in ours,
idle (all vCPUs halted) and busy (vCPU 1 stamps the pages of a RAM
range in turn, 4 KiB at a time, as fast as it can: the test guest's busy=
option; its largest RAM range), and takes --runs dumps of each kind after a warm-up, each to a
new file in --dir (deleted afterwards; not synced: the page cache's
speed).  The pause is the time from QMP's STOP event to RESUME (an
ordinary dump resumes at the end: its pause is the whole dump), the total
from STOP to DUMP_COMPLETED; both from QEMU's own event timestamps.
Extra host memory: the live dump's peak of page copies (its
dump_live_finish trace event) and the growth of QEMU's peak RSS over the
VM's dumps; "protect": how long write-protecting guest RAM took, the
part of the pause that grows with the guest (dump_live_start).
Reported: median and maximum pause, median total, live against ours.
"""

import argparse
import os
import re
import statistics
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests", "e2e"))
import qemu  # noqa: E402

FINISH_RE = re.compile(r"(\d+) pages copied before the dump reached them,"
                       r" at most (\d+) bytes of copies at once; (\d+) guest"
                       r" writes waited")
START_RE = re.compile(r"write-protected \d+ bytes of guest RAM in (\d+) us")
MiB = 1 << 20


def ts(e):
    return e["timestamp"]["seconds"] + e["timestamp"]["microseconds"] / 1e6


def one_dump(vm, path, live):
    """(pause s, total s, peak copy bytes or None, write-protect s or
    None) of one detached dump."""
    vm.qmp.events.clear()
    extra = {"live": True} if live else None
    _, ev = vm.dump(path, detach=True, extra=extra, timeout=1200)
    if "error" in ev["data"]:
        raise RuntimeError(f"dump failed: {ev['data']['error']}")
    os.unlink(path)
    # an ordinary dump resumes the guest after DUMP_COMPLETED
    resume = vm.qmp.wait_event("RESUME", timeout=60)
    stop = [e for e in vm.qmp.events if e["event"] == "STOP"]
    resume = [resume] + [e for e in vm.qmp.events if e["event"] == "RESUME"]
    if len(stop) != 1 or len(resume) != 1:
        raise RuntimeError(f"events {[e['event'] for e in vm.qmp.events]}")
    peak = protect = None
    if live:
        m = FINISH_RE.findall(vm.stderr())
        peak = int(m[-1][1]) if m else None
        m = START_RE.findall(vm.stderr())
        protect = int(m[-1]) / 1e6 if m else None
    return ts(resume[0]) - ts(stop[0]), ts(ev) - ts(stop[0]), peak, protect


def busy_region(mem_mb):
    """The largest RAM range of a pc guest of mem_mb, above 16 MiB: QEMU
    puts RAM from 3 GiB (the PCI hole, with more than 3.5 GiB) above 4 GiB"""
    low = mem_mb * MiB if mem_mb * MiB < 0xE0000000 else 0xC0000000
    high = mem_mb * MiB - low
    if high > low:
        return 1 << 32, high - 16 * MiB
    return 16 * MiB, low - 32 * MiB


def case(args, binary, mem_mb, busy, kinds, work):
    append = "kdbg=encoded"
    if busy:
        base, size = busy_region(mem_mb)
        append += f" busy=1,{base:#x},{size:#x}"
    vm = qemu.VM(binary, os.path.join(args.guest, "windmp-guest64.elf"),
                 append, workdir=work, accel=args.accel, mem_mb=mem_mb,
                 extra_args=["-trace", "dump_live_*"]
                 if "live" in kinds else [])
    rows = {}
    try:
        vm.wait_ready(timeout=3600)
        rss0 = qemu.peak_rss_kb(vm.proc.pid)
        path = os.path.join(work, "bench.dmp")
        for kind in kinds:
            one_dump(vm, path, kind == "live")      # warm-up
            rows[kind] = [one_dump(vm, path, kind == "live")
                          for _ in range(args.runs)]
        rss = (qemu.peak_rss_kb(vm.proc.pid) - rss0) * 1024
    finally:
        vm.kill()
    return rows, rss


def fmt_s(v):
    return f"{v * 1000:.1f} ms" if v < 1 else f"{v:.2f} s"


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mem-mb", default="1024,4096,16384")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--dir", default=None,
                    help="where the dumps go (default: a directory in"
                         " build/, on disk)")
    ap.add_argument("--qemu", default=os.path.join(
        top, "build/qemu/qemu-system-x86_64"))
    ap.add_argument("--stock", default="/usr/bin/qemu-system-x86_64")
    ap.add_argument("--guest", default=os.path.join(top, "build/guest"))
    args = ap.parse_args()

    base = args.dir or os.path.join(top, "build")
    print(f"live win-dmp against the ordinary dump, {args.accel},"
          f" {args.runs} runs each after a warm-up; times from QEMU's"
          f" STOP/RESUME/DUMP_COMPLETED events")
    print(f"{'guest':>7} {'load':>5} {'dump':>13} {'pause med':>10}"
          f" {'pause max':>10} {'total med':>10} {'vs ours':>8}"
          f" {'copies':>9} {'RSS +':>9} {'protect':>9}")
    for mem_mb in (int(m) for m in args.mem_mb.split(",")):
        with tempfile.TemporaryDirectory(dir=base) as work:
            for busy in (False, True):
                load = "busy" if busy else "idle"
                res = {}
                if not busy:
                    r, rss = case(args, args.stock, mem_mb, False,
                                  ["ordinary"], work)
                    res["stock ordinary"] = (r["ordinary"], rss)
                r, rss = case(args, args.qemu, mem_mb, busy,
                              ["ordinary", "live"], work)
                res["ours ordinary"] = (r["ordinary"], rss)
                res["ours live"] = (r["live"], rss)
                size = (f"{mem_mb // 1024}G" if mem_mb % 1024 == 0
                        else f"{mem_mb}M")
                ref = statistics.median(t for _, t, _, _ in r["ordinary"])
                for name, (runs, rss) in res.items():
                    pauses = [p for p, _, _, _ in runs]
                    total = statistics.median(t for _, t, _, _ in runs)
                    peaks = [c for _, _, c, _ in runs if c is not None]
                    prot = [w for _, _, _, w in runs if w is not None]
                    copies = (f"{max(peaks) / MiB:.0f} MiB" if peaks
                              else "-")
                    print(f"{size:>6} {load:>6} {name:>13}"
                          f" {fmt_s(statistics.median(pauses)):>10}"
                          f" {fmt_s(max(pauses)):>10} {fmt_s(total):>10}"
                          f" {total / ref:>7.2f}x {copies:>9}"
                          f" {rss / MiB:>6.0f} MiB"
                          f" {fmt_s(statistics.median(prot)) if prot else '-':>9}",
                          flush=True)


if __name__ == "__main__":
    main()
