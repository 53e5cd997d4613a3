#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Set up this machine and build everything: the patched QEMU
# (qemu-system-x86_64 only), the standalone core with its unit tests, and the
# test guest.  Safe to run again: nothing is fetched or rebuilt that is
# already there and up to date.
#
#   WINDMP_BASE=10.0|10.2         the QEMU the series is applied to:
#                                 10.0 (default) = Debian 13's 10.0.x
#                                 (apt-get source qemu/trixie), 10.2 =
#                                 Debian unstable's 10.2.2 (apt-get source
#                                 qemu=1:10.2.2+ds-1)
#   QEMU_SRC=/path/to/qemu        use that tree as the base instead of
#                                 Debian's source package; its VERSION must
#                                 be of the WINDMP_BASE series
#   WINDMP_BUILD=/path            where build output goes (default: build/
#                                 for 10.0, build/10.2/ for 10.2)
#   WINDMP_NO_APT=1               do not install packages (not root, or done)
#   WINDMP_QEMU_SANITIZE=1        build QEMU with ASan and UBSan instead, in
#                                 qemu-asan/ (scripts/test.sh does)
#   WINDMP_QEMU_ONLY=1            build QEMU only, not the core, windmp and
#                                 the test guest (they do not depend on the
#                                 base; test.sh's 10.2 pass uses build/'s)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
base_series=${WINDMP_BASE:-10.0}
case "$base_series" in
10.0) debsrc=qemu/trixie; defbuild=$top/build ;;
10.2) debsrc=qemu=1:10.2.2+ds-1; defbuild=$top/build/10.2 ;;
*)  echo "build: WINDMP_BASE=$base_series: the series is for QEMU 10.0 or 10.2" >&2
    exit 1 ;;
esac
build=${WINDMP_BUILD:-$defbuild}
mkdir -p "$build"
build=$(cd "$build" && pwd)
log() { printf '== %s\n' "$*" >&2; }

# --- packages -------------------------------------------------------------
packages=(
    build-essential pkg-config ccache dpkg-dev git rsync
    python3 python3-venv python3-setuptools python3-pytest
    flex bison ninja-build meson/bookworm-backports
    # QEMU 10.2's configure needs pycotap (bookworm has none)
    python3-pycotap/bookworm-backports
    libglib2.0-dev zlib1g-dev liblzo2-dev libsnappy-dev libfdt-dev
    libpixman-1-dev
    # the firmware our build uses, and stock QEMU to compare against
    qemu-system-x86 qemu-system-data seabios ipxe-qemu
    # libvirt for tests/e2e/test_libvirt.py (embedded driver, no daemon)
    libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients
    # libFuzzer for the parsers' fuzz targets (scripts/fuzz.sh)
    clang libclang-rt-14-dev
)
if [ -z "${WINDMP_NO_APT:-}" ]; then
    stamp=$build/.packages
    want=$(printf '%s\n' "${packages[@]}" | grep -v '^#' | sha256sum | cut -c1-16)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
        log "installing build dependencies"
        "$top/scripts/setup-apt.sh"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
            --no-install-recommends "${packages[@]}" >"$build/apt.log" 2>&1 ||
            { tail -20 "$build/apt.log"; exit 1; }
        echo "$want" > "$stamp"
    fi
    # libvirt's QEMU driver must resolve its compiled-in user and group even
    # when qemu.conf says root (libvirt-daemon-system would create them)
    getent group libvirt-qemu >/dev/null || groupadd --system libvirt-qemu
    getent passwd libvirt-qemu >/dev/null ||
        useradd --system --gid libvirt-qemu --no-create-home \
            --home-dir /var/lib/libvirt --shell /usr/sbin/nologin libvirt-qemu
fi
meson_version=$(meson --version)
if ! printf '1.5.0\n%s\n' "$meson_version" | sort -VC; then
    echo "build: meson $meson_version is too old; QEMU $base_series needs >= 1.5" >&2
    exit 1
fi

# --- the base: QEMU 10.0.x or 10.2.x ---------------------------------------
base=$build/base
if [ -n "${QEMU_SRC:-}" ]; then
    want="src:$(cd "$QEMU_SRC" && pwd)"
    if [ "$(cat "$build/.base" 2>/dev/null)" != "$want" ]; then
        log "copying the base from $QEMU_SRC"
        rm -rf "$base" && mkdir -p "$base"
        rsync -a --exclude=.git --exclude=/build "$QEMU_SRC/" "$base/"
        echo "$want" > "$build/.base"
    fi
elif [[ "$(cat "$build/.base" 2>/dev/null)" != "deb:qemu_$base_series".* ]]; then
    log "fetching Debian's QEMU $base_series source (apt-get source $debsrc)"
    rm -rf "$base" "$build/fetch" && mkdir -p "$build/fetch"
    (cd "$build/fetch" && apt-get source -q --download-only "$debsrc" \
        >"$build/fetch.log" 2>&1) || { tail "$build/fetch.log"; exit 1; }
    dpkg-source -q -x "$build"/fetch/qemu_*.dsc "$base" >>"$build/fetch.log"
    echo "deb:$(basename "$build"/fetch/qemu_*.dsc .dsc)" > "$build/.base"
fi
version=$(cat "$base/VERSION")
case "$version" in
"$base_series".*) ;;
*)  echo "build: the base is QEMU $version; the series is for 10.0.x and" \
         "10.2.x, and WINDMP_BASE=$base_series asks for $base_series.x" >&2
    exit 1 ;;
esac
log "base: QEMU $version ($(cat "$build/.base"))"

# --- the patched tree -----------------------------------------------------
"$top/scripts/apply-series.sh" "$base" "$build/src"

# --- build QEMU -----------------------------------------------------------
# Debian's firmware: SeaBIOS, option ROMs (multiboot/linuxboot), iPXE.
fwpath=/usr/share/qemu:/usr/share/seabios:/usr/lib/ipxe/qemu
# WINDMP_QEMU_SANITIZE=1: the same QEMU with ASan and UBSan, in qemu-asan
qbuild=$build/qemu
sanitize=()
if [ -n "${WINDMP_QEMU_SANITIZE:-}" ]; then
    qbuild=$build/qemu-asan
    sanitize=(--enable-asan --enable-ubsan)
fi
export PATH=/usr/lib/ccache:$PATH CCACHE_BASEDIR=$build
if [ ! -f "$qbuild/build.ninja" ]; then
    log "configuring QEMU ${sanitize[*]}"
    mkdir -p "$qbuild"
    (cd "$qbuild" && "$build/src/configure" --python=/usr/bin/python3 \
        --target-list=x86_64-softmmu --without-default-features \
        --enable-kvm --enable-tcg --enable-lzo --enable-snappy --enable-tools \
        --disable-docs --disable-install-blobs --firmwarepath="$fwpath" \
        "${sanitize[@]}" >"$qbuild/configure.log" 2>&1) ||
        { tail -30 "$qbuild/configure.log"; exit 1; }
fi
# contrib/windmp is one of QEMU's tools: a build configured before the
# series had it gets them enabled (ninja builds only the targets below)
if ! "$qbuild/pyvenv/bin/meson" introspect --buildoptions "$qbuild" |
        grep -q '"name": "tools", "value": "enabled"'; then
    log "configuring QEMU with --enable-tools (contrib/windmp)"
    "$qbuild/pyvenv/bin/meson" configure "$qbuild" -Dtools=enabled \
        >>"$qbuild/configure.log" 2>&1 ||
        { tail -30 "$qbuild/configure.log"; exit 1; }
fi
log "building qemu-system-x86_64 and contrib/windmp/windmp (ninja)"
ninja -C "$qbuild" qemu-system-x86_64 contrib/windmp/windmp \
    >"$qbuild/ninja.log" 2>&1 ||
    { grep -E 'error|Error' "$qbuild/ninja.log" | head -40; exit 1; }
# An uninstalled binary looks for its firmware under qemu-bundle/<path>.
IFS=: read -r -a fwdirs <<<"$fwpath"
for d in "${fwdirs[@]}"; do
    mkdir -p "$qbuild/qemu-bundle$(dirname "$d")"
    ln -sfn "$d" "$qbuild/qemu-bundle$d"
done

# --- the core and windmp outside QEMU (also with ASan/UBSan), the guest ---
if [ -n "${WINDMP_QEMU_ONLY:-}" ]; then
    log "built: $qbuild/qemu-system-x86_64 (QEMU $version + win-dmp series)"
    exit 0
fi
if [ ! -f "$build/core/build.ninja" ]; then
    meson setup "$build/core" "$top" >/dev/null
fi
ninja -C "$build/core" >/dev/null
if [ ! -f "$build/core-asan/build.ninja" ]; then
    meson setup "$build/core-asan" "$top" -Db_sanitize=address,undefined \
        >/dev/null
fi
ninja -C "$build/core-asan" >/dev/null
make -s -C "$top/tests/guest" O="$build/guest"

log "built: $qbuild/qemu-system-x86_64 (QEMU $version + win-dmp series)"
