"""How close Blender's render of a painting with smudges comes to the backend's, with and without
the Smudge layers.

    .venv/bin/python bench/smudge_blender.py [STROKES_JSON] [--softness 0,0.02,0.05] [--size 128]

Without a stroke file, reconstructs the fixture painting (Met 436535) with `diffpaint reconstruct
--smudge` at --size px first. Renders the file with the backend (`diffpaint render`, which applies
the smudges to the canvas) and with Blender (blend_job's scene and render settings), once per edge
softness of the smudge strokes and once with the smudge strokes left out. Prints each Blender
render's PSNR against the backend's as a markdown table. Every render runs in its own process.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import textwrap
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from diffpaint_shared.strokefile import load, save  # noqa: E402

# A Blender render of a stroke file with a given smudge softness, as blend_job does it.
RENDER = """
import sys
sys.path.insert(0, {root!r})
import bpy
from diffpaint_addon import blend_job, gp_import
gp_import.SMUDGE_SOFTNESS = {softness!r}
scene, _ = blend_job.build_scene({strokes!r}, 10)
scene.frame_set(scene.frame_end)
scene.render.filepath, scene.render.use_file_extension = {png!r}, False
bpy.ops.render.render(write_still=True)
"""


def run(*args: str) -> str:
    proc = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(args[:3])} failed:\n{proc.stderr[-3000:]}")
    return proc.stdout


def blender_render(strokes: Path, png: Path, softness: float) -> None:
    run("-c", textwrap.dedent(RENDER.format(root=str(ROOT), softness=softness, strokes=str(strokes), png=str(png))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("strokes", nargs="?", type=Path, help="stroke file with smudge strokes")
    parser.add_argument("--softness", default="0,0.02,0.05", help="comma-separated smudge edge softnesses")
    parser.add_argument("--size", type=int, default=128, help="reconstruction size without a stroke file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        strokes = args.strokes
        if strokes is None:
            from diffpaint import samples

            run("-m", "diffpaint", "reconstruct", str(samples.painting(436535).path), "--out", str(out / "rec"),
                "--size", str(args.size), "--strokes", "128", "--iterations", "40", "--smudge")
            strokes = out / "rec" / "strokes.json"
        doc = load(strokes)
        smudges = sum(s.kind == "smudge" for s in doc.strokes)
        if not smudges:
            raise SystemExit(f"{strokes} has no smudge strokes")
        save(replace(doc, strokes=tuple(s for s in doc.strokes if s.kind != "smudge")), out / "paint.json")
        run("-m", "diffpaint", "render", str(strokes), "--out", str(out / "backend.png"))

        renders = [(f"with smudges, softness {x}", strokes, float(x), out / f"soft{x}.png")
                   for x in args.softness.split(",")]
        renders.append(("without smudges", out / "paint.json", 0.0, out / "paint.png"))
        print(f"{strokes.name}: {len(doc.strokes)} strokes, {smudges} smudges, "
              f"{doc.canvas.width}×{doc.canvas.height}\n")
        print("| Blender render | PSNR vs backend (dB) |\n| --- | --- |")
        for label, path, softness, png in renders:
            blender_render(path, png, softness)
            value = run("-m", "diffpaint", "compare", str(png), str(out / "backend.png")).strip()
            print(f"| {label} | {value} |")


if __name__ == "__main__":
    main()
