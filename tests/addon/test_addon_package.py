"""The extension as users get it: the built zip installs and enables in headless Blender, and the
pieces of the UI that need no event loop behave."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
from blender_helpers import ROOT, bpy_eval, run_python
from PIL import Image


@pytest.fixture(scope="module")
def extension_zip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    proc = run_python([str(ROOT / "build.py"), "--out-dir", str(out)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return out / "diffpaint-0.1.0.zip"


def test_zip_root_is_the_package(extension_zip: Path) -> None:
    names = set(zipfile.ZipFile(extension_zip).namelist())
    assert {"blender_manifest.toml", "__init__.py", "gp_import.py", "operators.py",
            "wheels/diffpaint_shared-0.1.0-py3-none-any.whl"} <= names
    # the subfolders: the shared layer's wheel and the bundled backend source; no compiled files anywhere
    assert {n.split("/")[0] for n in names if "/" in n} == {"backend_src", "wheels"}
    assert not any(n.endswith(".pyc") or "__pycache__" in n for n in names)
    assert {"backend_src/pyproject.toml", "backend_src/backend/diffpaint/cli.py",
            "backend_src/backend/diffpaint/server/app.py", "backend_src/backend/diffpaint/render/__init__.py",
            "backend_src/diffpaint_shared/strokefile.py"} <= names
    assert not any("diffpaint_addon" in n for n in names)  # the backend needs nothing of the add-on
    wheel = zipfile.ZipFile(io.BytesIO(zipfile.ZipFile(extension_zip).read(
        "wheels/diffpaint_shared-0.1.0-py3-none-any.whl")))
    assert "diffpaint_shared/strokefile.py" in wheel.namelist()
    assert "Version: 0.1.0" in wheel.read("diffpaint_shared-0.1.0.dist-info/METADATA").decode()


def test_bundled_backend_source_installs_and_runs(extension_zip: Path, tmp_path: Path) -> None:
    """What 'Set Up Backend' pip-installs from an installed extension (here without dependencies or
    network: the test venv already has them)."""
    zipfile.ZipFile(extension_zip).extractall(tmp_path / "ext")
    target = tmp_path / "site"
    proc = run_python(["-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                       "--target", str(target), str(tmp_path / "ext" / "backend_src")], timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    check = ("import diffpaint, diffpaint.cli, diffpaint.server.app, diffpaint_shared.strokefile, sys; "
             "print(diffpaint.__file__); print(diffpaint_shared.strokefile.__file__); "
             "assert 'diffpaint_addon' not in sys.modules; "
             "assert 'bpy' not in sys.modules")
    proc = run_python(["-c", check], env={"PYTHONPATH": str(target)}, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert all(Path(line).is_relative_to(target) for line in proc.stdout.split())  # not this checkout
    version = run_python(["-m", "diffpaint", "--version"], env={"PYTHONPATH": str(target)}, cwd=tmp_path)
    assert version.returncode == 0 and "0.1.0" in version.stdout + version.stderr, version.stderr


def test_zip_installs_and_enables_in_headless_blender(extension_zip: Path, tmp_path: Path) -> None:
    result = bpy_eval(f"""
        import bpy
        from pathlib import Path
        ret = bpy.ops.extensions.package_install_files(
            filepath={str(extension_zip)!r}, repo="user_default", enable_on_install=True)
        module = "bl_ext.user_default.diffpaint"
        menu_entries = [f.__name__ for f in bpy.types.TOPBAR_MT_file_import._dyn_ui_initialize()]
        result = {{
            "ret": sorted(ret),
            "enabled": module in bpy.context.preferences.addons,
            "operators": [hasattr(bpy.ops.diffpaint, op) for op in ("import_strokes", "reconstruct",
                                                                   "cancel_reconstruct")],
            "panel": hasattr(bpy.types, "DIFFPAINT_PT_main"),
            "menu": "menu_import" in menu_entries,
            "python_path": bpy.context.preferences.addons[module].preferences.python_path,
            "wheels_installed": [str(p) for p in Path(bpy.utils.user_resource("EXTENSIONS")).glob(
                ".local/lib/python*/site-packages/diffpaint_shared/strokefile.py")],
            "installed_in": bpy.utils.user_resource("EXTENSIONS"),
        }}
    """, env={"BLENDER_USER_RESOURCES": str(tmp_path)})
    assert result["ret"] == ["FINISHED"]
    assert result["enabled"]
    assert result["operators"] == [True, True, True]
    assert result["panel"] and result["menu"]
    assert result["python_path"] == ""  # no guessed default: Blender's Python lacks the backend
    assert len(result["wheels_installed"]) == 1  # the shared layer's wheel, installed beside the extension
    assert Path(result["installed_in"]).is_relative_to(tmp_path)  # never the real user's config


def test_shared_layer_imports_without_bpy() -> None:
    proc = run_python(["-c", "import sys, diffpaint_addon, diffpaint_shared.strokefile, "
                             "diffpaint_shared.progress; assert 'bpy' not in sys.modules"])
    assert proc.returncode == 0, proc.stderr


def test_backend_python_comes_from_preferences_or_environment(tmp_path: Path) -> None:
    code = """
        import bpy
        import diffpaint_addon
        from diffpaint_addon.preferences import BackendNotConfigured, backend_python

        diffpaint_addon.register()
        try:
            result = backend_python(bpy.context)
        except BackendNotConfigured as e:
            result = "error: " + str(e)
    """
    unset = bpy_eval(code, env={"DIFFPAINT_PYTHON": ""})
    assert unset.startswith("error: Set the backend Python in preferences")
    fake = tmp_path / "python3"
    fake.write_text("")
    assert bpy_eval(code, env={"DIFFPAINT_PYTHON": str(fake)}).startswith(str(fake))
    missing = bpy_eval(code, env={"DIFFPAINT_PYTHON": str(tmp_path / "nope")})
    assert "does not exist" in missing


def test_images_reach_the_backend_as_files(tmp_path: Path) -> None:
    on_disk = tmp_path / "on_disk.png"
    Image.new("RGB", (6, 4), (10, 200, 30)).save(on_disk)
    copies = {name: tmp_path / name for name in ("packed", "generated", "exr")}
    for d in copies.values():
        d.mkdir()
    result = bpy_eval(f"""
        import bpy, numpy as np
        from diffpaint_addon.reconstruct_op import image_file_for_backend

        saved = bpy.data.images.load({str(on_disk)!r})
        packed = bpy.data.images.load({str(on_disk)!r}, check_existing=False)
        packed.pack()
        generated = bpy.data.images.new("generated", 5, 3)
        px = np.zeros((3, 5, 4), np.float32); px[..., 2] = 1.0; px[..., 3] = 1.0
        generated.pixels.foreach_set(px.ravel())
        to_exr = bpy.data.images.new("to_exr", 5, 3, float_buffer=True)
        to_exr.pixels.foreach_set(px.ravel())
        to_exr.filepath_raw, to_exr.file_format = {str(tmp_path / "float.exr")!r}, "OPEN_EXR"
        to_exr.save()
        exr = bpy.data.images.load({str(tmp_path / "float.exr")!r})
        result = {{
            "saved": image_file_for_backend(saved, {str(tmp_path)!r}),
            "packed": image_file_for_backend(packed, {str(copies["packed"])!r}),
            "generated": image_file_for_backend(generated, {str(copies["generated"])!r}),
            "exr": image_file_for_backend(exr, {str(copies["exr"])!r}),  # on disk, but unreadable for PIL
            "generated_filepath": generated.filepath,
        }}
    """)
    assert result["saved"] == str(on_disk)  # used in place, no copy
    assert Image.open(result["packed"]).convert("RGB").getpixel((0, 0)) == (10, 200, 30)
    assert Image.open(result["generated"]).convert("RGB").getpixel((0, 0)) == (0, 0, 255)
    assert result["generated_filepath"] == ""  # the copy did not repoint the image
    assert result["exr"].endswith(".png")
    assert Image.open(result["exr"]).convert("RGB").getpixel((0, 0)) == (0, 0, 255)


def test_set_up_backend_builds_its_venv_in_the_extension_user_folder(extension_zip: Path, tmp_path: Path) -> None:
    result = bpy_eval(f"""
        import bpy, sys
        bpy.ops.extensions.package_install_files(
            filepath={str(extension_zip)!r}, repo="user_default", enable_on_install=True)
        job = sys.modules["bl_ext.user_default.diffpaint.backend_ops"].setup_job_for(bpy.context)
        result = {{"steps": [argv for _, argv in job.steps if not callable(argv)], "python": job.python,
                  "source": next(work.args[0] for _, work in job.steps if callable(work)),
                  "user_dir": bpy.utils.extension_path_user("bl_ext.user_default.diffpaint"),
                  "blender_python": sys.executable}}
    """, env={"BLENDER_USER_RESOURCES": str(tmp_path), "DIFFPAINT_BACKEND_SOURCE": str(ROOT)})
    venv = str(Path(result["user_dir"]) / "backend-venv")
    assert Path(result["user_dir"]).is_relative_to(tmp_path)
    assert result["steps"][0] == [result["blender_python"], "-m", "venv", venv]
    assert result["source"] == str(ROOT)
    assert not Path(result["steps"][2][-1]).is_relative_to(ROOT)  # pip builds in a copy
    assert result["python"] == str(Path(venv) / "bin" / "python")


def test_set_up_backend_installs_the_bundled_source_by_default(extension_zip: Path, tmp_path: Path) -> None:
    result = bpy_eval(f"""
        import bpy, sys
        bpy.ops.extensions.package_install_files(
            filepath={str(extension_zip)!r}, repo="user_default", enable_on_install=True)
        ops = sys.modules["bl_ext.user_default.diffpaint.operators"]
        job = sys.modules["bl_ext.user_default.diffpaint.backend_ops"].setup_job_for(bpy.context)
        result = {{"source": next(work.args[0] for _, work in job.steps if callable(work)),
                  "package_dir": ops.__file__.rsplit("/", 1)[0]}}
    """, env={"BLENDER_USER_RESOURCES": str(tmp_path), "DIFFPAINT_BACKEND_SOURCE": ""})
    assert result["source"] == str(Path(result["package_dir"]) / "backend_src")
    assert Path(result["source"]).is_relative_to(tmp_path)  # the installed extension's copy, not this checkout
