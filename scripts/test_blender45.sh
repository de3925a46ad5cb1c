#!/usr/bin/env bash
# The add-on's tests on Blender 4.5 LTS (bpy 4.5 as a Python module), in its own environment
# (.venv-blender45: bpy, numpy, pytest and Pillow only; no torch, no backend install). The main
# suite (scripts/test.sh) runs them on bpy 5.0. Extra arguments go to pytest.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DIFFPAINT_VENV_BLENDER45:-$ROOT/.venv-blender45}"
bash "$ROOT/scripts/setup.sh" --blender45 "$VENV"
cd "$ROOT"
# The tests import diffpaint_addon and the bpy-free diffpaint.samples from the checkout; those that
# need torch (the backend, its server, test_addon_textures' backend renders) stay with the main suite.
PYTHONPATH="$ROOT:$ROOT/backend${PYTHONPATH:+:$PYTHONPATH}" exec "$VENV/bin/python" -m pytest -p no:cacheprovider \
  tests/addon/test_addon_import*.py tests/addon/test_addon_export*.py tests/addon/test_addon_canvas_grain.py \
  tests/addon/test_addon_render.py tests/addon/test_addon_panels.py tests/addon/test_addon_package.py \
  -k "not installs_and_runs and not set_up_backend" "$@"
