#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Fuzz windmp's parsers for a bounded time: build the libFuzzer targets of
# tests/unit/ with clang, ASan and UBSan in their own build directory, seed
# each from the inputs its replay binary generates, run it, and print one
# TAP line per target.  A crashing input is kept under <build>/crashes/
# and named in the "not ok" line; replay it with
#     <build>/tests/unit/fuzz-<target> <input>        (with the sanitizers)
#     build/core/tests/unit/fuzz-<target>-replay <input>   (plain build)
# The corpus each run finds is kept too, so later runs start from it.
# Every run also starts from the corpus in the repository
# (tests/unit/fuzz-corpus/<target>/), which the long run grows:
#
#   WINDMP_FUZZ_RUNS=10000000 scripts/fuzz.sh
#
# runs each target for that many inputs instead of a time, then merges
# what it found that adds coverage into tests/unit/fuzz-corpus/<target>/
# (libFuzzer -merge=1: a minimal set), to be committed; scripts/test.sh
# replays that corpus in the plain and the sanitized builds.
#
#   WINDMP_FUZZ_SECONDS=30                  seconds per target
#   WINDMP_FUZZ_RUNS=N                      inputs per target instead
#   WINDMP_FUZZ_TARGETS="elfcore dmpfile prepare"
#   WINDMP_FUZZ_BUILD=build/fuzz            the build directory
#
# Needs clang and libFuzzer (Debian 12: apt-get install clang
# libclang-rt-14-dev) and meson, ninja, libglib2.0-dev.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${WINDMP_FUZZ_BUILD:-$top/build/fuzz}
secs=${WINDMP_FUZZ_SECONDS:-30}
runs_wanted=${WINDMP_FUZZ_RUNS:-}
targets=${WINDMP_FUZZ_TARGETS:-elfcore dmpfile prepare}
export PATH=/usr/lib/ccache:$PATH

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
log=$dir/fuzz-logs
mkdir -p "$log" "$dir/crashes"

if [ ! -f "$dir/build.ninja" ]; then
    if ! CC=clang meson setup "$dir" "$top" -Dfuzz=true \
            -Dbuildtype=debugoptimized > "$log/setup.log" 2>&1; then
        tail -20 "$log/setup.log" >&2
        echo "not ok 1 fuzz: cannot configure $dir (clang and" \
             "libclang-rt-14-dev installed?)"
        exit 1
    fi
fi
if ! ninja -C "$dir" > "$log/build.log" 2>&1; then
    tail -20 "$log/build.log" >&2
    echo "not ok 1 fuzz: the fuzz targets do not build"
    exit 1
fi

# UBSan aborts (the build says -fno-sanitize-recover); libFuzzer reports
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}

n=0
failed=0
for t in $targets; do
    n=$((n + 1))
    bin=$dir/tests/unit/fuzz-$t
    seeds=$dir/seeds/$t
    corpus=$dir/corpus/$t
    out=$log/fuzz-$t.log
    rm -rf "$seeds"
    mkdir -p "$corpus"
    if ! "$dir/tests/unit/fuzz-$t-replay" --write-seeds "$seeds" \
            > "$out" 2>&1; then
        echo "not ok $n fuzz-$t: cannot write its seeds (see $out)"
        failed=1
        continue
    fi
    kept=$top/tests/unit/fuzz-corpus/$t
    mkdir -p "$kept"
    if [ -n "$runs_wanted" ]; then
        limit=(-runs="$runs_wanted")
    else
        limit=(-max_total_time="$secs")
    fi
    start=$(date +%s)
    # one process (-jobs would fork more): the machine is shared; new
    # inputs go to the first directory, the build's corpus
    "$bin" "${limit[@]}" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$dir/crashes/$t-" \
        "$corpus" "$kept" "$seeds" >> "$out" 2>&1
    rc=$?
    took=$(( $(date +%s) - start ))
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$out" | tail -1)
    cov=$(grep -oE 'cov: [0-9]+ ft: [0-9]+' "$out" | tail -1)
    if [ $rc = 0 ] && [ -n "$runs_wanted" ]; then
        # keep, in the repository, the smallest set with all coverage
        "$bin" -merge=1 -rss_limit_mb=2048 "$kept" "$corpus" "$seeds" \
            >> "$out" 2>&1 || rc=$?
    fi
    if [ $rc = 0 ]; then
        echo "ok $n fuzz-$t: ${runs:-?} runs in ${took}s, no crash" \
             "(${cov:-no coverage shown}, corpus $(ls "$corpus" | wc -l)," \
             "kept $(ls "$kept" | wc -l))"
    else
        input=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$out" |
                tail -1)
        why=$(grep -m1 -E '(==ERROR|runtime error|invariant broken)' \
              "$out" | cut -c1-160)
        echo "not ok $n fuzz-$t: crashed after ${runs:-?} runs:" \
             "${why:-exit $rc}; input kept as ${input:-?} (log $out)"
        failed=1
    fi
done
echo "1..$n"
exit $failed
