#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0-or-later
"""
Independent pure-Python reader for Windows full crash dumps (QEMU win-dmp,
DumpType 1): x64 DUMP_HEADER64 ("PAGE"/"DU64") and x86 DUMP_HEADER32
("PAGE"/"DUMP"), physical memory runs, page lookup by PFN, virtual to
physical translation through the dump's own DirectoryTableBase (4-level
long mode, PAE, non-PAE), KDBG, KiProcessorBlock -> KPRCB -> Context and
CONTEXT decoding. Written from /work/shared/reference/format.md, sharing
no code with QEMU.

    python3 tests/e2e/dmp.py FILE     prints a summary of the dump
"""
import datetime
import struct
import sys

PAGE = 0x1000
SIG_PAGE = b"PAGE"
KDBG_TAG = 0x4742444B          # "KDBG"
LIVE_SYSTEM_DUMP = 0x161


class DumpError(Exception):
    pass


def u8(b, o):
    return b[o]


def u16(b, o):
    return struct.unpack_from("<H", b, o)[0]


def u32(b, o):
    return struct.unpack_from("<I", b, o)[0]


def u64(b, o):
    return struct.unpack_from("<Q", b, o)[0]


# x64 CONTEXT field offsets
CTX64 = {
    "ContextFlags": (0x30, 4), "MxCsr": (0x34, 4),
    "SegCs": (0x38, 2), "SegDs": (0x3A, 2), "SegEs": (0x3C, 2),
    "SegFs": (0x3E, 2), "SegGs": (0x40, 2), "SegSs": (0x42, 2),
    "EFlags": (0x44, 4),
    "Dr0": (0x48, 8), "Dr1": (0x50, 8), "Dr2": (0x58, 8), "Dr3": (0x60, 8),
    "Dr6": (0x68, 8), "Dr7": (0x70, 8),
    "Rax": (0x78, 8), "Rcx": (0x80, 8), "Rdx": (0x88, 8), "Rbx": (0x90, 8),
    "Rsp": (0x98, 8), "Rbp": (0xA0, 8), "Rsi": (0xA8, 8), "Rdi": (0xB0, 8),
    "R8": (0xB8, 8), "R9": (0xC0, 8), "R10": (0xC8, 8), "R11": (0xD0, 8),
    "R12": (0xD8, 8), "R13": (0xE0, 8), "R14": (0xE8, 8), "R15": (0xF0, 8),
    "Rip": (0xF8, 8),
    # FltSave (XMM_SAVE_AREA32) at 0x100
    "FltSave.ControlWord": (0x100, 2), "FltSave.StatusWord": (0x102, 2),
    "FltSave.TagWord": (0x104, 1), "FltSave.MxCsr": (0x118, 4),
    "FltSave.MxCsr_Mask": (0x11C, 4),
}
CTX64_SIZE = 0x4D0
CTX64_FLTSAVE = 0x100
CTX64_XMM0 = 0x1A0
CTX64_ST0 = 0x120

# x86 CONTEXT field offsets
CTX32 = {
    "ContextFlags": (0x00, 4),
    "Dr0": (0x04, 4), "Dr1": (0x08, 4), "Dr2": (0x0C, 4), "Dr3": (0x10, 4),
    "Dr6": (0x14, 4), "Dr7": (0x18, 4),
    "SegGs": (0x8C, 4), "SegFs": (0x90, 4), "SegEs": (0x94, 4),
    "SegDs": (0x98, 4), "Edi": (0x9C, 4), "Esi": (0xA0, 4), "Ebx": (0xA4, 4),
    "Edx": (0xA8, 4), "Ecx": (0xAC, 4), "Eax": (0xB0, 4), "Ebp": (0xB4, 4),
    "Eip": (0xB8, 4), "SegCs": (0xBC, 4), "EFlags": (0xC0, 4),
    "Esp": (0xC4, 4), "SegSs": (0xC8, 4),
    # ExtendedRegisters (FXSAVE image) at 0xCC
    "Ext.ControlWord": (0xCC, 2), "Ext.StatusWord": (0xCE, 2),
    "Ext.TagWord": (0xD0, 1), "Ext.MxCsr": (0xCC + 0x18, 4),
    "Ext.MxCsr_Mask": (0xCC + 0x1C, 4),
}
CTX32_SIZE = 0x2CC
CTX32_EXT = 0xCC


def decode_context(raw, x64):
    """CONTEXT bytes -> dict of named fields (plus Xmm0..15 / St0..7)."""
    layout = CTX64 if x64 else CTX32
    d = {}
    for k, (o, n) in layout.items():
        d[k] = int.from_bytes(raw[o:o + n], "little")
    base = CTX64_FLTSAVE if x64 else CTX32_EXT
    for i in range(16 if x64 else 8):
        o = base + 0xA0 + 16 * i
        d[f"Xmm{i}"] = int.from_bytes(raw[o:o + 16], "little")
    for i in range(8):
        o = base + 0x20 + 16 * i
        d[f"St{i}"] = int.from_bytes(raw[o:o + 10], "little")
    return d


class Dump:
    """A parsed dump file (kept in memory)."""

    def __init__(self, path_or_bytes, levels=None):
        # x64 page-table levels: 4, 5 (LA57) or None to find out
        self._paging = {None: None, 4: "lm4", 5: "lm5"}[levels]
        if isinstance(path_or_bytes, (bytes, bytearray, memoryview)):
            self.data = bytes(path_or_bytes)
            self.path = "<bytes>"
        else:
            self.path = path_or_bytes
            with open(path_or_bytes, "rb") as f:
                self.data = f.read()
        d = self.data
        if len(d) < 8 or d[0:4] != SIG_PAGE:
            raise DumpError(f"bad signature {d[0:4]!r} (want b'PAGE')")
        valid = d[4:8]
        if valid == b"DU64":
            self.x64 = True
        elif valid == b"DUMP":
            self.x64 = False
        else:
            raise DumpError(f"bad ValidDump {valid!r} (want DU64/DUMP)")
        self.hdr_size = 0x2000 if self.x64 else 0x1000
        if len(d) < self.hdr_size:
            raise DumpError(f"file ({len(d)} bytes) shorter than its header")
        self.hdr = d[:self.hdr_size]
        self._parse_header()
        self._build_runs()

    # ------------------------------------------------------------ header
    def _parse_header(self):
        h = self.hdr
        f = {}
        f["Signature"] = h[0:4]
        f["ValidDump"] = h[4:8]
        f["MajorVersion"] = u32(h, 8)
        f["MinorVersion"] = u32(h, 0xC)
        if self.x64:
            f["DirectoryTableBase"] = u64(h, 0x10)
            f["PfnDataBase"] = u64(h, 0x18)
            f["PsLoadedModuleList"] = u64(h, 0x20)
            f["PsActiveProcessHead"] = u64(h, 0x28)
            f["MachineImageType"] = u32(h, 0x30)
            f["NumberProcessors"] = u32(h, 0x34)
            f["BugCheckCode"] = u32(h, 0x38)
            f["Pad0x3C"] = u32(h, 0x3C)
            f["BugCheckParameters"] = [u64(h, 0x40 + 8 * i) for i in range(4)]
            f["VersionUser"] = h[0x60:0x80]
            f["KdDebuggerDataBlock"] = u64(h, 0x80)
            f["NumberOfRuns"] = u32(h, 0x88)
            f["Pad0x8C"] = u32(h, 0x8C)
            f["NumberOfPages"] = u64(h, 0x90)
            f["ContextRecordOffset"] = 0x348
            f["ExceptionOffset"] = 0xF00
            f["DumpType"] = u32(h, 0xF98)
            f["Pad0xF9C"] = u32(h, 0xF9C)
            f["RequiredDumpSpace"] = u64(h, 0xFA0)
            f["SystemTime"] = u64(h, 0xFA8)
            f["Comment"] = h[0xFB0:0x1030].split(b"\0")[0]
            f["SystemUpTime"] = u64(h, 0x1030)
            f["ProductType"] = u32(h, 0x1040)
            f["SuiteMask"] = u32(h, 0x1044)
            self.max_runs = 43      # what fits up to ContextRecord
            self.run_off, self.run_size = 0x98, 16
        else:
            f["DirectoryTableBase"] = u32(h, 0x10)
            f["PfnDataBase"] = u32(h, 0x14)
            f["PsLoadedModuleList"] = u32(h, 0x18)
            f["PsActiveProcessHead"] = u32(h, 0x1C)
            f["MachineImageType"] = u32(h, 0x20)
            f["NumberProcessors"] = u32(h, 0x24)
            f["BugCheckCode"] = u32(h, 0x28)
            f["BugCheckParameters"] = [u32(h, 0x2C + 4 * i) for i in range(4)]
            f["VersionUser"] = h[0x3C:0x5C]
            f["PaeEnabled"] = h[0x5C]
            f["KdDebuggerDataBlock"] = u32(h, 0x60)
            f["NumberOfRuns"] = u32(h, 0x64)
            f["NumberOfPages"] = u32(h, 0x68)
            f["ContextRecordOffset"] = 0x320
            f["ExceptionOffset"] = 0x7D0
            f["Comment"] = h[0x820:0x8A0].split(b"\0")[0]
            f["DumpType"] = u32(h, 0xF88)
            f["ProductType"] = u32(h, 0xF94)
            f["SuiteMask"] = u32(h, 0xF98)
            f["RequiredDumpSpace"] = u64(h, 0xFA0)
            f["SystemUpTime"] = u64(h, 0xFB8)
            f["SystemTime"] = u64(h, 0xFC0)
            self.max_runs = 86
            self.run_off, self.run_size = 0x6C, 8
        self.f = f

    def __getitem__(self, k):
        return self.f[k]

    @property
    def ptr_size(self):
        return 8 if self.x64 else 4

    @property
    def ctx_size(self):
        return CTX64_SIZE if self.x64 else CTX32_SIZE

    def _build_runs(self):
        self.bitmap = None
        if self.f["DumpType"] == 5:
            self._build_bitmap_runs()
            return
        n = self.f["NumberOfRuns"]
        if n > self.max_runs:
            raise DumpError(f"NumberOfRuns {n} exceeds the header's room"
                            f" ({self.max_runs})")
        self.runs = []
        off = self.hdr_size
        for i in range(n):
            o = self.run_off + self.run_size * i
            if self.x64:
                base, count = u64(self.hdr, o), u64(self.hdr, o + 8)
            else:
                base, count = u32(self.hdr, o), u32(self.hdr, o + 4)
            self.runs.append((base, count, off))
            off += count * PAGE
        self.data_end = off

    def _build_bitmap_runs(self):
        """DumpType 5: a bitmap header ("SDMP"/"FDMP", "DUMP") after the
        header, one bit per PFN (LSB first), the pages from FirstPage in
        rising PFN order."""
        d, o = self.data, self.hdr_size
        if len(d) < o + 0x38:
            raise DumpError("DumpType 5 without a bitmap header")
        sig, valid = d[o:o + 4], d[o + 4:o + 8]
        if sig not in (b"SDMP", b"FDMP") or valid != b"DUMP":
            raise DumpError(f"bitmap header {sig!r}/{valid!r}"
                            " (want SDMP or FDMP / DUMP)")
        bits = u64(d, o + 0x30)
        first = u64(d, o + 0x20)
        if o + 0x38 + (bits + 7) // 8 > len(d):
            raise DumpError(f"bitmap of {bits} bits past the end of the file")
        self.bitmap = {
            "Signature": sig.decode(), "DumpOptions": u32(d, o + 8),
            "FirstPage": first, "TotalPresentPages": u64(d, o + 0x28),
            "BitmapSize": bits, "offset": o + 0x38,
        }
        m = d[o + 0x38:o + 0x38 + (bits + 7) // 8]
        self.runs = []
        off = first
        base = None
        for i, byte in enumerate(m):
            if byte == 0 and base is None:
                continue
            if byte == 0xFF and base is not None:
                continue
            for b in range(8):
                pfn = i * 8 + b
                if pfn >= bits:
                    break
                if byte >> b & 1:
                    if base is None:
                        base = pfn
                elif base is not None:
                    self.runs.append((base, pfn - base, off))
                    off += (pfn - base) * PAGE
                    base = None
        if base is not None:
            end = min(len(m) * 8, bits)
            self.runs.append((base, end - base, off))
            off += (end - base) * PAGE
        self.data_end = off

    def bitmap_has(self, pfn):
        b = self.bitmap
        if pfn >= b["BitmapSize"]:
            return False
        return bool(self.data[b["offset"] + pfn // 8] >> (pfn % 8) & 1)

    def pages(self):
        return sum(c for _, c, _ in self.runs)

    def pfns(self):
        for base, count, _ in self.runs:
            yield from range(base, base + count)

    def page_offset(self, pfn):
        for base, count, off in self.runs:
            if base <= pfn < base + count:
                return off + (pfn - base) * PAGE
        return None

    def page(self, pfn):
        off = self.page_offset(pfn)
        if off is None:
            raise DumpError(f"PFN {pfn:#x} is not in the dump")
        if off + PAGE > len(self.data):
            raise DumpError(f"PFN {pfn:#x} lies past the end of the file")
        return self.data[off:off + PAGE]

    def read_pa(self, pa, n):
        out = bytearray()
        while n:
            k = min(n, PAGE - (pa & 0xFFF))
            out += self.page(pa >> 12)[pa & 0xFFF:(pa & 0xFFF) + k]
            pa += k
            n -= k
        return bytes(out)

    def pa_u64(self, pa):
        return u64(self.read_pa(pa, 8), 0)

    def pa_u32(self, pa):
        return u32(self.read_pa(pa, 4), 0)

    # ------------------------------------------------------------ paging
    @property
    def paging(self):
        if not self.x64:
            return "pae" if self.f["PaeEnabled"] else "x86"
        if self._paging is None:
            # the header does not record CR4.LA57: 5 levels if they read
            # the header's KDBG better than 4 do
            self._paging = "lm4"
            if self._kdbg_score("lm5") > self._kdbg_score("lm4"):
                self._paging = "lm5"
        return self._paging

    def _kdbg_score(self, mode):
        try:
            pa = self.v2p(self.f["KdDebuggerDataBlock"] + 0x10, mode=mode)
            return 2 if self.pa_u32(pa) == KDBG_TAG else 1
        except DumpError:
            return 0

    # per paging mode: entry width, root mask, levels as (name, shift,
    # index bits, may map a large page)
    PAGING = {
        "lm5": (8, 0x000FFFFFFFFFF000, [("PML5E", 48, 9, False),
                                        ("PML4E", 39, 9, False),
                                        ("PDPTE", 30, 9, True),
                                        ("PDE", 21, 9, True),
                                        ("PTE", 12, 9, False)]),
        "lm4": (8, 0x000FFFFFFFFFF000, [("PML4E", 39, 9, False),
                                        ("PDPTE", 30, 9, True),
                                        ("PDE", 21, 9, True),
                                        ("PTE", 12, 9, False)]),
        "pae": (8, 0xFFFFFFE0, [("PDPTE", 30, 2, False),
                                ("PDE", 21, 9, True),
                                ("PTE", 12, 9, False)]),
        "x86": (4, 0xFFFFF000, [("PDE", 22, 10, True),
                                ("PTE", 12, 10, False)]),
    }

    def v2p(self, va, dtb=None, mode=None):
        """Translate a virtual address through DirectoryTableBase."""
        dtb = self.f["DirectoryTableBase"] if dtb is None else dtb
        mode = mode or self.paging
        width, root_mask, levels = self.PAGING[mode]
        if mode in ("lm4", "lm5"):
            bits = 48 if mode == "lm4" else 57
            va &= (1 << 64) - 1
            if va >> (bits - 1) not in (0, (1 << (65 - bits)) - 1):
                raise DumpError(f"VA {va:#x} is not canonical")
            addr_mask = 0x000FFFFFFFFFF000
        else:
            va &= 0xFFFFFFFF
            addr_mask = 0x000FFFFFFFFFF000 if width == 8 else 0xFFFFF000
        table = dtb & root_mask
        for i, (name, shift, bits, large) in enumerate(levels):
            slot = table + ((va >> shift) & ((1 << bits) - 1)) * width
            e = self.pa_u64(slot) if width == 8 else self.pa_u32(slot)
            if not e & 1:
                raise DumpError(f"VA {va:#x}: {name} not present")
            if i == len(levels) - 1 or (large and e & 0x80):
                size = 1 << shift
                if width == 4 and size > 4096:
                    # PSE-36: PDE bits 20:13 are physical bits 39:32
                    base = (e & 0xFFC00000) | (((e >> 13) & 0xFF) << 32)
                else:
                    base = e & addr_mask & ~(size - 1)
                return base | (va & (size - 1))
            table = e & addr_mask
        raise AssertionError("unreachable")

    def read_va(self, va, n):
        out = bytearray()
        while n:
            k = min(n, PAGE - (va & 0xFFF))
            out += self.read_pa(self.v2p(va), k)
            va += k
            n -= k
        return bytes(out)

    def va_ptr(self, va):
        b = self.read_va(va, self.ptr_size)
        return int.from_bytes(b, "little")

    # ------------------------------------------------------------ KDBG
    def kdbg(self):
        """(va, bytes) of the KDBG that KdDebuggerDataBlock points to."""
        va = self.f["KdDebuggerDataBlock"]
        return va, self.read_va(va, 0x340)

    def kdbg_ok(self):
        try:
            _, k = self.kdbg()
        except DumpError:
            return False
        return u32(k, 0x10) == KDBG_TAG

    def kdbg_field(self, off):
        _, k = self.kdbg()
        return u64(k, off)

    def processors(self, strict=True):
        """List of (prcb_va, ctx_va, ctx_pa, context bytes) for each
        processor in NumberProcessors, via KiProcessorBlock. With
        strict=False an unreadable entry gives (None, None, None, error)."""
        _, k = self.kdbg()
        kpb = u64(k, 0x218)
        off = u16(k, 0x338)
        out = []
        for i in range(self.f["NumberProcessors"]):
            try:
                prcb = self.va_ptr(kpb + i * self.ptr_size)
                ctx_va = self.va_ptr(prcb + off)
                ctx_pa = self.v2p(ctx_va)
                out.append((prcb, ctx_va, ctx_pa,
                            self.read_va(ctx_va, self.ctx_size)))
            except DumpError as e:
                if strict:
                    raise
                out.append((None, None, None, f"cpu {i}: {e}"))
        return out

    def header_context(self):
        o = self.f["ContextRecordOffset"]
        return self.hdr[o:o + self.ctx_size]

    # ------------------------------------------------------------ summary
    def summary(self, out=None):
        out = out or sys.stdout
        f = self.f
        p = lambda *a: print(*a, file=out)  # noqa: E731
        p(f"file: {self.path} ({len(self.data)} bytes)")
        p(f"signature: {f['Signature'].decode('latin-1')}"
          f"{f['ValidDump'].decode('latin-1')}  "
          f"({'x64' if self.x64 else 'x86'}, header {self.hdr_size:#x})")
        p(f"version: {f['MajorVersion']:#x}.{f['MinorVersion']}  "
          f"machine: {f['MachineImageType']:#x}  DumpType: {f['DumpType']}")
        st = f.get("SystemTime", 0)
        if 0 < st < (1 << 63):
            when = datetime.datetime(1601, 1, 1) + \
                datetime.timedelta(microseconds=st // 10)
            p(f"SystemTime: {when:%Y-%m-%d %H:%M:%S} UTC")
        p(f"DirectoryTableBase: {f['DirectoryTableBase']:#x}"
          f" (paging {self.paging})")
        p(f"PfnDataBase: {f['PfnDataBase']:#x}  PsLoadedModuleList: "
          f"{f['PsLoadedModuleList']:#x}  PsActiveProcessHead: "
          f"{f['PsActiveProcessHead']:#x}")
        try:
            va, k = self.kdbg()
            tag = k[0x10:0x14].decode("latin-1")
            p(f"KdDebuggerDataBlock: {va:#x} OwnerTag '{tag}' through DTB: "
              f"{'yes' if u32(k, 0x10) == KDBG_TAG else 'NO'}"
              f" (Size {u32(k, 0x14):#x})")
        except DumpError as e:
            p(f"KdDebuggerDataBlock: {f['KdDebuggerDataBlock']:#x}"
              f" unreadable: {e}")
        bp = ", ".join(f"{x:#x}" for x in f["BugCheckParameters"])
        live = " (LIVE_SYSTEM_DUMP)" if f["BugCheckCode"] == 0x161 else ""
        p(f"bugcheck: {f['BugCheckCode']:#x}{live} ({bp})")
        p(f"processors: {f['NumberProcessors']}")
        ip, sp = ("Rip", "Rsp") if self.x64 else ("Eip", "Esp")
        try:
            for i, (prcb, cva, cpa, raw) in enumerate(
                    self.processors(strict=False)):
                if prcb is None:
                    p(f"  {raw}")
                    continue
                c = decode_context(raw, self.x64)
                p(f"  cpu {i}: KPRCB {prcb:#x} Context {cva:#x} (pa {cpa:#x})"
                  f" {ip} {c[ip]:#x} {sp} {c[sp]:#x}")
        except DumpError as e:
            p(f"  processors unreadable: {e}")
        c = decode_context(self.header_context(), self.x64)
        p(f"header ContextRecord: {ip} {c[ip]:#x} {sp} {c[sp]:#x}")
        p(f"runs: {f['NumberOfRuns']}  NumberOfPages: {f['NumberOfPages']:#x}"
          f" (sum of runs {self.pages():#x})")
        for base, count, off in self.runs:
            p(f"  run PFN {base:#x} +{count:#x}  file offset {off:#x}")
        size = len(self.data)
        exp = self.hdr_size + self.pages() * PAGE
        p(f"size: {size:#x}  RequiredDumpSpace: {f['RequiredDumpSpace']:#x}"
          f"  header+pages: {exp:#x}  "
          f"{'consistent' if size == exp == f['RequiredDumpSpace'] else 'INCONSISTENT'}")


def main(argv):
    if len(argv) != 2:
        print(f"usage: {argv[0]} FILE.dmp", file=sys.stderr)
        return 2
    try:
        Dump(argv[1]).summary()
    except (DumpError, OSError) as e:
        print(f"{argv[1]}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
