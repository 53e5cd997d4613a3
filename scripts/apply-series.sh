#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# apply-series.sh BASE SRC: make SRC a git tree of BASE with our series on
# top, one commit per patch, so that `git format-patch base` exports it.
#
# The series (patches/series) lists patch files in order.  A patch holds a
# commit message and the edits to QEMU's own files; the files that are ours
# entirely live under qemu/ at their QEMU paths, and a patch adds them with
# "X-Windmp-Add: path..." lines in its mail header (patches/README.md).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
base=$1
src=$2

cd "$top"
. scripts/series-lib.sh
mapfile -t series < <(series_patches)

# every file under qemu/ must be added by exactly one patch
listed=$(for p in "${series[@]}"; do series_adds "patches/$p"; done | sort)
present=$(cd qemu && find . -type f ! -name '*.pyc' | sed 's|^\./||' | sort)
if [ "$listed" != "$present" ]; then
    echo "apply-series: files under qemu/ and X-Windmp-Add lines differ:" >&2
    diff <(echo "$listed") <(echo "$present") >&2 || true
    exit 1
fi

stamp=$(cat scripts/apply-series.sh scripts/series-lib.sh patches/series \
            $(printf 'patches/%s\n' "${series[@]}") \
            $(printf 'qemu/%s\n' $present) | sha256sum | cut -c1-16)
basestamp=$(cat "$base/VERSION"; stat -c "%Y %i" "$base" "$base/VERSION")
if [ -f "$src/.git/windmp-series" ] &&
   [ "$(cat "$src/.git/windmp-series")" = "$stamp" ] &&
   [ "$(cat "$src/.git/windmp-base")" = "$basestamp" ]; then
    exit 0
fi

export GIT_AUTHOR_NAME="win-dmp" GIT_AUTHOR_EMAIL="win-dmp@localhost"
export GIT_COMMITTER_NAME="$GIT_AUTHOR_NAME" GIT_COMMITTER_EMAIL="$GIT_AUTHOR_EMAIL"
if [ ! -d "$src/.git" ] || [ "$(cat "$src/.git/windmp-base" 2>/dev/null)" != "$basestamp" ]; then
    echo "== preparing the git tree of the base in $src" >&2
    rm -rf "$src"
    cp -a "$base" "$src"
    git -C "$src" init -q
    git -C "$src" add -A -f
    git -C "$src" commit -q --no-verify -m "QEMU $(cat "$base/VERSION") (base)"
    git -C "$src" tag base
    echo "$basestamp" > "$src/.git/windmp-base"
else
    git -C "$src" reset -q --hard base
    git -C "$src" clean -q -fdx
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for k in "${!series[@]}"; do
    p=${series[$k]}
    adds=$(series_adds "patches/$p")
    for f in $adds; do
        mkdir -p "$src/$(dirname "$f")"
        cp "qemu/$f" "$src/$f"
    done
    # qemu/ holds the final version of a file: what this patch adds is
    # that, less the edits of the later patches that change it
    for ((j = ${#series[@]} - 1; j > k; j--)); do
        git mailinfo "$tmp/lmsg" "$tmp/ldiff" < "patches/${series[$j]}" >/dev/null
        for f in $adds; do
            if grep -q "^diff --git a/$f b/$f\$" "$tmp/ldiff"; then
                git -C "$src" apply -R --include="$f" "$tmp/ldiff" || {
                    echo "apply-series: ${series[$j]}'s edit of $f does not" \
                         "revert from qemu/$f" >&2
                    exit 1
                }
            fi
        done
    done
    git mailinfo "$tmp/msg" "$tmp/diff" < "patches/$p" > "$tmp/info"
    if [ -s "$tmp/diff" ]; then
        # a later 10.0.x may have moved the context a little: allow fuzz
        if ! git -C "$src" apply --whitespace=nowarn "$tmp/diff" 2>/dev/null &&
           ! patch -d "$src" -p1 -s -F3 --no-backup-if-mismatch < "$tmp/diff"; then
            echo "apply-series: $p does not apply to QEMU $(cat "$base/VERSION")" >&2
            exit 1
        fi
    fi
    { sed -n 's/^Subject: //p' "$tmp/info"; echo; cat "$tmp/msg"; } > "$tmp/commit"
    git -C "$src" add -A -f
    git -C "$src" commit -q --no-verify -F "$tmp/commit"
done
echo "$stamp" > "$src/.git/windmp-series"
# what qemu/ held when applied: refresh-series.sh must not undo later edits
(cd qemu && sha256sum $present) > "$src/.git/windmp-overlay"
echo "== applied ${#series[@]} patches on QEMU $(cat "$base/VERSION")" >&2
