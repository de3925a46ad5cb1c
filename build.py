"""Build the Blender extension zip: ``python build.py`` -> dist/diffpaint-<version>.zip.

An extension zip's root is the Python package, so the manifest and diffpaint_addon/*.py are staged
side by side and packed and validated by Blender's own extension tool (``blender_ext.py``, shipped
in the bpy wheel and runnable with plain Python; $BLENDER_EXT_PY overrides where it is found).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "blender_manifest.toml"
ADDON_DIR = ROOT / "diffpaint_addon"


def find_blender_ext() -> Path:
    if env := os.environ.get("BLENDER_EXT_PY"):
        return Path(env)
    spec = importlib.util.find_spec("bpy")  # locates the wheel without importing (and starting) bpy
    if spec is not None and spec.origin is not None:
        found = sorted(Path(spec.origin).parent.glob("*/scripts/addons_core/bl_pkg/cli/blender_ext.py"))
        if found:
            return found[-1]
    raise SystemExit("blender_ext.py not found: install the bpy wheel (pip install .[blender]) "
                     "or set BLENDER_EXT_PY to Blender's scripts/addons_core/bl_pkg/cli/blender_ext.py")


def stage(dest: Path) -> None:
    """Lay out the package as it sits in the zip: manifest and modules at the root."""
    dest.mkdir(parents=True)
    shutil.copy2(MANIFEST, dest / MANIFEST.name)
    for module in sorted(ADDON_DIR.glob("*.py")):
        shutil.copy2(module, dest / module.name)


def build(out_dir: Path = ROOT / "dist") -> Path:
    version = tomllib.loads(MANIFEST.read_text(encoding="utf-8"))["version"]
    zip_path = out_dir.resolve() / f"diffpaint-{version}.zip"
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path.unlink(missing_ok=True)
    tool = [sys.executable, str(find_blender_ext())]
    with tempfile.TemporaryDirectory(prefix="diffpaint-ext-") as tmp:
        stage_dir = Path(tmp) / "diffpaint"
        stage(stage_dir)
        subprocess.run([*tool, "build", "--source-dir", str(stage_dir), "--output-filepath", str(zip_path)],
                       check=True)
    subprocess.run([*tool, "validate", str(zip_path)], check=True)
    return zip_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out-dir", type=Path, default=ROOT / "dist")
    args = parser.parse_args()
    try:
        print(build(args.out_dir))
    except subprocess.CalledProcessError as e:
        raise SystemExit(f"extension build failed ({e.returncode}); see the messages above") from None


if __name__ == "__main__":
    main()
