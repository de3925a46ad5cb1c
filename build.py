"""Build the Blender extension zip: ``python build.py`` -> dist/diffpaint-<version>.zip.

An extension zip's root is the Python package, so the manifest and diffpaint_addon/*.py are staged
side by side and packed and validated by Blender's own extension tool (``blender_ext.py``, shipped
in the bpy wheel and runnable with plain Python; $BLENDER_EXT_PY overrides where it is found).

The layer both sides share (``diffpaint_shared``) ships as a pure-Python wheel listed in the
manifest, Blender's own way for an extension to bring a package: it installs the wheel beside the
extension. The manifest's ``version`` and ``wheels`` are written here, from ``diffpaint_shared``.

The backend's source travels in the zip too, in ``backend_src/``: the repository's own
pyproject.toml with ``backend/diffpaint`` and ``diffpaint_shared`` copied whole, which "Set Up
Backend" pip-installs into a private venv, so no checkout is needed.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent
MANIFEST = ROOT / "blender_manifest.toml"
ADDON_DIR = ROOT / "diffpaint_addon"
SHARED_DIR = ROOT / "diffpaint_shared"
BUNDLED_BACKEND = "backend_src"  # diffpaint_addon.backend_setup looks for this folder beside itself
# The backend's source tree as pip installs it: everything its pyproject.toml names.
BACKEND_TREE = ("pyproject.toml", "README.md", "backend/diffpaint", "diffpaint_shared")
SKIP = shutil.ignore_patterns("__pycache__", "*.pyc", ".*")


def version() -> str:
    """The one version (``diffpaint_shared.__version__``), read without importing the package."""
    for line in (SHARED_DIR / "__init__.py").read_text(encoding="utf-8").splitlines():
        if line.startswith("__version__"):
            return line.split("=", 1)[1].strip().strip('"')
    raise SystemExit("diffpaint_shared/__init__.py defines no __version__")


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
    """Lay out the package as it sits in the zip: manifest and modules at the root, the shared
    layer's wheel in ``wheels/``, the backend's source in ``backend_src/``."""
    dest.mkdir(parents=True)
    wheel = shared_wheel(dest / "wheels")
    manifest = MANIFEST.read_text(encoding="utf-8")
    header = f'version = "{version()}"\nwheels = ["./wheels/{wheel.name}"]\n'
    (dest / MANIFEST.name).write_text(manifest.replace("# @build: version, wheels\n", header), encoding="utf-8")
    for module in sorted(ADDON_DIR.glob("*.py")):
        shutil.copy2(module, dest / module.name)
    stage_backend(dest / BUNDLED_BACKEND)


def shared_wheel(out_dir: Path) -> Path:
    """``diffpaint_shared`` as a pure-Python wheel (PEP 427), written directly: it has no build step."""
    name, ver = "diffpaint_shared", version()
    dist_info = f"{name}-{ver}.dist-info"
    files = {f"{name}/{p.name}": p.read_bytes() for p in sorted(SHARED_DIR.glob("*.py"))}
    files[f"{dist_info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {ver}\n"
                                      "Summary: The stroke file and job schema DiffPaint's add-on and backend share\n"
                                      ).encode()
    files[f"{dist_info}/WHEEL"] = (b"Wheel-Version: 1.0\nGenerator: diffpaint build.py\nRoot-Is-Purelib: true\n"
                                   b"Tag: py3-none-any\n")
    record = [f"{path},sha256={_digest(data)},{len(data)}" for path, data in files.items()]
    files[f"{dist_info}/RECORD"] = "\n".join([*record, f"{dist_info}/RECORD,,", ""]).encode()
    out_dir.mkdir(parents=True, exist_ok=True)
    wheel = out_dir / f"{name}-{ver}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, data in files.items():
            zf.writestr(zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0)), data)  # reproducible
    return wheel


def _digest(data: bytes) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def stage_backend(dest: Path) -> None:
    """The backend as a pip-installable source tree, copied whole: ``pip install dest`` gives
    ``python -m diffpaint`` (and ``diffpaint serve``) with its requirements from PyPI."""
    for part in BACKEND_TREE:
        source, target = ROOT / part, dest / part
        if source.is_dir():
            shutil.copytree(source, target, ignore=SKIP)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)


def build(out_dir: Path = ROOT / "dist") -> Path:
    zip_path = out_dir.resolve() / f"diffpaint-{version()}.zip"
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
