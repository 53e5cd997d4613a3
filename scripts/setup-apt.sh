#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Make apt able to give us what the build needs: the QEMU source of the two
# bases (trixie's 10.0.x, sid's 10.2.x) and bookworm-backports' meson and
# python3-pycotap.  The mirror is taken from the machine's own
# Debian source list so that no host is named here.
set -euo pipefail

[ "$(id -u)" = 0 ] || { echo "setup-apt: must run as root (apt-get)" >&2; exit 1; }

mirror=
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    mirror=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' \
             /etc/apt/sources.list.d/debian.sources)
fi
if [ -z "$mirror" ] && [ -f /etc/apt/sources.list ]; then
    mirror=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
             /etc/apt/sources.list)
fi
[ -n "$mirror" ] || { echo "setup-apt: cannot find a Debian mirror in /etc/apt" >&2; exit 1; }

keyring=/usr/share/keyrings/debian-archive-keyring.gpg
list=/etc/apt/sources.list.d/windmp.sources
want="Types: deb-src
URIs: $mirror
Suites: trixie
Components: main
Signed-By: $keyring

Types: deb-src
URIs: $mirror
Suites: sid
Components: main
Signed-By: $keyring

Types: deb
URIs: $mirror
Suites: bookworm-backports
Components: main
Signed-By: $keyring"
stamp=/var/lib/apt/lists/windmp.stamp
if [ "$(cat "$list" 2>/dev/null)" != "$want" ] || [ ! -e "$stamp" ]; then
    printf '%s\n' "$want" > "$list"
    # Only what is named with /bookworm-backports (meson, python3-pycotap)
    # comes from backports; everything else stays bookworm's.
    cat > /etc/apt/preferences.d/windmp-backports <<'PREF'
Package: *
Pin: release a=bookworm-backports
Pin-Priority: 100
PREF
    apt-get update -q
    touch "$stamp"
fi
