#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: how fast win-dmp writes a dump and how much disk it takes,
ours against Debian's stock QEMU and against dd of the same size (the page
cache's and the disk's own speed), all in the same run.

    bench/dump-speed.py [--mem-mb 4096,16384] [--zero 256/512,16/32,0/1]
                        [--runs 3]

For each guest size and each zero pattern (the test guest's zero=N/D
option: the pattern pages with PFN % D < N are all zero, so 256/512 is
half of them zero in runs of 1 MiB between 1 MiB of data, 16/32 the same
in 64 KiB runs, which are too short to be holes, 0/1 no zero page),
it boots the test guest in stock QEMU and in ours, warms up with one dump
each, then dumps --runs times, stock, ours and dd in turn (their order
rotating each round).  Each dump goes to a new file on --dir; after it the
file is synced (the +sync time: writeback of what the dump left in the page
cache), measured and deleted.  Reported: median and minimum seconds of the
dump, median seconds of the dump plus its sync, file size, allocated disk
(st_blocks), and ours against stock.  Also the growth of each QEMU's peak
RSS during its dumps (a dump must not buffer guest memory) and, unless
--no-convert, windmp convert of an ELF core of the same guest (its peak
anonymous memory: the core is mapped, so its pages are page cache).

When the two guests do not fit in memory side by side (--parallel-max-mb),
each QEMU runs alone: --rounds boots of each in alternating order, each
with a warm-up and its share of the runs, dd after each dump.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests", "e2e"))
import qemu  # noqa: E402


def anon_kb(pid):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("RssAnon:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


TICK = os.sysconf("SC_CLK_TCK")


def cpu_s(pid):
    """User + system CPU seconds of a process so far, all its threads."""
    with open(f"/proc/{pid}/stat") as f:
        v = f.read().rsplit(")", 1)[1].split()
    return (int(v[11]) + int(v[12])) / TICK


def sync_time():
    t0 = time.monotonic()
    os.sync()
    return time.monotonic() - t0


class Row:
    def __init__(self, name):
        self.name = name
        self.times, self.synced, self.cpu = [], [], []
        self.size = self.alloc = self.rss = 0

    def measure(self, path, t, cpu):
        """Record one run that wrote path in t seconds (cpu of them on a
        CPU); delete the file."""
        ts = sync_time()
        st = os.stat(path)
        self.times.append(t)
        self.cpu.append(cpu)
        self.synced.append(t + ts)
        self.size, self.alloc = st.st_size, st.st_blocks * 512
        os.unlink(path)


class Dumper:
    """One QEMU with the booted guest; dump() times one win-dmp."""

    def __init__(self, label, binary, args, append, work, row=None):
        self.label, self.work = label, work
        self.row = row or Row(f"{label} ({binary})")
        self.vm = qemu.VM(binary, args.guest, append, workdir=work,
                          accel=args.accel, mem_mb=args.mem_mb_now,
                          name=label)
        try:
            self.vm.wait_ready(timeout=args.boot_timeout)
            self.vm.stop()
        except BaseException:
            self.vm.kill()
            raise

    def dump(self, measure=True):
        """One dump; returns the size of its file."""
        out = os.path.join(self.work, f"{self.label}.dmp")
        before = qemu.peak_rss_kb(self.vm.proc.pid)
        c0 = cpu_s(self.vm.proc.pid)
        t0 = time.monotonic()
        res = self.vm.hmp(f"dump-guest-memory -w {out}", timeout=3600)
        t = time.monotonic() - t0
        cpu = cpu_s(self.vm.proc.pid) - c0
        if res.strip():
            raise RuntimeError(f"{self.label}: {res.strip()}")
        size = os.path.getsize(out)
        if measure:
            self.row.rss = max(self.row.rss,
                               qemu.peak_rss_kb(self.vm.proc.pid) - before)
            self.row.measure(out, t, cpu)
        else:
            os.unlink(out)
            os.sync()
        return size

    def elf(self, path):
        self.vm.hmp(f"dump-guest-memory {path}", timeout=3600)

    def kill(self):
        self.vm.kill()


def dd(row, size, work, measure=True):
    out = os.path.join(work, "dd.out")
    t0 = time.monotonic()
    p = subprocess.Popen(["dd", "if=/dev/zero", f"of={out}", "bs=1M",
                          f"count={size >> 20}", "status=none"])
    _, status, ru = os.wait4(p.pid, 0)
    t = time.monotonic() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    if p.returncode:
        raise RuntimeError(f"dd exited {p.returncode}")
    if measure:
        row.measure(out, t, ru.ru_utime + ru.ru_stime)
    else:
        os.unlink(out)
        os.sync()


def bench_convert(tool, elf, runs, work):
    """windmp convert: a warm-up, then --runs times."""
    row = Row("windmp convert of its ELF core (anon RSS)")
    out = os.path.join(work, "convert.dmp")
    for i in range(runs + 1):
        peak = 0
        t0 = time.monotonic()
        p = subprocess.Popen([tool, "convert", "-q", elf, out])
        while True:
            pid, status, ru = os.wait4(p.pid, os.WNOHANG)
            if pid:
                break
            peak = max(peak, anon_kb(p.pid))
            time.sleep(0.005)
        t = time.monotonic() - t0
        p.returncode = os.waitstatus_to_exitcode(status)
        if p.returncode:
            raise RuntimeError(f"windmp convert exited {p.returncode}")
        if i:
            row.rss = max(row.rss, peak)
            row.measure(out, t, ru.ru_utime + ru.ru_stime)
        else:
            os.unlink(out)
    return row


def run_case(args, mem_mb, zero, work):
    """Returns the rows (stock, ours, dd[, convert]) and whether the two
    QEMUs ran side by side."""
    args.mem_mb_now = mem_mb
    append = f"zero={zero}"
    rows = {}
    dd_row = Row("dd of the same size")
    parallel = 2 * mem_mb <= args.parallel_max_mb
    elf = os.path.join(work, "core.elf") if not args.no_convert else None
    size = {}

    def rotated(names, r):
        return names[r % len(names):] + names[:r % len(names)]

    if parallel:
        ds = {}
        try:
            for label, binary in (("stock", args.stock), ("ours", args.ours)):
                ds[label] = Dumper(label, binary, args, append, work)
                rows[label] = ds[label].row
            for label, d in ds.items():
                size[label] = d.dump(measure=False)
            dd(dd_row, size["stock"], work, measure=False)
            for r in range(args.runs):
                for who in rotated(["stock", "ours", "dd"], r):
                    if who == "dd":
                        dd(dd_row, size["stock"], work)
                    else:
                        ds[who].dump()
            if elf:
                ds["ours"].elf(elf)
        finally:
            for d in ds.values():
                d.kill()
    else:
        # rounds of one boot each, in alternating order, so that what else
        # the machine does meanwhile weighs on both
        rounds = max(1, min(args.rounds, args.runs))
        for k in range(rounds):
            order = [("stock", args.stock), ("ours", args.ours)]
            if k % 2:
                order.reverse()
            for label, binary in order:
                d = Dumper(label, binary, args, append, work, rows.get(label))
                try:
                    rows[label] = d.row
                    size[label] = d.dump(measure=False)
                    for r in range(args.runs // rounds +
                                   (k < args.runs % rounds)):
                        d.dump()
                        dd(dd_row, size[label], work)
                    if label == "ours" and elf and k == rounds - 1:
                        d.elf(elf)
                finally:
                    d.kill()
    if size["ours"] != size["stock"]:
        raise RuntimeError(f"ours wrote {size['ours']} bytes, stock"
                           f" {size['stock']}")
    out = [rows["stock"], rows["ours"], dd_row]
    if elf:
        conv = bench_convert(args.windmp, elf, args.runs, work)
        os.unlink(elf)
        if conv.size != size["ours"]:
            raise RuntimeError(f"windmp convert wrote {conv.size} bytes,"
                               f" the in-tree dump {size['ours']}")
        out.append(conv)
    return out, "interleaved" if parallel else \
        f"one QEMU at a time, {rounds} boots each in alternating order"


def report(mem_mb, zero, args, rows, how):
    n, d = (int(x) for x in zero.split("/"))
    what = ("no page zero" if n == 0 else
            f"{n}/{d} of its pages zero, in runs of {n * 4} KiB")
    stock = rows[0]
    s_med = statistics.median(stock.times)
    s_sync = statistics.median(stock.synced)
    s_cpu = statistics.median(stock.cpu)
    print(f"\nwin-dmp of a {mem_mb} MiB guest, zero={zero} ({what}),"
          f" {args.accel}, {args.runs} runs each after a warm-up,"
          f" {how}")
    print(f"{'':36} {'median s':>8} {'min s':>6} {'+sync s':>7}"
          f" {'cpu s':>6} {'file MiB':>8} {'disk MiB':>8}"
          f" | {'×stock: t':>9} {'t+sync':>6} {'cpu':>5} {'disk':>5}"
          f" | {'+RSS KiB':>8}")
    for r in rows:
        med = statistics.median(r.times)
        syn = statistics.median(r.synced)
        cpu = statistics.median(r.cpu)
        print(f"{r.name[:36]:36} {med:8.2f} {min(r.times):6.2f} {syn:7.2f}"
              f" {cpu:6.2f} {r.size / 2**20:8.0f} {r.alloc / 2**20:8.0f}"
              f" | {med / s_med:9.2f} {syn / s_sync:6.2f}"
              f" {cpu / s_cpu:5.2f} {r.alloc / stock.alloc:5.2f}"
              f" | {r.rss:8d}")


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
    ap.add_argument("--mem-mb", default="4096",
                    help="guest sizes, comma-separated (4096,16384)")
    ap.add_argument("--zero", default="256/512,16/32,0/1",
                    help="the guest's zero=N/D patterns, comma-separated")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--accel", default="tcg",
                    help="tcg boots big guests faster on nested KVM")
    ap.add_argument("--dir", default="/var/tmp",
                    help="where the dumps go: a disk with room for two")
    ap.add_argument("--parallel-max-mb", type=int, default=12288,
                    help="run both QEMUs at once up to this much guest RAM")
    ap.add_argument("--rounds", type=int, default=2,
                    help="boots of each QEMU when they run one at a time")
    ap.add_argument("--no-convert", action="store_true")
    ap.add_argument("--boot-timeout", type=float, default=1800)
    args = ap.parse_args()

    for mem_mb in (int(m) for m in args.mem_mb.split(",")):
        for zero in args.zero.split(","):
            work = tempfile.mkdtemp(prefix="windmp-bench-", dir=args.dir)
            try:
                rows, how = run_case(args, mem_mb, zero, work)
            finally:
                shutil.rmtree(work)
            report(mem_mb, zero, args, rows, how)
            sys.stdout.flush()


if __name__ == "__main__":
    main()
