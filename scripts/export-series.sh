#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# export-series.sh [MBOX]: the series as one would send it to qemu-devel,
# one mbox: `git format-patch --cover-letter` of build/src (scripts/build.sh
# makes it), the cover letter's subject and text taken from
# patches/cover-letter.txt (first line: subject; then the text).  Writes
# MBOX (default: build/series.mbox) and prints its path.
#
#   WINDMP_BUILD=/path   the build whose src/ to export (default build/)
#
# Send it with: git send-email --to=qemu-devel@nongnu.org MBOX
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
build=$(cd "${WINDMP_BUILD:-$top/build}" && pwd)
src=$build/src
mbox=${1:-$build/series.mbox}
letter=$top/patches/cover-letter.txt

[ -d "$src/.git" ] || { echo "export-series: no $src; run scripts/build.sh" >&2; exit 1; }
git -C "$src" -c core.abbrev=12 -c user.name=win-dmp \
    -c user.email=win-dmp@localhost format-patch -q --stdout \
    --cover-letter --thread=shallow base..HEAD > "$mbox.tmp"
# the cover letter's placeholders, from patches/cover-letter.txt
python3 - "$mbox.tmp" "$letter" <<'PY'
import sys
mbox, letter = sys.argv[1], sys.argv[2]
text = open(letter, encoding="utf-8").read().split("\n", 1)
subject, blurb = text[0].strip(), text[1].strip("\n") + "\n"
s = open(mbox, encoding="utf-8").read()
if "*** SUBJECT HERE ***" not in s or "*** BLURB HERE ***" not in s:
    sys.exit("export-series: no cover letter placeholders in the export")
s = s.replace("*** SUBJECT HERE ***", subject, 1)
s = s.replace("*** BLURB HERE ***\n", blurb, 1)
open(mbox, "w", encoding="utf-8").write(s)
PY
mv "$mbox.tmp" "$mbox"
echo "$mbox"
