#!/bin/bash
# SPDX-License-Identifier: GPL-2.0-or-later
# Set up, build, boot the test guest in the patched QEMU, take a Windows
# crash dump and print what it holds.  Arguments go to scripts/demo.py.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
"$top/scripts/build.sh"
exec /usr/bin/python3 "$top/scripts/demo.py" "$@"
