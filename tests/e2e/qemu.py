# SPDX-License-Identifier: GPL-2.0-or-later
"""
Small harness for the win-dmp end-to-end tests: start a QEMU binary with the
windmp test guest, talk QMP over a unix socket (a tiny client written here,
no dependency on qemu.qmp), wait for the guest's READY/FAIL line on serial,
run HMP commands, parse "info registers -a", save guest RAM with pmemsave,
take dumps (sync, detached with query-dump polling, HMP, to a pipe) and
always kill QEMU on teardown.
"""
import json
import os
import re
import select
import socket
import subprocess
import threading
import time

# nested KVM runs the guest's RAM fill slowly (~70 s measured for 128M)
READY_TIMEOUT = os.environ.get("WINDMP_READY_TIMEOUT")
DUMP_TIMEOUT = float(os.environ.get("WINDMP_DUMP_TIMEOUT", "120"))


class QMPError(Exception):
    """A QMP command returned an error: .cls and .desc hold it."""

    def __init__(self, cmd, err):
        self.cmd = cmd
        self.cls = err.get("class", "")
        self.desc = err.get("desc", "")
        super().__init__(f"{cmd}: {self.cls}: {self.desc}")


class QMP:
    """Minimal QMP client: negotiate, execute, collect events."""

    def __init__(self, path, timeout=30.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.sock.connect(path)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.buf = b""
        self.events = []
        self.timeout = timeout
        greeting = self._recv()
        # seen once under load: an event ahead of the greeting; keep it
        while "event" in greeting:
            self.events.append(greeting)
            greeting = self._recv()
        if "QMP" not in greeting:
            raise RuntimeError(f"bad QMP greeting: {greeting}")
        self.execute("qmp_capabilities")

    def _recv(self, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError("QMP: no reply")
            r, _, _ = select.select([self.sock], [], [], left)
            if r:
                data = self.sock.recv(65536)
                if not data:
                    raise ConnectionError("QMP: connection closed by QEMU")
                self.buf += data
        line, self.buf = self.buf.split(b"\n", 1)
        return json.loads(line)

    def _recv_reply(self, timeout=None):
        while True:
            m = self._recv(timeout)
            if "event" in m:
                self.events.append(m)
                continue
            return m

    def send(self, cmd, args=None):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        self.sock.sendall(json.dumps(msg).encode() + b"\n")

    def execute(self, cmd, args=None, timeout=None, fds=None):
        msg = {"execute": cmd}
        if args:
            msg["arguments"] = args
        data = json.dumps(msg).encode() + b"\n"
        if fds:
            socket.send_fds(self.sock, [data], fds)
        else:
            self.sock.sendall(data)
        r = self._recv_reply(timeout)
        if "error" in r:
            raise QMPError(cmd, r["error"])
        return r.get("return")

    def wait_event(self, name, timeout=None):
        deadline = time.monotonic() + (timeout or self.timeout)
        while True:
            for i, e in enumerate(self.events):
                if e["event"] == name:
                    return self.events.pop(i)
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"QMP: no {name} event")
            m = self._recv(left)
            if "event" in m:
                self.events.append(m)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


REG_RE = re.compile(r"\b([A-Z][A-Z0-9]*)\s*=\s*([0-9a-fA-F]+)\b")
SEG_RE = re.compile(r"^(ES|CS|SS|DS|FS|GS|LDT|TR)\s*=\s*([0-9a-fA-F]+)\s", re.M)


def parse_registers(text):
    """Parse 'info registers -a' into a list (by CPU index) of dicts.
    Keys: RAX..R15 (or EAX..EDI), RIP/EIP, RFL/EFL, ES..GS (selectors),
    DR0..DR7, MXCSR, CR0..CR4, FCW, FSW, FTW, XMM00.. (hex strings to int)."""
    cpus = []
    blocks = re.split(r"^CPU#(\d+)\s*$", text, flags=re.M)
    if len(blocks) == 1:
        blocks = ["", "0", text]
    for i in range(1, len(blocks), 2):
        body = blocks[i + 1]
        regs = {}
        for line in body.splitlines():
            m = SEG_RE.match(line)
            if m:
                regs[m.group(1)] = int(m.group(2), 16)
                continue
            for k, v in REG_RE.findall(line):
                if k in ("CPL", "II", "A20", "SMM", "HLT", "DPL"):
                    continue
                regs.setdefault(k, int(v, 16))
        # 32-bit mode prints EAX..; give R-names too
        for e, r in (("EAX", "RAX"), ("EBX", "RBX"), ("ECX", "RCX"),
                     ("EDX", "RDX"), ("ESI", "RSI"), ("EDI", "RDI"),
                     ("EBP", "RBP"), ("ESP", "RSP"), ("EIP", "RIP"),
                     ("EFL", "RFL")):
            if e in regs and r not in regs:
                regs[r] = regs[e]
        regs["_index"] = int(blocks[i])
        cpus.append(regs)
    return cpus


def default_accel():
    a = os.environ.get("WINDMP_ACCEL")
    if a:
        if a not in ("kvm", "tcg"):
            raise ValueError(f"WINDMP_ACCEL must be kvm or tcg, not {a!r}")
        return a
    return "kvm" if os.access("/dev/kvm", os.W_OK) else "tcg"


class GuestFailed(Exception):
    pass


class VM:
    """One QEMU process running the windmp test guest."""

    def __init__(self, binary, kernel, append="", workdir=".", accel=None,
                 smp=2, mem_mb=128, vmcoreinfo=True, pvpanic=True,
                 extra_args=(), name="vm"):
        self.binary = binary
        self.kernel = kernel
        self.append = append
        self.workdir = str(workdir)
        self.accel = accel or default_accel()
        self.smp = smp
        self.mem = mem_mb << 20
        self.name = name
        os.makedirs(self.workdir, exist_ok=True)
        self.sock_path = os.path.join(self.workdir, f"{name}.qmp")
        self.serial_path = os.path.join(self.workdir, f"{name}.serial")
        self.stderr_path = os.path.join(self.workdir, f"{name}.stderr")
        for p in (self.sock_path, self.serial_path):
            if os.path.exists(p):
                os.unlink(p)
        args = [binary, "-machine", "pc", "-accel", self.accel,
                "-m", f"{mem_mb}M", "-smp", str(smp), "-nodefaults",
                "-display", "none", "-serial", f"file:{self.serial_path}",
                "-action", "panic=none",
                "-qmp", f"unix:{self.sock_path},server=on,wait=off",
                "-kernel", kernel]
        if append:
            args += ["-append", append]
        if vmcoreinfo:
            args += ["-device", "vmcoreinfo"]
        if pvpanic:
            args += ["-device", "pvpanic"]
        args += list(extra_args)
        self.args = args
        self.stderr_f = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.stderr_f,
                                     stderr=self.stderr_f)
        self.qmp = None
        self.ready = None
        try:
            self._connect()
        except BaseException:
            self.kill()
            raise

    def _connect(self):
        deadline = time.monotonic() + 30
        while not os.path.exists(self.sock_path):
            if self.proc.poll() is not None:
                raise RuntimeError(f"QEMU exited ({self.proc.returncode}):"
                                   f" {self.stderr()}\n{' '.join(self.args)}")
            if time.monotonic() > deadline:
                raise TimeoutError("QEMU did not create its QMP socket")
            time.sleep(0.02)
        self.qmp = QMP(self.sock_path)

    # ------------------------------------------------------------ output
    def serial(self):
        try:
            with open(self.serial_path, "rb") as f:
                return f.read().decode("latin-1")
        except FileNotFoundError:
            return ""

    def stderr(self):
        self.stderr_f.flush()
        with open(self.stderr_path, "rb") as f:
            return f.read().decode("latin-1")

    def stderr_mark(self):
        return len(self.stderr())

    def wait_ready(self, timeout=None):
        """Wait for 'WINDMP-GUEST READY ...' and return its key=value dict."""
        if timeout is None:
            timeout = float(READY_TIMEOUT or (240 if self.accel == "kvm"
                                              else 60))
        deadline = time.monotonic() + timeout
        while True:
            s = self.serial()
            m = re.search(r"WINDMP-GUEST READY ([^\r\n]*)\r?\n", s)
            if m:
                d = {}
                for kv in m.group(1).split():
                    k, _, v = kv.partition("=")
                    d[k] = v
                self.ready = parse_ready(d)
                return self.ready
            m = re.search(r"WINDMP-GUEST FAIL ([^\r\n]*)", s)
            if m:
                raise GuestFailed(f"guest failed: {m.group(1)}\n{s}")
            if self.proc.poll() is not None:
                raise RuntimeError(f"QEMU exited ({self.proc.returncode})"
                                   f" before READY: {self.stderr()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"no READY line after {timeout}s"
                                   f" ({self.accel}); serial:\n{s}")
            time.sleep(0.05)

    # ------------------------------------------------------------ monitor
    def cmd(self, name, args=None, **kw):
        return self.qmp.execute(name, args, **kw)

    def hmp(self, line, timeout=None):
        return self.qmp.execute("human-monitor-command",
                                {"command-line": line}, timeout=timeout)

    def alive(self):
        """True if the process runs and answers query-status."""
        if self.proc.poll() is not None:
            return False
        try:
            self.cmd("query-status", timeout=10)
            return True
        except Exception:
            return False

    def registers(self):
        return parse_registers(self.hmp("info registers -a"))

    def stop(self):
        self.cmd("stop")

    def cont(self):
        self.cmd("cont")

    def pmemsave(self, path):
        """Save all guest RAM (0 .. -m) and return its bytes."""
        self.cmd("pmemsave", {"val": 0, "size": self.mem, "filename": path},
                 timeout=DUMP_TIMEOUT)
        with open(path, "rb") as f:
            data = f.read()
        os.unlink(path)
        if len(data) != self.mem:
            raise RuntimeError(f"pmemsave wrote {len(data)} bytes")
        return data

    # ------------------------------------------------------------ dumps
    def dump(self, path, fmt="win-dmp", paging=False, detach=False,
             extra=None, timeout=DUMP_TIMEOUT):
        """QMP dump-guest-memory to a file; raises QMPError on refusal.
        With detach, polls query-dump and waits for DUMP_COMPLETED; returns
        (list of query-dump results, event)."""
        args = {"paging": paging, "protocol": f"file:{path}"}
        if fmt:
            args["format"] = fmt
        if detach:
            args["detach"] = True
        if extra:
            args.update(extra)
        self.cmd("dump-guest-memory", args, timeout=timeout)
        if not detach:
            return None
        polls = []
        deadline = time.monotonic() + timeout
        while True:
            q = self.cmd("query-dump")
            polls.append(q)
            if q["status"] in ("completed", "failed"):
                break
            if time.monotonic() > deadline:
                raise TimeoutError("detached dump did not finish")
            time.sleep(0.01)
        ev = self.qmp.wait_event("DUMP_COMPLETED", timeout=timeout)
        return polls, ev

    def dump_hmp(self, path, timeout=DUMP_TIMEOUT):
        """HMP 'dump-guest-memory -w'; returns the monitor's output."""
        return self.hmp(f"dump-guest-memory -w {path}", timeout=timeout)

    def dump_to_pipe(self, fmt="win-dmp", timeout=DUMP_TIMEOUT, extra=None):
        """Pass a pipe's write end with getfd, dump to fd:NAME (with the
        dump-guest-memory arguments in extra), and return the bytes a
        reader thread collected from the read end."""
        r, w = os.pipe()
        chunks = []

        def reader():
            while True:
                b = os.read(r, 1 << 20)
                if not b:
                    break
                chunks.append(b)

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            self.cmd("getfd", {"fdname": "windmp-pipe"}, fds=[w])
            os.close(w)
            w = -1
            self.cmd("dump-guest-memory", {"paging": False, "format": fmt,
                                           "protocol": "fd:windmp-pipe",
                                           **(extra or {})},
                     timeout=timeout)
        finally:
            if w >= 0:
                os.close(w)
        t.join(timeout)
        os.close(r)
        if t.is_alive():
            raise TimeoutError("pipe reader did not see EOF")
        return b"".join(chunks)

    # ------------------------------------------------------------ teardown
    def kill(self):
        if self.qmp:
            self.qmp.close()
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        self.stderr_f.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.kill()


def peak_rss_kb(pid):
    """The peak resident set of process pid (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def _int(v):
    return int(v, 0)


def parse_ready(d):
    """Typed view of the READY line."""
    out = dict(d)
    for k in ("cpus", "kdbg", "kdbg_hdr", "dtb", "note", "bugcheck",
              "pattern_from", "ram_end", "levels"):
        if k in d:
            out[k] = _int(d[k])
    for k in ("prcb", "ctx", "ctx_pa"):
        if k in d:
            out[k] = [_int(x) for x in d[k].split(",")]
    return out


def first_diff(a, b):
    """Offset of the first differing byte (or None if equal)."""
    if a == b:
        return None
    n = min(len(a), len(b))
    step = 1 << 16
    for off in range(0, n, step):
        if a[off:off + step] != b[off:off + step]:
            for i in range(off, min(off + step, n)):
                if a[i] != b[i]:
                    return i
    return n


def diff_ranges(a, b, gran=4096):
    """List of (page offset) where a and b differ, page granularity."""
    out = []
    n = min(len(a), len(b))
    for off in range(0, n, gran):
        if a[off:off + gran] != b[off:off + gran]:
            out.append(off)
    return out
