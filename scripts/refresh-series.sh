#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# refresh-series.sh [SRC]: the reverse of apply-series.sh.  After editing
# the series in SRC (default build/src: amend, fixup and rebase its commits
# as usual), write each commit back: the files it adds (X-Windmp-Add) to
# qemu/, its edits to QEMU's files to the diff of its patch.  The messages
# in patches/ stay as they are.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-${WINDMP_BUILD:-$top/build}/src}
cd "$top"
mapfile -t series < <(grep -v -e '^#' -e '^$' patches/series)
mapfile -t commits < <(git -C "$src" rev-list --reverse base..HEAD)
if [ "${#commits[@]}" != "${#series[@]}" ]; then
    echo "refresh-series: $src has ${#commits[@]} commits, the series ${#series[@]}" >&2
    exit 1
fi

for i in "${!series[@]}"; do
    p=patches/${series[$i]}
    c=${commits[$i]}
    mapfile -t adds < <(awk '/^$/ { exit } /^X-Windmp-Add:/ { for (i = 2; i <= NF; i++) print $i }' "$p")
    excl=()
    for f in "${adds[@]}"; do
        now=$(sha256sum < "qemu/$f" | cut -d' ' -f1)
        applied=$(awk -v f="$f" '$2 == f { print $1 }' "$src/.git/windmp-overlay")
        if [ "$now" != "$applied" ] &&
           [ "$now" != "$(git -C "$src" show "$c:$f" | sha256sum | cut -d' ' -f1)" ]; then
            echo "refresh-series: qemu/$f changed since the series was applied;" \
                 "run scripts/build.sh first" >&2
            exit 1
        fi
        git -C "$src" show "$c:$f" > "qemu/$f"
        excl+=(":(exclude)$f")
    done
    # keep the header and message, replace the diff
    awk '/^---$/ { exit } { print }' "$p" > "$p.new"
    d=$(git -C "$src" diff "$c~1" "$c" -- . "${excl[@]}")
    if [ -n "$d" ]; then
        { echo "---"; printf '%s\n' "$d"; } >> "$p.new"
    fi
    mv "$p.new" "$p"
done
echo "refresh-series: wrote ${#series[@]} patches from $src" >&2
