#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Set up, build and run every test: the core's unit tests (standalone and
# in QEMU's tree), the win-dmp qtest, the end-to-end tests with the test
# guest (HMP, QMP, hostile guests, stock QEMU side by side, libvirt's
# virsh dump and automatic dumps), checkpatch on the exported series and a
# build of each patch on its own.  Ends with "N passed, N failed".
#
#   WINDMP_ACCEL=kvm|tcg   accelerator for the e2e tests (default: kvm if
#                          /dev/kvm is usable, else tcg)
#   WINDMP_SKIP_BISECT=1   do not build each patch on its own (the total
#                          then says so; CI always builds them)
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=${WINDMP_BUILD:-$top/build}
"$top/scripts/build.sh" || { echo "0 passed, 1 failed"; exit 1; }
build=$(cd "$build" && pwd)
results=$build/results
rm -rf "$results" && mkdir -p "$results"
export WINDMP_RESULTS=$results   # test_libvirt.py records the refusal there
export PATH=/usr/lib/ccache:$PATH CCACHE_BASEDIR=$build

# TAP output of one suite: count its ok / not ok lines
tap() {
    local name=$1; shift
    echo "== $name" >&2
    "$@" > "$results/$name.tap" 2>"$results/$name.err"
    local rc=$?
    grep -E '^(not )?ok ' "$results/$name.tap" |
        sed -E "s/^(not )?ok [0-9]+ /\1ok $name: /" >> "$results/all"
    if [ $rc != 0 ] && ! grep -q '^not ok' "$results/$name.tap"; then
        echo "not ok $name: exited $rc" >> "$results/all"
        tail -5 "$results/$name.err" >&2
    fi
    grep '^not ok' "$results/$name.tap" >&2
}

tap core-unit "$build/core/test-windmp" --tap
# windmp's parsers: unit tests, and each fuzz target replaying its seeds;
# the same again with ASan and UBSan, core included
for b in core core-asan; do
    s=${b#core}
    [ -n "$s" ] && tap "core-unit$s" "$build/$b/test-windmp" --tap
    tap "tool-elfcore$s" "$build/$b/tests/unit/test-elfcore" --tap
    tap "tool-dmpfile$s" "$build/$b/tests/unit/test-dmpfile" --tap
    for t in elfcore dmpfile prepare; do
        tap "fuzz-$t-replay$s" "$build/$b/tests/unit/fuzz-$t-replay"
        # the corpus the long fuzz runs grew (scripts/fuzz.sh)
        tap "fuzz-$t-corpus$s" "$build/$b/tests/unit/fuzz-$t-replay" \
            "$top/tests/unit/fuzz-corpus/$t"
    done
done
# each fuzz target for a while: clang, libFuzzer, ASan and UBSan
WINDMP_FUZZ_BUILD=$build/fuzz tap fuzz "$top/scripts/fuzz.sh"
# windmp and its man page install with the standalone build
inst=$(mktemp -d)
if DESTDIR=$inst meson install -C "$build/core" --no-rebuild >"$results/install.log" 2>&1 &&
   [ -f "$inst/usr/local/share/man/man1/windmp.1" ] &&
   "$inst/usr/local/bin/windmp" --version | grep -q '^windmp '; then
    echo "ok install: windmp and windmp.1 installed by meson install" >> "$results/all"
else
    echo "not ok install: meson install of windmp" >> "$results/all"
fi
rm -rf "$inst"

ninja -C "$build/qemu" tests/unit/test-windmp tests/qtest/win-dump-test \
    > "$results/ninja-tests.log" 2>&1 ||
    { echo "not ok building the in-tree tests" >> "$results/all"; tail "$results/ninja-tests.log"; }
tap qemu-unit "$build/qemu/tests/unit/test-windmp" --tap
QTEST_QEMU_BINARY=$build/qemu/qemu-system-x86_64 \
    tap qtest "$build/qemu/tests/qtest/win-dump-test" --tap

# pytest's JUnit XML -> ok / not ok lines; a skipped test is not a pass
junit() {
    /usr/bin/python3 - "$1" "$2" >> "$results/all" <<'PY'
import sys, xml.etree.ElementTree as ET
path, label = sys.argv[1], sys.argv[2]
try:
    root = ET.parse(path).getroot()
except Exception as e:
    print(f"not ok {label}: no results ({e})")
    sys.exit()
n = 0
for case in root.iter("testcase"):
    n += 1
    name = f"{label}: {case.get('classname')}.{case.get('name')}"
    bad = [c.tag for c in case if c.tag in ("failure", "error", "skipped")]
    print(("not ok " if bad else "ok ") + name + (f" ({bad[0]})" if bad else ""))
if n == 0:
    print(f"not ok {label}: pytest ran no test")
PY
}

# Everything under TCG: it is fast for this tiny guest.
echo "== e2e, hostile, stock-vs-ours and libvirt tests (pytest, tcg)" >&2
WINDMP_ACCEL=tcg /usr/bin/python3 -m pytest -p no:cacheprovider -q \
    "$top/tests/e2e" --junitxml="$results/e2e-tcg.xml" > "$results/e2e-tcg.log" 2>&1
tail -1 "$results/e2e-tcg.log" >&2
junit "$results/e2e-tcg.xml" e2e-tcg

# windmp as QEMU's build makes it (contrib/windmp): the tool's end-to-end
# tests again, with that binary instead of the standalone one
qwindmp=$build/qemu/contrib/windmp/windmp
if [ -x "$qwindmp" ] && "$qwindmp" --version | grep -q '^windmp '; then
    echo "ok contrib-windmp: QEMU's build made contrib/windmp/windmp" >> "$results/all"
    echo "== windmp tests with QEMU's contrib/windmp/windmp (pytest, tcg)" >&2
    WINDMP_ACCEL=tcg WINDMP_TOOL=$qwindmp /usr/bin/python3 -m pytest \
        -p no:cacheprovider -q "$top/tests/e2e/test_windmp.py" \
        --junitxml="$results/e2e-contrib-windmp.xml" \
        > "$results/e2e-contrib-windmp.log" 2>&1
    tail -1 "$results/e2e-contrib-windmp.log" >&2
    junit "$results/e2e-contrib-windmp.xml" e2e-contrib-windmp
else
    echo "not ok contrib-windmp: no working $qwindmp from QEMU's build" >> "$results/all"
fi

# The end-to-end tests again under KVM, where there is KVM, and libvirt
# with <domain type='kvm'>, and the two live dumps whose guest writes
# while it is dumped (about 5 minutes here).  Nested KVM here makes
# the guest's first touch of each page slow, so 64 MiB; and KVM without
# VMX/SVM (PVM) cannot run 32-bit paging guests at all.
if [ -w /dev/kvm ] && [ "${WINDMP_ACCEL:-kvm}" = kvm ]; then
    sel=()
    if ! grep -qE '\b(vmx|svm)\b' /proc/cpuinfo; then
        echo "e2e-kvm: this KVM has no VMX/SVM (PVM): x86 guests run under tcg only" >&2
        sel+=(x86)
    fi
    # KVM gives a guest 5-level paging only if the host CPU has it
    if ! grep -qw la57 /proc/cpuinfo; then
        echo "e2e-kvm: this CPU has no la57: the LA57 guest runs under tcg only" >&2
        sel+=(la57)
    fi
    if [ ${#sel[@]} -gt 0 ]; then
        k="not ${sel[0]}"
        [ ${#sel[@]} -gt 1 ] && k+=" and not ${sel[1]}"
        sel=(-k "$k")
    fi
    echo "== e2e tests (pytest, kvm)" >&2
    WINDMP_ACCEL=kvm WINDMP_MEM_MB=64 /usr/bin/python3 -m pytest \
        -p no:cacheprovider -q "${sel[@]}" "$top/tests/e2e/test_e2e.py" \
        "$top/tests/e2e/test_libvirt.py" \
        "$top/tests/e2e/test_live.py::test_live_dump_is_the_pause_instant" \
        "$top/tests/e2e/test_live.py::test_live_dump_copy_budget" \
        --junitxml="$results/e2e-kvm.xml" > "$results/e2e-kvm.log" 2>&1
    tail -1 "$results/e2e-kvm.log" >&2
    junit "$results/e2e-kvm.xml" e2e-kvm
else
    echo "e2e-kvm: /dev/kvm is not usable here: the e2e tests ran under tcg only" >&2
fi

# --- second base: QEMU 10.2 (WINDMP_BASE=10.2, build/10.2) -----------------
# The same series on QEMU 10.2.2: build it (QEMU only; the core, windmp and
# the guest do not depend on the base), then its in-tree unit tests, the
# qtest and the end-to-end tests under TCG.  Each patch on its own is built
# on the default base only (check-series.sh).
if [ "${WINDMP_BASE:-10.0}" = 10.0 ]; then
    b2=$build/10.2
    echo "== second base: QEMU 10.2 in $b2" >&2
    if WINDMP_BASE=10.2 WINDMP_BUILD=$b2 WINDMP_QEMU_ONLY=1 \
           "$top/scripts/build.sh" > "$results/build-10.2.log" 2>&1 &&
       ninja -C "$b2/qemu" tests/unit/test-windmp tests/qtest/win-dump-test \
           >> "$results/build-10.2.log" 2>&1; then
        echo "ok base-10.2: the series builds on QEMU $(cat "$b2/base/VERSION")" >> "$results/all"
        tap qemu-unit-10.2 "$b2/qemu/tests/unit/test-windmp" --tap
        QTEST_QEMU_BINARY=$b2/qemu/qemu-system-x86_64 \
            tap qtest-10.2 "$b2/qemu/tests/qtest/win-dump-test" --tap
        WINDMP_ACCEL=tcg WINDMP_QEMU=$b2/qemu/qemu-system-x86_64 \
            WINDMP_TOOL=$build/core/windmp WINDMP_GUEST_DIR=$build/guest \
            /usr/bin/python3 -m pytest -p no:cacheprovider -q \
            "$top/tests/e2e/test_e2e.py" \
            "$top/tests/e2e/test_live.py::test_live_dump_is_the_pause_instant" \
            --junitxml="$results/e2e-10.2.xml" \
            > "$results/e2e-10.2.log" 2>&1
        tail -1 "$results/e2e-10.2.log" >&2
        junit "$results/e2e-10.2.xml" e2e-10.2
    else
        echo "not ok base-10.2: the series does not build on QEMU 10.2" >> "$results/all"
        tail -20 "$results/build-10.2.log" >&2
    fi
fi
# --- end of the second base ------------------------------------------------

# --- QEMU with ASan and UBSan (build/qemu-asan) ------------------------------
# The win-dmp qtest and the hostile guests on a sanitized QEMU: any report
# aborts QEMU (halt_on_error), so the test that ran it fails.  QEMU frees
# little at exit by design: leaks are not looked for.
echo "== QEMU with ASan and UBSan" >&2
export ASAN_OPTIONS=detect_leaks=0:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1
if WINDMP_QEMU_SANITIZE=1 WINDMP_QEMU_ONLY=1 WINDMP_NO_APT=1 \
       "$top/scripts/build.sh" > "$results/build-asan.log" 2>&1 &&
   ninja -C "$build/qemu-asan" tests/qtest/win-dump-test \
       >> "$results/build-asan.log" 2>&1; then
    echo "ok qemu-asan: QEMU builds with --enable-asan --enable-ubsan" >> "$results/all"
    QTEST_QEMU_BINARY=$build/qemu-asan/qemu-system-x86_64 \
        tap qtest-asan "$build/qemu-asan/tests/qtest/win-dump-test" --tap
    WINDMP_ACCEL=tcg WINDMP_QEMU=$build/qemu-asan/qemu-system-x86_64 \
        WINDMP_READY_TIMEOUT=300 /usr/bin/python3 -m pytest \
        -p no:cacheprovider -q --basetemp="$results/asan-tmp" \
        "$top/tests/e2e/test_hostile.py" "$top/tests/e2e/test_kernel.py" \
        "$top/tests/e2e/test_live.py" --junitxml="$results/e2e-asan.xml" \
        > "$results/e2e-asan.log" 2>&1
    tail -1 "$results/e2e-asan.log" >&2
    junit "$results/e2e-asan.xml" e2e-asan
    # a report that did not abort QEMU would still be in its stderr
    if grep -rlE "runtime error:|ERROR: AddressSanitizer" \
           "$results" 2>/dev/null | grep -q .; then
        echo "not ok qemu-asan: a sanitizer report (see $results)" >> "$results/all"
    fi
else
    echo "not ok qemu-asan: QEMU does not build with ASan and UBSan" >> "$results/all"
    tail -20 "$results/build-asan.log" >&2
fi
unset ASAN_OPTIONS UBSAN_OPTIONS
# --- end of the sanitized QEMU ---------------------------------------------

echo "== series: checkpatch and a build of each patch" >&2
"$top/scripts/check-series.sh" >> "$results/all" 2>"$results/series.err"
grep '^not ok' "$results/all" | grep 'series' >&2

passed=$(grep -c '^ok' "$results/all")
failed=$(grep -c '^not ok' "$results/all")
echo "results: $results/all" >&2
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
