# SPDX-License-Identifier: GPL-2.0-or-later
"""
pytest fixtures for the win-dmp end-to-end tests: binary and guest paths
(from WINDMP_QEMU, WINDMP_STOCK_QEMU, WINDMP_GUEST_DIR), the accelerator
(WINDMP_ACCEL=kvm|tcg), temporary directories and a VM factory that always
kills QEMU. A missing prerequisite FAILS the test with a clear message:
nothing is skipped silently.
"""
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import qemu  # noqa: E402

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
DEF_QEMU = os.path.join(REPO, "build/qemu/qemu-system-x86_64")
DEF_STOCK = "/usr/bin/qemu-system-x86_64"
DEF_GUEST = os.path.join(REPO, "build/guest")


def _need_exec(path, what, env):
    if not (os.path.isfile(path) and os.access(path, os.X_OK)):
        pytest.fail(f"{what} not found or not executable: {path}"
                    f" (set {env})", pytrace=False)
    return path


@pytest.fixture(scope="session")
def accel():
    try:
        a = qemu.default_accel()
    except ValueError as e:
        pytest.fail(str(e), pytrace=False)
    if a == "kvm" and not os.access("/dev/kvm", os.W_OK):
        pytest.fail("WINDMP_ACCEL=kvm but /dev/kvm is not writable",
                    pytrace=False)
    return a


@pytest.fixture(scope="session")
def qemu_bin():
    return _need_exec(os.environ.get("WINDMP_QEMU", DEF_QEMU),
                      "patched QEMU", "WINDMP_QEMU")


@pytest.fixture(scope="session")
def stock_bin():
    return _need_exec(os.environ.get("WINDMP_STOCK_QEMU", DEF_STOCK),
                      "stock QEMU", "WINDMP_STOCK_QEMU")


@pytest.fixture(scope="session")
def guest_dir():
    d = os.environ.get("WINDMP_GUEST_DIR", DEF_GUEST)
    elfs = [os.path.join(d, f"windmp-guest{b}.elf")
            for b in (64, "64-la57", 32)]
    if not all(os.path.isfile(e) for e in elfs):
        # build it if the sources are there (the documented command)
        src = os.path.join(REPO, "tests/guest")
        if os.path.isfile(os.path.join(src, "Makefile")):
            subprocess.run(["make", "-s", "-C", src, f"O={d}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return d


def _guest(guest_dir, bits):
    p = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
    if not os.path.isfile(p):
        pytest.fail(f"test guest missing: {p} (build it with make -C"
                    f" tests/guest O={guest_dir}, or set WINDMP_GUEST_DIR)",
                    pytrace=False)
    return p


@pytest.fixture(scope="session")
def guest64(guest_dir):
    return _guest(guest_dir, 64)


@pytest.fixture(scope="session")
def guest32(guest_dir):
    return _guest(guest_dir, 32)


def host_has_la57():
    with open("/proc/cpuinfo") as f:
        return any(ln.startswith("flags") and "la57" in ln.split()
                   for ln in f)


def la57_args(accel):
    """QEMU arguments for the 5-level paging guest (windmp-guest64-la57):
    TCG emulates LA57 with -cpu max; KVM only passes on the host's."""
    if accel == "kvm" and not host_has_la57():
        reason = ("LA57 guest not run under KVM: this host's CPU has no la57"
                  " in /proc/cpuinfo (it runs under TCG)")
        print(reason, file=sys.stderr)
        pytest.skip(reason)
    return ["-cpu", "max"]


class VMFactory:
    """Starts VMs in a work directory; kill_all() ends every one of them."""

    def __init__(self, workdir, accel):
        self.workdir = str(workdir)
        self.accel = accel
        self.vms = []
        self.n = 0

    def start(self, binary, kernel, append="", ready=True, **kw):
        self.n += 1
        name = kw.pop("name", f"vm{self.n}")
        if "-la57" in os.path.basename(kernel):
            kw["extra_args"] = la57_args(self.accel) + list(
                kw.get("extra_args", ()))
        # nested KVM makes the guest's first touch of each page slow
        kw.setdefault("mem_mb", int(os.environ.get("WINDMP_MEM_MB", "128")))
        vm = qemu.VM(binary, kernel, append, workdir=self.workdir,
                     accel=self.accel, name=name, **kw)
        self.vms.append(vm)
        if ready:
            vm.wait_ready()
        return vm

    def kill_all(self):
        for vm in self.vms:
            vm.kill()
        self.vms = []


@pytest.fixture(scope="module")
def vms(tmp_path_factory, accel):
    f = VMFactory(tmp_path_factory.mktemp("vms"), accel)
    yield f
    f.kill_all()


@pytest.fixture
def workdir(tmp_path):
    return tmp_path


@pytest.fixture(scope="session")
def libvirt_virsh():
    """virsh (libvirt-clients) with the embedded QEMU driver
    (libvirt-daemon-driver-qemu) and the libvirt-qemu user and group, which
    libvirt's QEMU driver must resolve even when qemu.conf says root."""
    import grp
    import pwd
    import shutil
    virsh = shutil.which("virsh")
    if not virsh:
        pytest.fail("virsh not found: apt-get install --no-install-recommends"
                    " libvirt-daemon libvirt-daemon-driver-qemu"
                    " libvirt-clients (scripts/build.sh does)", pytrace=False)
    try:
        pwd.getpwnam("libvirt-qemu")
        grp.getgrnam("libvirt-qemu")
    except KeyError:
        pytest.fail("user/group libvirt-qemu missing: libvirt's QEMU driver"
                    " refuses to start without them (scripts/build.sh"
                    " creates them)", pytrace=False)
    return virsh


@pytest.fixture(scope="session")
def windmp_tool():
    """The standalone windmp tool (WINDMP_TOOL; default build/core/windmp,
    built by ninja -C build/core)."""
    return _need_exec(os.environ.get("WINDMP_TOOL",
                                     os.path.join(REPO, "build/core/windmp")),
                      "windmp tool", "WINDMP_TOOL")
