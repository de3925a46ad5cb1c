"""Derive DiffPaint's canvas grain textures from Krita's CC-0 patterns (offline, once; the PNGs are committed).

    apt-get install krita-data          # Debian: /usr/share/krita/bundles/Krita_4_Default_Resources.bundle
    python scripts/make_grain.py [--bundle PATH] [--out backend/diffpaint/grain/bank]

Each grain is one of the bundle's seamless 512×512 patterns as gray, box-filtered 4×4 down to 128×128
(an exact 4:1 box keeps the tile seamless) and saved as an 8-bit gray PNG `<name>.png`; SOURCES.md names
the bundle, its licence and the pattern each grain comes from, and sources.json says the same per grain
(stroke files carry it with the image).
"""

from __future__ import annotations

import argparse
import io
import json
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

BUNDLE = Path("/usr/share/krita/bundles/Krita_4_Default_Resources.bundle")
OUT = Path(__file__).resolve().parent.parent / "backend" / "diffpaint" / "grain" / "bank"
FACTOR = 4  # 512 / 4 = 128 texels a side
PATTERNS = {"canvas": "02_rough-canvas.png", "paper": "03_default-paper.png", "cold-press": "05_paper-torchon.png"}


def grain(data: bytes) -> np.ndarray:
    gray = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)
    h, w = gray.shape
    return gray.reshape(h // FACTOR, FACTOR, w // FACTOR, FACTOR).mean(axis=(1, 3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    bundle = zipfile.ZipFile(args.bundle)
    licence = "CC-0" if 'meta:name="license" meta:value="CC-0"' in bundle.read("meta.xml").decode() else None
    if licence is None:
        raise SystemExit(f"{args.bundle}: meta.xml does not declare CC-0; not deriving from it")
    args.out.mkdir(parents=True, exist_ok=True)
    sources, rows = {}, []
    for name, pattern in PATTERNS.items():
        image = Image.fromarray(np.round(grain(bundle.read(f"patterns/{pattern}"))).astype(np.uint8), "L")
        image.save(args.out / f"{name}.png", optimize=True)
        sources[name] = f"{args.bundle.name} (Krita, {licence}): patterns/{pattern}, gray, box-filtered to 128 px"
        rows.append(f"| {name}.png | {pattern} |")
    (args.out / "sources.json").write_text(json.dumps(sources, indent=1) + "\n")
    (args.out / "SOURCES.md").write_text(
        "# Canvas grain sources\n\nDerived by `scripts/make_grain.py` from `Krita_4_Default_Resources.bundle` "
        "(Debian `krita-data`), whose\n`meta.xml` declares `license: CC-0`. Each PNG is the named seamless pattern "
        "as gray, box-filtered 4×4 to 128×128.\n\n| grain | pattern (patterns/) |\n| --- | --- |\n"
        + "\n".join(rows) + "\n")


if __name__ == "__main__":
    main()
