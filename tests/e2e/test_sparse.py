# SPDX-License-Identifier: GPL-2.0-or-later
"""
Sparse output: a win-dmp written to a regular file leaves its all-zero
pages as holes (st_blocks shows them) and reads back the same bytes as the
dump of the same stopped guest through a pipe, which gets every byte.  A
regular file that already holds data past the position it is given at gets
every byte too, since a hole there would show the old data.  The same for
windmp convert: a file, `-` to a pipe, `-` redirected to a file.

The guest runs with zero=511/512: runs of 511 zero pages (longer than
WIN_DUMP_HOLE_MIN, the shortest run that becomes a hole) between pattern
pages, so a sparse dump of it allocates a small fraction of its size.  The
default pattern's zero pages are single pages, too short to be holes: the
file is then allocated in full.
"""
import os
import subprocess

import pytest

import checks
import dmp
import qemu

OPTS = {64: "zero=511/512", 32: "pae=1 zero=511/512"}
# the guest's 128 MiB: the low 4 MiB, 1/512 of the pattern pages, metadata
MAX_ALLOCATED = 0.25


def allocated(path):
    return os.stat(path).st_blocks * 512


def _mask_time(b, x64):
    o = 0xFA8 if x64 else 0xFC0
    return b[:o] + bytes(8) + b[o + 8:]


def _read(path):
    with open(path, "rb") as f:
        return f.read()


@pytest.fixture(scope="module")
def guests(vms, qemu_bin, guest_dir):
    """One booted guest per bitness, shared by the module."""
    booted = {}

    def get(bits):
        if bits not in booted:
            elf = os.path.join(guest_dir, f"windmp-guest{bits}.elf")
            if not os.path.isfile(elf):
                pytest.fail(f"test guest missing: {elf}", pytrace=False)
            booted[bits] = vms.start(qemu_bin, elf, OPTS[bits],
                                     name=f"sparse{bits}")
        return booted[bits]
    return get


def dump_to_fd(vm, fd, name="windmp-file"):
    """dump-guest-memory win-dmp to fd:NAME, a descriptor passed by getfd."""
    vm.cmd("getfd", {"fdname": name}, fds=[fd])
    vm.cmd("dump-guest-memory", {"paging": False, "format": "win-dmp",
                                 "protocol": f"fd:{name}"},
           timeout=qemu.DUMP_TIMEOUT)


@pytest.mark.parametrize("bits", [64, 32])
def test_file_has_holes_pipe_gets_every_byte(guests, workdir, bits):
    vm = guests(bits)
    x64 = bits == 64
    vm.stop()
    try:
        qmp_path = os.path.join(str(workdir), "qmp.dmp")
        hmp_path = os.path.join(str(workdir), "hmp.dmp")
        vm.dump(qmp_path)
        out = vm.dump_hmp(hmp_path)
        assert not out.strip(), out
        pbytes = vm.dump_to_pipe()
    finally:
        vm.cont()

    fbytes = _read(qmp_path)
    size = len(fbytes)
    assert size == (0x2000 if x64 else 0x1000) + \
        sum(c for _, c in checks.guest_runs(vm)) * 4096
    for path in (qmp_path, hmp_path):
        st = os.stat(path)
        assert st.st_size == size
        assert allocated(path) <= MAX_ALLOCATED * size, \
            (f"{os.path.basename(path)}: {allocated(path)} bytes allocated"
             f" for {size}: the zero pages were written")
    assert _mask_time(_read(hmp_path), x64) == _mask_time(fbytes, x64)

    # the pipe got every byte, and they are the file's
    assert len(pbytes) == size, (len(pbytes), size)
    assert _mask_time(pbytes, x64) == _mask_time(fbytes, x64), \
        f"pipe and file dumps differ at {qemu.first_diff(pbytes, fbytes):#x}"
    errs = checks.check_dump(dmp.Dump(fbytes), vm, OPTS[bits])
    assert not errs, "\n".join(errs)


def test_stale_data_is_overwritten(guests, workdir):
    """A file that holds data past the offset it is handed at (fd: of a
    file not truncated) gets every byte: a hole would show the old data."""
    vm = guests(64)
    vm.stop()
    try:
        ref = os.path.join(str(workdir), "ref.dmp")
        vm.dump(ref)
        size = os.path.getsize(ref)
        path = os.path.join(str(workdir), "stale.dmp")
        with open(path, "wb") as f:
            f.write(b"\xff" * (size + 4096))
        fd = os.open(path, os.O_WRONLY)
        try:
            dump_to_fd(vm, fd)
        finally:
            os.close(fd)
    finally:
        vm.cont()
    got = _read(path)
    assert len(got) == size + 4096
    want = _read(ref)
    assert _mask_time(got[:size], True) == _mask_time(want, True), \
        f"differs from the file dump at {qemu.first_diff(got[:size], want):#x}"
    assert allocated(path) >= size


def test_convert_file_has_holes_pipe_gets_every_byte(guests, windmp_tool,
                                                     workdir):
    vm = guests(64)
    elf = os.path.join(str(workdir), "core.elf")
    vm.stop()
    try:
        vm.dump(elf, fmt=None)
    finally:
        vm.cont()
    out = os.path.join(str(workdir), "conv.dmp")
    p = subprocess.run([windmp_tool, "convert", "-q", elf, out],
                       stdin=subprocess.DEVNULL, capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    fbytes = _read(out)
    size = len(fbytes)
    assert allocated(out) <= MAX_ALLOCATED * size, \
        f"{allocated(out)} bytes allocated for {size}"

    # standard output a pipe: every byte, the same bytes
    p = subprocess.run([windmp_tool, "convert", "-q", elf, "-"],
                       stdin=subprocess.DEVNULL, capture_output=True)
    assert p.returncode == 0, p.stderr.decode()
    assert len(p.stdout) == size
    assert p.stdout == fbytes, \
        f"pipe and file differ at {qemu.first_diff(p.stdout, fbytes):#x}"

    # standard output redirected to a file: holes too
    redir = os.path.join(str(workdir), "redir.dmp")
    with open(redir, "wb") as f:
        p = subprocess.run([windmp_tool, "convert", "-q", elf, "-"],
                           stdin=subprocess.DEVNULL, stdout=f,
                           stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr.decode()
    assert _read(redir) == fbytes
    assert allocated(redir) <= MAX_ALLOCATED * size

    # appended to (>>): no holes, as the writes would not land after them
    app = os.path.join(str(workdir), "append.dmp")
    with open(app, "wb") as f:
        f.write(b"\xee" * 4096)
    with open(app, "ab") as f:
        p = subprocess.run([windmp_tool, "convert", "-q", elf, "-"],
                           stdin=subprocess.DEVNULL, stdout=f,
                           stderr=subprocess.PIPE)
    assert p.returncode == 0, p.stderr.decode()
    assert _read(app) == b"\xee" * 4096 + fbytes

    errs = checks.check_dump(dmp.Dump(fbytes), vm, OPTS[64])
    assert not errs, "\n".join(errs)
