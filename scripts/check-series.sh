#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Check the series as a maintainer would receive it: export it with
# git format-patch, run QEMU's checkpatch.pl on every patch, apply the
# exported mbox with git am to a pristine base, and build every patch on its
# own (bisectability).  Prints one TAP-like line per check.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${WINDMP_BUILD:-$top/build}" && pwd)
src=$build/src
out=$build/series
export PATH=/usr/lib/ccache:$PATH CCACHE_BASEDIR=$build

# Does an F: pattern of the series' MAINTAINERS cover every
# file that patch $1 adds?  Then checkpatch's question whether MAINTAINERS
# needs updating is answered: it does not.
maintained() {
    local f pat ok
    for f in $(awk '/^diff --git/ { f = $4; sub("^b/", "", f) }
                    /^new file mode/ { print f }' "$1"); do
        ok=
        while read -r pat; do
            case $pat in
            */) [[ $f == "$pat"* ]] && ok=1 ;;
            *) [[ $f == $pat ]] && ok=1 ;;
            esac
        done < <(sed -n 's/^F:[[:space:]]*//p' "$src/MAINTAINERS")
        [ -n "$ok" ] || return 1
    done
}

rm -rf "$out"
git -C "$src" format-patch -q base..HEAD -o "$out"
for p in "$out"/*.patch; do
    name=$(basename "$p")
    # warnings count too: a reviewer reads them
    (cd "$src" && ./scripts/checkpatch.pl --no-signoff "$p") \
        > "$out/$name.checkpatch" 2>&1
    if grep -q '^total: 0 errors, 0 warnings' "$out/$name.checkpatch"; then
        echo "ok series: checkpatch $name"
    elif grep -q '^total: 0 errors, 1 warnings' "$out/$name.checkpatch" &&
         grep -q 'does MAINTAINERS need updating' "$out/$name.checkpatch" &&
         maintained "$p"; then
        echo "ok series: checkpatch $name (its new files are in MAINTAINERS already)"
    else
        echo "not ok series: checkpatch $name"
        cat "$out/$name.checkpatch" >&2
    fi
done

# The mbox one would send (export-series.sh: cover letter and patches)
# must apply with git am to a pristine base and give the same tree.  The
# cover letter comes first and has no diff: git am stops on it as an empty
# patch, and is told to skip that one message only.
am=$(mktemp -d)
. "$top/scripts/series-lib.sh"
n=$(series_patches | wc -l)   # every patch of patches/series, no more
gitam() {
    git -C "$am/base" -c user.name=win-dmp -c user.email=win-dmp@localhost \
        am -q "$@" >>"$out/am.log" 2>&1
}
if "$top/scripts/export-series.sh" "$out/series.mbox" >/dev/null 2>"$out/am.log" &&
   git -C "$src" worktree add -q --detach "$am/base" base >>"$out/am.log" 2>&1 &&
   { gitam "$out/series.mbox" ||
     { grep -q '^Patch is empty' "$out/am.log" &&
       [ "$(git -C "$am/base" rev-parse HEAD)" = "$(git -C "$src" rev-parse base)" ] &&
       gitam --skip; }; } &&
   [ "$(git -C "$am/base" rev-list --count base..HEAD)" = "$n" ] &&
   git -C "$src" diff --quiet HEAD "$(git -C "$am/base" rev-parse HEAD)"; then
    echo "ok series: git am applies the exported mbox (cover letter and $n patches) to a pristine QEMU $(cat "$src/VERSION")"
else
    echo "not ok series: git am of the exported mbox on a pristine QEMU $(cat "$src/VERSION")"
    tail -20 "$out/am.log" >&2
fi
git -C "$src" worktree remove --force "$am/base" 2>/dev/null
git -C "$src" worktree prune
rm -rf "$am"

if [ -n "${WINDMP_SKIP_BISECT:-}" ]; then
    echo "check-series: per-patch builds not run (WINDMP_SKIP_BISECT)" >&2
    exit 0
fi
# Build each commit in the tree build.sh uses: only the series' files
# change between commits, so each step is an incremental build.
branch=$(git -C "$src" symbolic-ref --short HEAD)
trap 'git -C "$src" checkout -q "$branch"; ninja -C "$build/qemu" qemu-system-x86_64 >/dev/null 2>&1' EXIT
for c in $(git -C "$src" rev-list --reverse base..HEAD); do
    subject=$(git -C "$src" log -1 --format=%s "$c")
    git -C "$src" checkout -q --detach "$c"
    targets=(qemu-system-x86_64)
    [ -f "$src/tests/unit/test-windmp.c" ] && targets+=(tests/unit/test-windmp)
    [ -f "$src/tests/qtest/win-dump-test.c" ] && targets+=(tests/qtest/win-dump-test)
    [ -f "$src/contrib/windmp/main.c" ] && targets+=(contrib/windmp/windmp)
    if ninja -C "$build/qemu" "${targets[@]}" > "$out/ninja-$c.log" 2>&1; then
        echo "ok series: builds alone: $subject"
    else
        echo "not ok series: builds alone: $subject"
        grep -E 'error' "$out/ninja-$c.log" | head -20 >&2
    fi
done
