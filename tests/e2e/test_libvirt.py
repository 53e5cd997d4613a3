# SPDX-License-Identifier: GPL-2.0-or-later
"""
End to end through libvirt: Debian 12's libvirt 9.0 drives our
qemu-system-x86_64 (as the domain's <emulator>) with the windmp test guest
(direct kernel boot, 2 vCPUs, <vmcoreinfo state='on'/>, a pvpanic device).

libvirt runs as the embedded QEMU driver (qemu:///embed?root=DIR): no
daemon, no socket, all state under a private root in a pytest tmp dir, its
own qemu.conf (root, no security driver, no ownership changes). Every QEMU
it started is destroyed on teardown, through virsh and, failing that, by
the pid in its pidfile. Only one virsh process uses the root at a time.

  - virsh dump --memory-only --format win-dmp [--bypass-cache] of a guest
    that reported a panic (<on_crash>preserve</on_crash>): the same checks
    as the QMP test (every header field, each CPU's CONTEXT against
    "info registers -a", every RAM page); --bypass-cache hands QEMU a pipe
    and gives the same bytes;
  - before the guest has published its header (domain created paused) the
    dump is refused: libvirt asks query-dump-guest-memory-capability first,
    so the user reads "unsupported dumpformat 'win-dmp' for this QEMU
    binary" (recorded in the results);
  - libvirt passes no -L: the build finds Debian's firmware on its own;
  - <on_crash>coredump-destroy</on_crash>: libvirt's automatic dump is ELF
    (the guest's memory and each vCPU's registers at the panic), and
    "windmp convert" turns it into a Windows dump that passes the checks.

WINDMP_LIBVIRT_SAMPLE=DIR copies the automatic ELF dump there (autodump.elf,
autodump.txt: READY line, registers at the crash, domain XML).
"""
import glob
import json
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
import time

import pytest

import checks
import dmp
import qemu

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
DEF_TOOL = os.path.join(REPO, "build/core/windmp")

REFUSAL = ("error: invalid argument: unsupported dumpformat 'win-dmp'"
           " for this QEMU binary")
VIRSH_TIMEOUT = 120
# what embedded libvirt creates outside its root (and common/system.token)
RUN_DIRS = ["/run/libvirt/common", "/run/libvirt/hostdevmgr", "/run/libvirt"]


def _ready_timeout(accel):
    return float(qemu.READY_TIMEOUT or (240 if accel == "kvm" else 60))


def _results_file(name):
    d = os.environ.get("WINDMP_RESULTS") or os.path.join(REPO, "build",
                                                         "results")
    os.makedirs(d, exist_ok=True)
    return os.path.join(d, name)


class Guest:
    """What checks.check_dump needs of a VM: the READY line and the serial
    log (for the runs the guest put in its header)."""

    def __init__(self, serial_path, ready):
        self.serial_path = serial_path
        self.ready = ready

    def serial(self):
        with open(self.serial_path, "rb") as f:
            return f.read().decode("latin-1")


class Libvirt:
    """An embedded libvirt QEMU driver under a private root."""

    def __init__(self, virsh, workdir, qemu_bin, accel):
        self.virsh = virsh
        self.dir = str(workdir)
        self.root = os.path.join(self.dir, "root")
        self.autodir = os.path.join(self.dir, "autodump")
        self.qemu_bin = os.path.abspath(qemu_bin)
        self.accel = accel
        self.mem_mb = int(os.environ.get("WINDMP_MEM_MB", "128"))
        self.domains = set()
        self.procs = []
        os.makedirs(os.path.join(self.root, "etc"))
        os.makedirs(self.autodir)
        with open(os.path.join(self.root, "etc", "qemu.conf"), "w") as f:
            f.write('user = "root"\n'
                    'group = "root"\n'
                    'security_driver = "none"\n'
                    'dynamic_ownership = 0\n'
                    'remember_owner = 0\n'
                    'stdio_handler = "file"\n'
                    f'auto_dump_path = "{self.autodir}"\n')
        self.log = os.path.join(self.root, "client.log")
        self.env = dict(os.environ,
                        LIBVIRT_DEFAULT_URI=f"qemu:///embed?root={self.root}",
                        LIBVIRT_LOG_OUTPUTS=f"1:file:{self.log}")
        self.env.pop("VIRSH_DEFAULT_CONNECT_URI", None)

    # ------------------------------------------------------------ virsh
    def run(self, *cmds, timeout=VIRSH_TIMEOUT, env=None):
        """One virsh process running cmds one after the other; the exit
        code is the last command's."""
        line = "; ".join(cmds)
        try:
            return subprocess.run([self.virsh, line],
                                  env=dict(self.env, **(env or {})),
                                  stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True,
                                  timeout=timeout)
        except subprocess.TimeoutExpired:
            pytest.fail(f"virsh {line!r}: no answer in {timeout} s",
                        pytrace=False)

    def ok(self, *cmds, **kw):
        r = self.run(*cmds, **kw)
        if r.returncode != 0:
            pytest.fail(f"virsh {'; '.join(cmds)!r} exited {r.returncode}:"
                        f"\n{r.stdout}{r.stderr}{self.qemu_log_tail()}",
                        pytrace=False)
        return r

    def popen(self, *cmds):
        p = subprocess.Popen([self.virsh, "; ".join(cmds)], env=self.env,
                             stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
        self.procs.append(p)
        return p

    def hmp(self, name, line):
        return self.ok(f"qemu-monitor-command --hmp {name} '{line}'").stdout

    def status(self, name):
        """QEMU's own run state ("paused (guest-panicked)", ...)."""
        return self.hmp(name, "info status").strip()

    def dump_formats(self, name):
        r = self.ok(f"qemu-monitor-command {name}"
                    " '{\"execute\":\"query-dump-guest-memory-capability\"}'")
        return json.loads(r.stdout)["return"]["formats"]

    # ------------------------------------------------------------ domains
    def serial_path(self, name):
        return os.path.join(self.dir, f"{name}.serial")

    def qemu_log(self, name):
        p = os.path.join(self.root, "log", "qemu", f"{name}.log")
        try:
            with open(p, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def qemu_log_tail(self):
        out = ""
        for n in sorted(self.domains):
            t = self.qemu_log(n).splitlines()[-8:]
            if t:
                out += f"\n--- QEMU log of {n} (tail):\n" + "\n".join(t)
        return out

    def domain_xml(self, name, kernel, append, on_crash="preserve",
                   extra_qmp=None):
        dtype = "kvm" if self.accel == "kvm" else "qemu"
        ns = (" xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'"
              if extra_qmp else "")
        xml = f"""<domain type='{dtype}'{ns}>
  <name>{name}</name>
  <memory unit='MiB'>{self.mem_mb}</memory>
  <vcpu>2</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>{os.path.abspath(kernel)}</kernel>
    <cmdline>{append}</cmdline>
  </os>
  <features><acpi/><vmcoreinfo state='on'/></features>
  <on_crash>{on_crash}</on_crash>
  <devices>
    <emulator>{self.qemu_bin}</emulator>
    <serial type='file'>
      <source path='{self.serial_path(name)}'/>
      <target port='0'/>
    </serial>
    <controller type='usb' model='none'/>
    <video><model type='none'/></video>
    <memballoon model='none'/>
    <panic model='isa'><address type='isa' iobase='0x505'/></panic>
  </devices>
"""
        if extra_qmp:
            # a second QMP monitor of our own, beside libvirt's
            xml += ("  <qemu:commandline>\n"
                    "    <qemu:arg value='-qmp'/>\n"
                    f"    <qemu:arg value='unix:{extra_qmp},server=on,"
                    "wait=off'/>\n"
                    "  </qemu:commandline>\n")
        xml += "</domain>\n"
        path = os.path.join(self.dir, f"{name}.xml")
        with open(path, "w") as f:
            f.write(xml)
        if os.path.exists(self.serial_path(name)):
            os.unlink(self.serial_path(name))
        return path

    def create(self, name, kernel, append, paused=False, **kw):
        xml = self.domain_xml(name, kernel, append, **kw)
        self.domains.add(name)
        self.ok(f"create {'--paused ' if paused else ''}{xml}")
        return xml

    def wait_ready(self, name, timeout=None):
        """Wait for the guest's READY line on its serial log; return a
        Guest for checks.check_dump."""
        timeout = timeout or _ready_timeout(self.accel)
        sp = self.serial_path(name)
        deadline = time.monotonic() + timeout
        while True:
            try:
                with open(sp, "rb") as f:
                    s = f.read().decode("latin-1")
            except FileNotFoundError:
                s = ""
            m = re.search(r"WINDMP-GUEST READY ([^\r\n]*)\r?\n", s)
            if m:
                d = dict(kv.partition("=")[::2] for kv in m.group(1).split())
                g = Guest(sp, qemu.parse_ready(d))
                g.ready_line = m.group(0).strip()
                return g
            m = re.search(r"WINDMP-GUEST FAIL ([^\r\n]*)", s)
            if m:
                pytest.fail(f"guest failed: {m.group(1)}\n{s}", pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"{name}: no READY line after {timeout} s"
                            f" ({self.accel}); serial:\n{s}"
                            f"{self.qemu_log_tail()}", pytrace=False)
            time.sleep(0.05)

    def pid(self, name):
        try:
            with open(os.path.join(self.root, "run", "qemu",
                                   f"{name}.pid")) as f:
                pid = int(f.read().strip())
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmdline = f.read()
        except (OSError, ValueError):
            return None
        # only a QEMU of this root (the pid may have been reused)
        if self.root.encode() not in cmdline:
            return None
        return pid

    def kill(self, name):
        pid = self.pid(name)
        if pid is None:
            return
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + 10
        while os.path.exists(f"/proc/{pid}") and time.monotonic() < deadline:
            time.sleep(0.05)

    def destroy(self, name):
        """virsh destroy; a monitor command first in the same process, or
        destroy races libvirt's reconnect. Then kill what is left."""
        if self.pid(name) is not None:
            self.run(f"qemu-monitor-command --hmp {name} 'info status'",
                     f"destroy {name}", timeout=60)
        self.kill(name)
        self.domains.discard(name)

    def teardown(self):
        for p in self.procs:
            if p.poll() is None:
                p.kill()
            p.wait()
        for name in list(self.domains):
            self.destroy(name)
        for pf in glob.glob(os.path.join(self.root, "run", "qemu", "*.pid")):
            name = os.path.basename(pf)[:-4]
            if name != "driver":
                self.kill(name)


@pytest.fixture(scope="module")
def lv(libvirt_virsh, qemu_bin, accel, tmp_path_factory):
    existed = {d for d in RUN_DIRS if os.path.isdir(d)}
    lib = Libvirt(libvirt_virsh, tmp_path_factory.mktemp("libvirt"),
                  qemu_bin, accel)
    try:
        yield lib
    finally:
        lib.teardown()
        # leave /run/libvirt as it was: remove what we created there
        for d in RUN_DIRS:
            if d not in existed:
                try:
                    if d == "/run/libvirt/common":
                        os.unlink(os.path.join(d, "system.token"))
                except OSError:
                    pass
                try:
                    os.rmdir(d)
                except OSError:
                    pass


# ---------------------------------------------------------------- virsh dump
@pytest.fixture(scope="module")
def crashed(lv, guest64):
    """A domain whose guest published its header, printed READY and then
    reported a panic on vCPU 0: <on_crash>preserve</on_crash> leaves it
    paused, "crashed (panicked)", so its registers hold still."""
    name, append = "wd-crashed", "panic=0"
    lv.create(name, guest64, append)
    g = lv.wait_ready(name)
    deadline = time.monotonic() + 30
    while "guest-panicked" not in (st := lv.status(name)):
        if time.monotonic() > deadline:
            pytest.fail(f"{name}: no panic after READY: {st}", pytrace=False)
        time.sleep(0.2)
    regs = qemu.parse_registers(lv.hmp(name, "info registers -a"))
    assert len(regs) == 2, regs
    return dict(name=name, guest=g, append=append, regs=regs)


def _virsh_dump(lv, c, path, *opts, env=None):
    t0 = time.time()
    r = lv.ok(f"dump --memory-only --format win-dmp {' '.join(opts)}"
              f" {c['name']} {path}", env=env)
    t1 = time.time()
    assert f"Domain '{c['name']}' dumped to {path}" in r.stdout, r.stdout
    return t0, t1


def _check(c, path, t0, t1):
    d = dmp.Dump(str(path))
    errs = checks.check_dump(d, c["guest"], c["append"], regs=c["regs"],
                             current_cpu=0, t0=t0, t1=t1)
    assert not errs, "\n".join(errs)
    return d


def test_virsh_dump(lv, crashed, workdir):
    """virsh dump --memory-only --format win-dmp of the crashed guest:
    every header field, both CONTEXTs against "info registers -a" (the
    header's is vCPU 0's, which reported the panic), every RAM page; the
    domain stays crashed (paused)."""
    path = os.path.join(str(workdir), "virsh.dmp")
    t0, t1 = _virsh_dump(lv, crashed, path)
    _check(crashed, path, t0, t1)
    assert lv.status(crashed["name"]) == "VM status: paused (guest-panicked)"


def _mask_time(b):
    return b[:0xFA8] + bytes(8) + b[0xFA8 + 8:]


def test_virsh_dump_bypass_cache(lv, crashed, workdir):
    """--bypass-cache: libvirt hands QEMU a pipe to its iohelper, not the
    file; the dump passes the same checks and has the same bytes as one
    written to the file (apart from SystemTime, the time of each dump)."""
    path = os.path.join(str(workdir), "bypass.dmp")
    mark = os.path.getsize(lv.log)
    # log the commands libvirt runs (only those)
    t0, t1 = _virsh_dump(lv, crashed, path, "--bypass-cache",
                         env={"LIBVIRT_LOG_FILTERS": "1:util.command"})
    with open(lv.log, errors="replace") as f:
        f.seek(mark)
        log = f.read()
    assert re.search(r"About to run .*libvirt_iohelper " + re.escape(path),
                     log), \
        "--bypass-cache: libvirt did not go through its iohelper (a pipe)"
    _check(crashed, path, t0, t1)
    plain = os.path.join(str(workdir), "plain.dmp")
    _virsh_dump(lv, crashed, plain)
    with open(path, "rb") as f:
        a = f.read()
    with open(plain, "rb") as f:
        b = f.read()
    assert len(a) == len(b), (len(a), len(b))
    assert _mask_time(a) == _mask_time(b), \
        f"--bypass-cache and file dumps differ at {qemu.first_diff(a, b):#x}"


def _wait_dump_file(path):
    """Wait, without talking to libvirt, until the detached dump at path
    is as long as its header's RequiredDumpSpace says."""
    deadline = time.monotonic() + qemu.DUMP_TIMEOUT
    while True:
        try:
            with open(path, "rb") as f:
                hdr = f.read(0x2000)
            if len(hdr) == 0x2000 and \
               os.path.getsize(path) >= dmp.u64(hdr, 0xFA0) > 0x2000:
                return
        except FileNotFoundError:
            pass
        assert time.monotonic() < deadline, f"{path}: dump not complete"
        time.sleep(0.2)


def test_virsh_kernel_dump(lv, crashed, workdir, windmp_tool):
    """libvirt has no option for a kernel memory dump.  Through the
    monitor it works detached (-d, "detach": true) when no virsh command
    runs until the file is complete: libvirt 9.0's embedded driver crashes
    (virsh, SIGSEGV) when QEMU reports DUMP_COMPLETED for a dump that
    libvirt did not start while a virsh command runs, with Debian's QEMU
    7.2 too.  HMP -w -k and QMP win-dmp-kernel give the same DumpType 5
    file, the domain stays crashed (paused), and the other documented way,
    virsh dump --memory-only to ELF and windmp convert --kernel, gives the
    same file too."""
    name = crashed["name"]
    hmp_path = os.path.join(str(workdir), "kernel-hmp.dmp")
    qmp_path = os.path.join(str(workdir), "kernel-qmp.dmp")
    out = lv.hmp(name, f"dump-guest-memory -d -w -k {hmp_path}")
    assert not out.strip(), out
    _wait_dump_file(hmp_path)
    args = json.dumps({"execute": "dump-guest-memory", "arguments": {
        "paging": False, "format": "win-dmp", "win-dmp-kernel": True,
        "detach": True, "protocol": "file:" + qmp_path}})
    lv.ok(f"qemu-monitor-command {name} '{args}'")
    _wait_dump_file(qmp_path)
    assert "Status: completed" in lv.hmp(name, "info dump")
    with open(hmp_path, "rb") as f:
        a = f.read()
    with open(qmp_path, "rb") as f:
        b = f.read()
    assert _mask_time(a) == _mask_time(b)
    d = dmp.Dump(hmp_path)
    assert d["DumpType"] == 5 and d.bitmap["Signature"] == "SDMP"
    errs = checks.check_dump(d, crashed["guest"], crashed["append"],
                             regs=crashed["regs"], current_cpu=0, full=False,
                             dump_type=5)
    assert not errs, "\n".join(errs)
    assert lv.status(name) == "VM status: paused (guest-panicked)"
    elf = os.path.join(str(workdir), "kernel.elf")
    conv = os.path.join(str(workdir), "kernel-conv.dmp")
    lv.ok(f"dump --memory-only {name} {elf}")
    p = subprocess.run([windmp_tool, "convert", "--kernel", elf, conv],
                       capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    with open(conv, "rb") as f:
        assert _mask_time(f.read()) == _mask_time(a)


def test_emulator_finds_firmware(lv, crashed):
    """libvirt ran our build with no -L: it booted (SeaBIOS, the multiboot
    option ROM) with Debian's firmware found on its own; and the domain XML
    gave it the vmcoreinfo and pvpanic devices."""
    log = lv.qemu_log(crashed["name"])
    args = log.split("\n")
    assert lv.qemu_bin + " \\" in args, f"emulator is not ours:\n{log}"
    assert not any(a.startswith("-L ") for a in args), log
    assert "-device '{\"driver\":\"vmcoreinfo\"}' \\" in args, log
    assert any(a.startswith("-device '{\"driver\":\"pvpanic\"") for a in args)


def test_refused_before_publish(lv, guest64, workdir):
    """A guest that has not published its header yet (the domain is
    created paused: it has not run a single instruction, like a Windows
    still booting) is refused: our truthful capability does not list
    win-dmp, so libvirt 9.0 refuses before QEMU dumps anything. Once the
    guest has published, the same command works. The messages go to
    $WINDMP_RESULTS/libvirt-refusal-ACCEL.txt (build/results)."""
    name = "wd-early"
    lv.create(name, guest64, "", paused=True)
    try:
        formats = lv.dump_formats(name)
        assert "elf" in formats and "win-dmp" not in formats, formats
        msgs = []
        for opts in ("", "--bypass-cache "):
            path = os.path.join(str(workdir), f"early{len(msgs)}.dmp")
            r = lv.run(f"dump --memory-only --format win-dmp {opts}"
                       f"{name} {path}")
            lines = [x for x in r.stderr.splitlines() if x.strip()]
            msgs.append((opts, r.returncode, lines))
            assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
            assert lines == [f"error: Failed to core dump domain '{name}'"
                             f" to {path}", REFUSAL], r.stderr
            assert not os.path.exists(path), f"{path} left behind"
        text = "".join(
            f"$ virsh dump --memory-only --format win-dmp {o}{name} FILE"
            f"   (guest not published yet, {lv.accel})\nexit {rc}\n"
            + "\n".join(ls) + "\n\n" for o, rc, ls in msgs)
        with open(_results_file(f"libvirt-refusal-{lv.accel}.txt"), "w") as f:
            f.write(text)
        print(text)
        st = lv.status(name)
        assert st.startswith("VM status: paused"), st

        # the same guest, once it has published its header
        lv.ok(f"resume {name}")
        g = lv.wait_ready(name)
        assert "win-dmp" in lv.dump_formats(name)
        path = os.path.join(str(workdir), "late.dmp")
        lv.ok(f"dump --memory-only --format win-dmp {name} {path}")
        errs = checks.check_structure(dmp.Dump(path), g)
        assert not errs, "\n".join(errs)
    finally:
        lv.destroy(name)


# ---------------------------------------------------------------- auto dump
class LineReader:
    """Collects a process's stdout lines in a thread."""

    def __init__(self, f):
        self.lines = []
        self.t = threading.Thread(target=self._run, args=(f,), daemon=True)
        self.t.start()

    def _run(self, f):
        for line in f:
            self.lines.append(line.rstrip("\n"))

    def wait_for(self, text, proc, timeout, what):
        deadline = time.monotonic() + timeout
        while not any(text in x for x in self.lines):
            if proc.poll() is not None and not self.t.is_alive():
                pytest.fail(f"virsh exited ({proc.returncode}) before {what}:"
                            f"\n{self.lines}\n{proc.stderr.read()}",
                            pytrace=False)
            if time.monotonic() > deadline:
                pytest.fail(f"no {what} after {timeout} s: {self.lines}",
                            pytrace=False)
            time.sleep(0.05)


@pytest.fixture(scope="module")
def autodump(lv, guest64):
    """<on_crash>coredump-destroy</on_crash>: the guest reports a panic on
    vCPU 0 after READY; libvirt dumps it (always ELF) and destroys it.

    In embed mode the virsh process that sees the panic does the dump, so
    one virsh process creates the domain and waits for its events. The
    domain is created paused and started from a QMP monitor of our own, so
    that we are listening before the guest runs: at GUEST_PANICKED we read
    "info registers -a" (the state the dump holds) while libvirt starts its
    dump."""
    name, append = "wd-auto", "panic=0"
    sock = os.path.join(lv.dir, "auto.qmp")
    xml = lv.domain_xml(name, guest64, append, on_crash="coredump-destroy",
                        extra_qmp=sock)
    tmo = int(_ready_timeout(lv.accel) + qemu.DUMP_TIMEOUT)
    lv.domains.add(name)
    p = lv.popen(f"create --paused {xml}",
                 f"event --domain {name} --event lifecycle --loop"
                 f" --timeout {tmo}")
    out = LineReader(p.stdout)
    out.wait_for(f"Domain '{name}' created", p, VIRSH_TIMEOUT, "the domain")
    q = qemu.QMP(sock)
    try:
        q.execute("cont")
        q.wait_event("GUEST_PANICKED", timeout=_ready_timeout(lv.accel))
        try:
            regs_text = q.execute("human-monitor-command",
                                  {"command-line": "info registers -a"})
        except (ConnectionError, TimeoutError) as e:
            pytest.fail("libvirt destroyed the domain before 'info registers"
                        f" -a' answered: {e}", pytrace=False)
    finally:
        q.close()
    out.wait_for("Stopped Crashed", p, qemu.DUMP_TIMEOUT, "'Stopped Crashed'")
    p.send_signal(signal.SIGINT)
    try:
        p.wait(15)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
    g = lv.wait_ready(name, timeout=1)
    files = glob.glob(os.path.join(lv.autodir, f"*-{name}-*"))
    assert len(files) == 1, f"automatic dumps: {os.listdir(lv.autodir)}"
    regs = qemu.parse_registers(regs_text)
    info = (f"# libvirt automatic dump (<on_crash>coredump-destroy"
            f"</on_crash>), accel {lv.accel}, guest options '{append}'\n"
            f"# file: {os.path.basename(files[0])}\n"
            f"# serial:\n{g.ready_line}\n\n"
            f"# info registers -a at GUEST_PANICKED (the dump's state):\n"
            f"{regs_text.strip()}\n\n# domain XML:\n{open(xml).read()}")
    keep = os.environ.get("WINDMP_LIBVIRT_SAMPLE")
    if keep:
        os.makedirs(keep, exist_ok=True)
        shutil.copyfile(files[0], os.path.join(keep, "autodump.elf"))
        shutil.copyfile(g.serial_path, os.path.join(keep, "autodump.serial"))
        with open(os.path.join(keep, "autodump.txt"), "w") as f:
            f.write(info)
    return dict(name=name, elf=files[0], guest=g, append=append, regs=regs,
                events=out.lines)


def _elf_core(path):
    """(e_machine, [(paddr, offset, filesz)], [(name, type, desc)])."""
    with open(path, "rb") as f:
        data = f.read()
    assert data[:4] == b"\x7fELF", f"not ELF: {data[:16]!r}"
    assert data[4] == 2 and data[5] == 1, "not ELF64 little-endian"
    e_type, e_machine = struct.unpack_from("<HH", data, 16)
    assert e_type == 4, f"e_type {e_type}, not a core file"
    phoff, = struct.unpack_from("<Q", data, 32)
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    loads, notes = [], []
    for i in range(phnum):
        (p_type, _, p_offset, _, p_paddr, p_filesz,
         _, _) = struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize)
        if p_type == 1:
            loads.append((p_paddr, p_offset, p_filesz))
        elif p_type == 4:
            o, end = p_offset, p_offset + p_filesz
            while o + 12 <= end:
                namesz, descsz, ntype = struct.unpack_from("<III", data, o)
                o += 12
                nm = data[o:o + namesz].rstrip(b"\0")
                o += (namesz + 3) & ~3
                notes.append((nm, ntype, data[o:o + descsz]))
                o += (descsz + 3) & ~3
    return data, e_machine, loads, notes


PRSTATUS_REGS = ["R15", "R14", "R13", "R12", "RBP", "RBX", "R11", "R10",
                 "R9", "R8", "RAX", "RCX", "RDX", "RSI", "RDI", None, "RIP",
                 "CS", "RFL", "RSP", "SS"]


def test_autodump_elf(lv, autodump):
    """libvirt's automatic dump on a guest panic is an ELF core (libvirt
    9.0 hardcodes the format): both vCPUs' registers as at the panic, and
    every page of guest RAM; the domain is gone afterwards."""
    data, machine, loads, notes = _elf_core(autodump["elf"])
    assert machine == 62, f"e_machine {machine}, want EM_X86_64 (62)"
    prs = [d for nm, t, d in notes if nm == b"CORE" and t == 1]
    assert len(prs) == 2, f"{len(prs)} NT_PRSTATUS notes, want 2"
    errs = []
    for i, d in enumerate(prs):
        vals = struct.unpack_from("<21Q", d, 112)
        for reg, v in zip(PRSTATUS_REGS, vals):
            if reg and v != autodump["regs"][i][reg]:
                errs.append(f"cpu {i}: {reg} {v:#x} in the ELF, registers"
                            f" {autodump['regs'][i][reg]:#x}")
    assert not errs, "\n".join(errs)
    # every RAM page the guest lists, pattern pages against their formula
    n, bad = 0, []
    for base, count in checks.guest_runs(autodump["guest"]):
        for pfn in range(base, base + count):
            pa = pfn * 4096
            seg = [(o + pa - p) for p, o, sz in loads if p <= pa < p + sz]
            if not seg:
                bad.append(f"page {pfn:#x} not in the ELF")
            elif (pfn >= checks.PATTERN_FROM and data[seg[0]:seg[0] + 4096]
                  != checks.expected_page(pfn)):
                bad.append(f"page {pfn:#x} differs from its pattern")
            n += 1
        if len(bad) > 8:
            break
    assert n > 0 and not bad, bad[:8]
    assert lv.pid(autodump["name"]) is None, "the domain is still running"
    assert any("Stopped Crashed" in x for x in autodump["events"])
    lv.domains.discard(autodump["name"])


def test_autodump_convert(autodump, workdir):
    """windmp convert AUTO.elf OUT.dmp turns libvirt's automatic ELF dump
    into a Windows dump that passes the same checks as QEMU's own win-dmp
    (header from the guest's note, both CONTEXTs against the registers at
    the panic, every RAM page)."""
    tool = os.environ.get("WINDMP_TOOL", DEF_TOOL)
    if not (os.path.isfile(tool) and os.access(tool, os.X_OK)):
        pytest.fail(f"the converter is missing: {tool} (build it with"
                    " scripts/build.sh, or set WINDMP_TOOL)", pytrace=False)
    out = os.path.join(str(workdir), "auto.dmp")
    r = subprocess.run([tool, "convert", autodump["elf"], out],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, \
        f"windmp convert exited {r.returncode}:\n{r.stdout}{r.stderr}"
    d = dmp.Dump(out)
    errs = checks.check_dump(d, autodump["guest"], autodump["append"],
                             regs=autodump["regs"], current_cpu=0)
    assert not errs, "\n".join(errs)
