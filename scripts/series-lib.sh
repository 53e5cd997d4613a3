# SPDX-License-Identifier: GPL-2.0-or-later
#
# series-lib.sh: what apply-series.sh, refresh-series.sh, check-series.sh
# and export-series.sh share about the series in patches/ (sourced, not
# run).  See patches/README.md.

# The patch files of the series, in order (patches/series without comments).
series_patches() {
    grep -v -e '^#' -e '^$' "$top/patches/series"
}

# The files under qemu/ that patch file $1 adds: its "X-Windmp-Add: path..."
# header lines (mail header only: up to the first empty line).
series_adds() {
    awk '/^$/ { exit } /^X-Windmp-Add:/ { for (i = 2; i <= NF; i++) print $i }' "$1"
}

