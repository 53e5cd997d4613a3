#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""Benchmark: a kernel memory dump (dump-guest-memory -w -k) of a guest
whose kernel maps a tenth of its RAM, against the complete win-dmp that
Debian's stock QEMU writes of the same guest (it has no kernel dump), and
dd of stock's size, in the same run.

    bench/kernel-dump.py [--mem-mb 4096] [--kmap-pct 10] [--runs 3]

The test guest runs with kmap=N (its kernel direct map covers the first N
MiB of RAM; the rest is mapped nowhere in the kernel half) and user=N/2
(user-only pages above it).  Each QEMU is booted once, warmed up with one
dump, then dumped --runs times, stock, ours and dd in turn, their order
rotating each round.  Each file is synced (the +sync time), measured and
deleted.  Reported: median and minimum seconds, median seconds with the
sync, file size and allocated disk, and ours against stock.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(top, "tests", "e2e"))
import qemu  # noqa: E402


class Row:
    def __init__(self, label):
        self.label = label
        self.t, self.ts, self.size, self.alloc = [], [], 0, 0

    def measure(self, path, t):
        t0 = time.monotonic()
        fd = os.open(path, os.O_RDONLY)
        os.fsync(fd)
        os.close(fd)
        self.ts.append(t + time.monotonic() - t0)
        self.t.append(t)
        st = os.stat(path)
        self.size, self.alloc = st.st_size, st.st_blocks * 512
        os.unlink(path)


def dump(vm, path, kernel):
    t0 = time.monotonic()
    res = vm.hmp(f"dump-guest-memory -w {'-k ' if kernel else ''}{path}",
                 timeout=3600)
    t = time.monotonic() - t0
    if res.strip():
        raise RuntimeError(res.strip())
    return t


def dd(path, size):
    t0 = time.monotonic()
    subprocess.run(["dd", "if=/dev/zero", f"of={path}", "bs=1M",
                    f"count={size >> 20}", "status=none"], check=True)
    return time.monotonic() - t0


def main():
    build = os.path.join(top, "build")
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--ours", default=os.path.join(build, "qemu",
                                                   "qemu-system-x86_64"))
    ap.add_argument("--stock", default="/usr/bin/qemu-system-x86_64")
    ap.add_argument("--guest", default=os.path.join(build, "guest",
                                                    "windmp-guest64.elf"))
    ap.add_argument("--mem-mb", type=int, default=4096)
    ap.add_argument("--kmap-pct", type=int, default=10)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--accel", default="tcg")
    ap.add_argument("--dir", default="/var/tmp")
    ap.add_argument("--boot-timeout", type=float, default=1800)
    args = ap.parse_args()

    kmap = max(16, args.mem_mb * args.kmap_pct // 100)
    append = f"kmap={kmap} user={kmap // 2}"
    work = tempfile.mkdtemp(prefix="kernel-dump-", dir=args.dir)
    rows = {"stock": Row(f"stock complete -w ({args.stock})"),
            "ours": Row(f"ours kernel -w -k ({args.ours})"),
            "dd": Row("dd of stock's size")}
    vms = {}
    try:
        for name, binary in (("stock", args.stock), ("ours", args.ours)):
            vm = qemu.VM(binary, args.guest, append, workdir=work,
                         accel=args.accel, mem_mb=args.mem_mb, name=name)
            vms[name] = vm
            vm.wait_ready(timeout=args.boot_timeout)
            vm.stop()
        # warm up: one dump each
        stock_size = 0
        for name, vm in vms.items():
            p = os.path.join(work, f"{name}.dmp")
            dump(vm, p, name == "ours")
            if name == "stock":
                stock_size = os.path.getsize(p)
            os.unlink(p)
        order = ["stock", "ours", "dd"]
        for r in range(args.runs):
            for name in order[r % 3:] + order[:r % 3]:
                p = os.path.join(work, f"{name}.dmp")
                if name == "dd":
                    t = dd(p, stock_size)
                else:
                    t = dump(vms[name], p, name == "ours")
                rows[name].measure(p, t)
    finally:
        for vm in vms.values():
            vm.kill()
        for f in os.listdir(work):
            os.unlink(os.path.join(work, f))
        os.rmdir(work)

    print(f"win-dmp of a {args.mem_mb} MiB guest ({args.accel}) whose kernel"
          f" maps {kmap} MiB ({append}), {args.runs} runs each")
    print(f"{'':44} {'median s':>9} {'min s':>7} {'+sync s':>8}"
          f" {'file MiB':>9} {'disk MiB':>9}")
    for name in ("stock", "ours", "dd"):
        w = rows[name]
        print(f"{w.label[:44]:44} {statistics.median(w.t):9.2f}"
              f" {min(w.t):7.2f} {statistics.median(w.ts):8.2f}"
              f" {w.size / 2**20:9.0f} {w.alloc / 2**20:9.0f}")
    s, o = rows["stock"], rows["ours"]
    print(f"ours / stock: time {statistics.median(o.t) / statistics.median(s.t):.3f},"
          f" with sync {statistics.median(o.ts) / statistics.median(s.ts):.3f},"
          f" file {o.size / s.size:.3f}, disk {o.alloc / max(s.alloc, 1):.3f}")


if __name__ == "__main__":
    main()
