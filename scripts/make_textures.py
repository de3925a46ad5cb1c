"""Derive DiffPaint's real-media texture bank from Krita's CC-0 brush tips (offline, once; the PNGs are committed).

    apt-get install krita-data          # Debian: /usr/share/krita/bundles/Krita_4_Default_Resources.bundle
    python scripts/make_textures.py [--bundle PATH] [--out backend/diffpaint/style/bank]

Each texture is one real brush tip *stamped* along a straight line, as a brush engine drags it: the
tip's cross-section (scaled to the texture's height, i.e. to the stroke's width) lays bristle streaks
along u that open into gaps where the tip's load runs out toward the stroke's end. Because v spans the
stroke's width, a stroke's streaks run along it and scale with its radius (geometry-conditioned).
Alpha is the accumulated deposit; gray is the impasto's light and shade (oil), pooled pigment at the
wash's edge (watercolor), near black (ink), graphite on paper grain (pencil). Output: BANK_SIZE
PNGs `<medium>-<index>.png`, SOURCES.md naming the bundle, its licence and each resource used, and
sources.json with the same per texture (stroke files carry it along with the texture).
"""

from __future__ import annotations

import argparse
import io
import json
import struct
import zipfile
from pathlib import Path

import numpy as np
from PIL import Image

BUNDLE = Path("/usr/share/krita/bundles/Krita_4_Default_Resources.bundle")
OUT = Path(__file__).resolve().parent.parent / "backend" / "diffpaint" / "style" / "bank"
SIZE = (64, 128)  # (across, along): one size for every texture, as the backend renders one size per file
SUPERSAMPLE = 2

# medium → (resource, cell of a .gih or 0) stamped for it; every resource is in the bundle's brushes/.
RECIPES: dict[str, list[tuple[str, int]]] = {
    "oil": [("oil_bristle.png", 0), ("oil_knife.png", 0), ("bristles_chisel_dense.png", 0), ("rake_dense.png", 0),
            ("chisel_streaks.png", 0), ("chisel_dense_smear.png", 0), ("smear_paint.png", 0), ("plain_rake.png", 0)],
    "watercolor": [("watercolor.gih", i) for i in range(5)] + [("smear_paint.png", 0), ("chisel_dense_smear.png", 0),
                                                               ("oil_knife.png", 0)],
    "ink": [("bristles_chisel_dense.png", 0), ("rake_dense.png", 0), ("chisel_streaks.png", 0), ("plain_rake.png", 0),
            ("oil_bristle.png", 0), ("rake_sparse.png", 0), ("chisel_dense_smear.png", 0), ("oil_knife.png", 0)],
    "pencil": [("graphite_grain.gih", i) for i in range(4)] + [("chalk.png", 0), ("chalk_sparse.png", 0),
                                                               ("chisel_streaks.png", 0), ("rake_dense.png", 0)],
}


def _gbr_cells(data: bytes) -> list[np.ndarray]:
    """The brushes of a GIMP image hose (.gih): a text header of two lines, then GIMP .gbr brushes."""
    offset = data.index(b"\n", data.index(b"\n") + 1) + 1
    cells = []
    while offset < len(data):
        header_size, _version, width, height, depth = struct.unpack(">5I", data[offset:offset + 20])
        start = offset + header_size
        pixels = np.frombuffer(data[start:start + width * height * depth], dtype=np.uint8)
        image = pixels.reshape(height, width, depth).astype(np.float32) / 255.0
        # A gray .gbr stores coverage directly (white = paint); RGBA stores color with coverage in alpha.
        cells.append(image[..., 0] if depth == 1 else image[..., 3])
        offset = start + width * height * depth
    return cells


def _png_mask(data: bytes) -> np.ndarray:
    """A Krita brush tip PNG as coverage: dark paints (Krita's mask brushes), transparent does not."""
    rgba = np.asarray(Image.open(io.BytesIO(data)).convert("RGBA"), dtype=np.float32) / 255.0
    return rgba[..., 3] * (1.0 - rgba[..., :3].mean(-1))


def load_tip(bundle: zipfile.ZipFile, name: str, cell: int) -> np.ndarray:
    data = bundle.read(f"brushes/{name}")
    mask = _gbr_cells(data)[cell] if name.endswith(".gih") else _png_mask(data)
    rows, cols = np.nonzero(mask > 0.05)
    return mask[rows.min():rows.max() + 1, cols.min():cols.max() + 1]


def _resize(mask: np.ndarray, width: int, height: int) -> np.ndarray:
    return np.asarray(Image.fromarray(mask.astype(np.float32), "F").resize((width, height), Image.Resampling.BOX))


def stamp(tip: np.ndarray, rng: np.random.Generator, flow: float, fade: float) -> tuple[np.ndarray, np.ndarray]:
    """Drag `tip` (across = its rows) along u over a supersampled strip: (alpha, paint density), each (H, W).

    The tip is scaled to the strip's height and kept narrow along u (a bristle brush's cross-section), stamped
    every texel with a little jitter across; its load runs out as `fade` · u², so streaks break up at the end."""
    height, width = SIZE[0] * SUPERSAMPLE, SIZE[1] * SUPERSAMPLE
    along = max(2, int(height * min(0.25, tip.shape[1] / tip.shape[0] * 0.25)))
    mark = _resize(tip, along, height)
    alpha = np.zeros((height, width + along), np.float32)
    density = np.zeros_like(alpha)
    for x in range(0, width, 1):
        load = flow * max(0.0, 1.0 - fade * (x / width) ** 2) * rng.uniform(0.7, 1.0)
        dab = np.roll(mark, int(rng.integers(-1, 2)), axis=0) * load
        window = (slice(None), slice(x, x + along))
        alpha[window] = alpha[window] + (1.0 - alpha[window]) * dab
        density[window] += dab
    start = along // 2
    return alpha[:, start:start + width], density[:, start:start + width]


def _downsample(image: np.ndarray) -> np.ndarray:
    return _resize(image, SIZE[1], SIZE[0])


def _shade(height_field: np.ndarray) -> np.ndarray:
    """Lambert light from the stroke's upper left on a height field: gray around 0.5."""
    dv, du = np.gradient(height_field * 6.0)
    shade = (0.5 * du - 0.7 * dv + 0.6) / np.sqrt(du * du + dv * dv + 1.0)
    return 0.5 + 0.9 * (shade - shade.mean())


def texture(medium: str, tip: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One (H, W, 4) RGBA texture of `medium` in [0, 1] (linear light, straight alpha)."""
    if medium == "oil":
        alpha, density = stamp(tip, rng, flow=0.35, fade=0.6)
        height_field = density / max(float(density.max()), 1e-6)
        gray = _shade(_downsample(height_field))
    elif medium == "watercolor":
        alpha, density = stamp(tip, rng, flow=0.08, fade=0.3)
        edge = np.abs(np.linspace(1.0, -1.0, SIZE[0]))[:, None]
        gray = 0.55 - 0.35 * edge**4 - 0.25 * (_downsample(density) / max(float(density.max()), 1e-6) - 0.5)
        alpha = alpha * 0.9
    elif medium == "ink":
        alpha, _ = stamp(tip, rng, flow=0.6, fade=0.9)
        gray = np.full(SIZE, 0.02, np.float32)
    else:  # pencil: graphite catches on the grain the tip carries
        alpha, density = stamp(tip, rng, flow=0.25, fade=0.3)
        gray = 0.3 + 0.2 * _downsample(density) / max(float(density.max()), 1e-6)
    alpha = _downsample(alpha)
    return np.clip(np.stack([gray, gray, gray, alpha], axis=-1), 0.0, 1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    if not args.bundle.exists():
        raise SystemExit(f"{args.bundle} not found: apt-get install krita-data (or pass --bundle)")
    args.out.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(args.bundle) as bundle:
        meta = bundle.read("meta.xml").decode()
        if 'meta:name="license" meta:value="CC-0"' not in meta:
            raise SystemExit(f"{args.bundle}: its meta.xml does not say CC-0; refusing to derive textures")
        lines = ["# Texture bank sources", "",
                 f"Derived by `scripts/make_textures.py` from `{args.bundle.name}` (Debian `krita-data`), whose",
                 "`meta.xml` declares `license: CC-0`. Each PNG is the named brush tip stamped along a line.", "",
                 "| texture | resource (brushes/) | cell |", "| --- | --- | --- |"]
        sources = {}
        for medium, recipe in RECIPES.items():
            rng = np.random.default_rng(len(medium))
            for index, (name, cell) in enumerate(recipe):
                pixels = texture(medium, load_tip(bundle, name, cell), rng)
                path = args.out / f"{medium}-{index}.png"
                Image.fromarray((pixels * 255.0).round().astype(np.uint8), "RGBA").save(path, optimize=True)
                lines.append(f"| {path.name} | {name} | {cell} |")
                cell_text = f" cell {cell}" if name.endswith(".gih") else ""
                sources[path.stem] = f"{args.bundle.name} (Krita, CC-0): brushes/{name}{cell_text}, stamped"
    (args.out / "SOURCES.md").write_text("\n".join(lines) + "\n")
    (args.out / "sources.json").write_text(json.dumps(sources, indent=1) + "\n")
    print(f"wrote {sum(len(r) for r in RECIPES.values())} textures to {args.out}")


if __name__ == "__main__":
    main()
