#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# refresh-series.sh [SRC]: the reverse of apply-series.sh.  After editing
# the series in SRC (default build/src: amend, fixup, reword and rebase its
# commits as usual), write each commit back: the files it adds
# (X-Windmp-Add) to qemu/, its commit message and its edits to QEMU's files
# to its patch.  A patch keeps its file name and X-Windmp-Add lines; see
# patches/README.md.  Refresh from the default base (10.0): its diffs are
# the ones that apply to both bases.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
src=${1:-${WINDMP_BUILD:-$top/build}/src}
cd "$top"
. scripts/series-lib.sh
mapfile -t series < <(series_patches)
mapfile -t commits < <(git -C "$src" rev-list --reverse base..HEAD)
if [ "${#commits[@]}" != "${#series[@]}" ]; then
    echo "refresh-series: $src has ${#commits[@]} commits, the series ${#series[@]}" >&2
    exit 1
fi

for i in "${!series[@]}"; do
    p=patches/${series[$i]}
    c=${commits[$i]}
    mapfile -t adds < <(series_adds "$p")
    excl=()
    for f in "${adds[@]}"; do
        now=$(sha256sum < "qemu/$f" | cut -d' ' -f1)
        applied=$(awk -v f="$f" '$2 == f { print $1 }' "$src/.git/windmp-overlay")
        if [ "$now" != "$applied" ] &&
           [ "$now" != "$(git -C "$src" show "HEAD:$f" | sha256sum | cut -d' ' -f1)" ]; then
            echo "refresh-series: qemu/$f changed since the series was applied;" \
                 "run scripts/build.sh first" >&2
            exit 1
        fi
        # qemu/ holds the file as the series leaves it; a later patch
        # that edits it carries that edit as a diff
        git -C "$src" show "HEAD:$f" > "qemu/$f"
        excl+=(":(exclude)$f")
    done
    # the header (From, X-Windmp-Add) stays; subject, message and diff
    # are the commit's
    {
        grep -m1 '^From: ' "$p" || echo "From: win-dmp <win-dmp@localhost>"
        echo "Subject: [PATCH] $(git -C "$src" log -1 --format=%s "$c")"
        for f in "${adds[@]}"; do
            echo "X-Windmp-Add: $f"
        done
        echo
        git -C "$src" log -1 --format=%b "$c" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
        d=$(git -C "$src" diff "$c~1" "$c" -- . "${excl[@]}")
        if [ -n "$d" ]; then
            echo "---"
            printf '%s\n' "$d"
        fi
    } > "$p.new"
    mv "$p.new" "$p"
done
echo "refresh-series: wrote ${#series[@]} patches from $src" >&2
