#!/usr/bin/env bash
# The main job: set up (if needed), reconstruct Van Gogh's "Wheat Field with Cypresses" (Met 436535,
# CC0) as brush strokes, then build the animated Grease Pencil painting in Blender.
# Usage: scripts/demo.sh [OUTPUT_DIR] [extra `diffpaint reconstruct` options…]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bash "$ROOT/scripts/setup.sh"
PY="$ROOT/.venv/bin/python"
OUT="${1:-$ROOT/out/wheat-field}"
shift || true

IMAGE="$("$PY" -m diffpaint samples --path 436535)"
echo "[demo] reconstructing $IMAGE"
# 512 strokes: about 40 s of fitting on a 2-core CPU for a painting that reads as the Van Gogh (25 dB);
# options given to the script come after, so they win.
"$PY" -m diffpaint reconstruct "$IMAGE" --out "$OUT" --strokes 512 "$@"
echo "[demo] process video beside the target, and the strokes as SVG"
"$PY" -m diffpaint video "$OUT/strokes.json" --out "$OUT/process.mp4" --side-by-side "$OUT/target.png"
"$PY" -m diffpaint export-svg "$OUT/strokes.json" --out "$OUT/painting.svg"
echo "[demo] building the Grease Pencil painting in Blender"
"$PY" -m diffpaint_addon.blend_job "$OUT/strokes.json" --blend "$OUT/painting.blend" --png "$OUT/blender.png"
echo "[demo] Blender render vs backend render: PSNR $("$PY" -m diffpaint compare "$OUT/blender.png" "$OUT/render.png") dB"
echo "[demo] the same strokes in four media (a short style phase each), backend | Blender side by side"
mkdir -p "$OUT/styles"
for MEDIUM in oil watercolor ink pencil; do
  "$PY" -m diffpaint stylize "$OUT/strokes.json" --target "$OUT/target.png" --style "$MEDIUM" --iterations 8 \
    --out "$OUT/styles/$MEDIUM.json" --render "$OUT/styles/$MEDIUM-render.png"
  "$PY" -m diffpaint_addon.blend_job "$OUT/styles/$MEDIUM.json" --png "$OUT/styles/$MEDIUM-blender.png"
  echo "[demo] $MEDIUM: Blender vs backend PSNR $("$PY" -m diffpaint compare "$OUT/styles/$MEDIUM-blender.png" \
    "$OUT/styles/$MEDIUM-render.png" --side-by-side "$OUT/style-$MEDIUM.png") dB"
done
echo "[demo] done: $OUT"
ls -1 "$OUT"
