#!/usr/bin/env bash
# Set up (if needed) and run the whole test suite: real torch, real bpy, real images.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
cd "$ROOT"
"$ROOT/.venv/bin/python" -m pytest "$@"
# The whole suite (no arguments, as CI runs it) also runs the add-on's tests on Blender 4.5 LTS
# (about 40 s, plus about 35 s once to make its environment).
if [ $# -eq 0 ]; then bash "$ROOT/scripts/test_blender45.sh" -q; fi
