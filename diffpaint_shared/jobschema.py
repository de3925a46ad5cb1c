"""The settings of one reconstruction job, each defined once: name, type, default, bounds, label and
help text. The CLI's options, the server's form and OpenAPI models, the add-on's properties and the
optimizer's ``Settings`` are all derived from (or checked against) the fields of `JobSettings`.

Standard library only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields
from typing import Any

# The painting media the backend implements ("digital" is plain strokes, the others are textured).
STYLES = ("digital", "oil", "watercolor", "ink", "pencil")
AUTO_STYLE = "auto"  # the style setting's choice of the medium that suits the image (diffpaint.style.auto_medium)
STYLE_CHOICES = (*STYLES, AUTO_STYLE)
DEVICES = ("auto", "cpu", "cuda")
# The canvas grains the backend ships (diffpaint.grain), and the choice of none: a flat canvas.
GRAINS = ("canvas", "paper", "cold-press")
NO_GRAIN = "none"
GRAIN_CHOICES = (NO_GRAIN, *GRAINS)
BACKGROUND_PATTERN = r"^(mean|white|#?[0-9a-fA-F]{6})$"
BACKGROUND_CHOICES = "'mean' (of the image), 'white', or a hex color like '#f0e8d8'"
_HEX_COLOR = re.compile(r"^#?[0-9a-fA-F]{6}$")
MAX_SEED = 2**31 - 1
# What levels 0 asks for (`levels_for_budget`): the fewest levels, from 3 to 5, whose finest grid gets at most
# this many strokes per cell. The paper paints ≤ 512 strokes on 4×4 grids and 1,024 on 5×5 (bench/RESULTS.md "Levels").
AUTO_LEVELS = (3, 5)
AUTO_LEVELS_STROKES_PER_CELL = 20


@dataclass(frozen=True)
class Setting:
    """One job setting as every front end presents it."""

    name: str
    type: type[Any]  # int, bool or str
    default: Any
    label: str  # title-case, as Blender labels a property
    help: str  # one sentence, lower-case start, as argparse prints it
    minimum: int | None = None
    maximum: int | None = None  # a hard bound everywhere; a server can lower it (its Limits)
    soft_maximum: int | None = None  # where the panel's slider stops
    choices: tuple[str, ...] = ()
    pattern: str | None = None  # a regular expression a string value must match
    expected: str = ""  # what a value matching `pattern` looks like, for error messages
    path: bool = False  # a file the job reads ("": none): the CLI takes its path, the server an upload

    def problem(self, value: Any, maximum: int | None = None) -> str | None:
        """What is wrong with ``value`` for this setting, phrased as what to change; None when it is
        usable. ``maximum`` lowers the setting's own maximum (a server's limit, named as such)."""
        if not isinstance(value, self.type) or (self.type is int and isinstance(value, bool)):
            return f"{self.name} must be {self.type.__name__}, not {value!r}"
        high = self.maximum if maximum is None else maximum
        if self.minimum is not None and high is not None and not self.minimum <= value <= high:
            where = "" if maximum is None else " on this server"
            return f"{self.name} must be between {self.minimum} and {high}{where}, not {value}"
        if self.minimum is not None and value < self.minimum:
            return f"{self.name} must be at least {self.minimum}, not {value}"
        if self.choices and value not in self.choices:
            return f"{self.name} must be one of {', '.join(self.choices)}, not {value!r}"
        if self.pattern is not None and not re.fullmatch(self.pattern, value):
            return f"{self.name} must be {self.expected or 'a match of ' + self.pattern}, not {value!r}"
        return None


def _setting(default: Any, label: str, help: str, **bounds: Any) -> Any:
    return field(default=default, metadata={"setting": (label, help, bounds)})


@dataclass(frozen=True)
class JobSettings:
    """A job's reconstruction settings: what the CLI, the server's form and the panel ask for."""

    strokes: int = _setting(256, "Stroke Budget", "stroke budget over all levels, paint and smudge strokes together",
                            minimum=1, soft_maximum=4096)
    levels: int = _setting(0, "Detail Levels", "coarse-to-fine grid levels 1×1 … n×n of ever smaller strokes "
                           "(0: as many as the stroke budget fills, 3 to 5)", minimum=0, soft_maximum=6)
    size: int = _setting(256, "Resolution", "long side in pixels the image is fitted at; larger images are "
                         "downscaled", minimum=8, soft_maximum=1024)
    iterations: int = _setting(80, "Steps", "optimizer steps per placement round", minimum=1, soft_maximum=500)
    rounds: int = _setting(2, "Rounds", "placement rounds per level (the error map is refreshed between them)",
                           minimum=1, soft_maximum=8)
    seed: int = _setting(0, "Seed", "random seed; CPU runs with the same seed give the same strokes",
                         minimum=0, maximum=MAX_SEED)
    background: str = _setting("mean", "Background", f"canvas color: {BACKGROUND_CHOICES}",
                               pattern=BACKGROUND_PATTERN, expected=BACKGROUND_CHOICES)
    device: str = _setting("auto", "Device", "where the fit runs: 'auto' (CUDA when present), 'cpu' or 'cuda'",
                           choices=DEVICES)
    style: str = _setting("digital", "Medium", "painting medium: any but digital (plain strokes) adds a style "
                          "phase that textures the strokes; auto picks the medium that suits the image from its "
                          "detail statistics", choices=STYLE_CHOICES)
    style_reference: str = _setting("", "Style Reference", "a painting whose brushwork the style phase matches "
                                    "(its texture statistics), while geometry and color follow the image; needs a "
                                    "medium other than digital", path=True)
    smudge: bool = _setting(False, "Smudge", "smudge phase on every level but the last: a share of the budget goes "
                            "to smudge strokes that soften hard steps (less banding, slightly lower PSNR)")
    grain: str = _setting(NO_GRAIN, "Canvas Grain", "paper or canvas texture under the painting, its scale and "
                          "strength fitted to the image after the strokes ('none': a flat canvas)",
                          choices=GRAIN_CHOICES)
    time_budget: int = _setting(0, "Time Budget", "seconds the whole fit may take: the levels get three quarters "
                                "of it, relocating faint strokes and the joint fit of all strokes the rest "
                                "(0: no limit, every step runs)",
                                minimum=0, soft_maximum=3600)
    deterministic: bool = _setting(False, "Deterministic", "deterministic kernels only, so a CUDA run repeats bit "
                                   "for bit (slower on CUDA; CPU runs repeat anyway)")

    def problems(self, maxima: Mapping[str, int] | None = None) -> list[str]:
        """What is wrong, each phrased as what to change; empty when the settings are usable.
        ``maxima`` lowers the maxima of some settings (a server's limits), by setting name."""
        maxima = maxima or {}
        found = []
        for s in SETTINGS:
            problem = s.problem(getattr(self, s.name), maxima.get(s.name))
            if problem is not None:
                found.append(problem)
        if self.style_reference and self.style == "digital":
            found.append("a style reference needs a painting medium: choose a style other than digital (or auto)")
        if not found and self.strokes < self.levels:
            found.append(f"a budget of {self.strokes} strokes cannot cover {self.levels} levels: "
                         f"ask for at least {self.levels} strokes or fewer levels (or 0, as many as it fills)")
        return found

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def levels_for_budget(strokes: int, levels: int) -> int:
    """The levels a budget of ``strokes`` is painted in: ``levels``, or for 0 the fewest of `AUTO_LEVELS` whose
    finest n×n grid gets at most `AUTO_LEVELS_STROKES_PER_CELL` strokes per cell (never more levels than strokes).
    The budget splits over the levels as their cell counts, so the finest grid's cells get 6·strokes / (n(n+1)(2n+1))
    each: 3 levels up to 280 strokes, 4 up to 600, 5 beyond."""
    if levels:
        return levels
    fewest, most = AUTO_LEVELS
    n = fewest
    while n < most and 6 * strokes > AUTO_LEVELS_STROKES_PER_CELL * n * (n + 1) * (2 * n + 1):
        n += 1
    return max(1, min(n, strokes))


def _settings() -> tuple[Setting, ...]:
    out = []
    for f in fields(JobSettings):
        label, help, bounds = f.metadata["setting"]
        kind = {"int": int, "bool": bool, "str": str}[str(f.type)]
        assert f.default is not MISSING
        out.append(Setting(f.name, kind, f.default, label, help, **bounds))
    return tuple(out)


SETTINGS: tuple[Setting, ...] = _settings()
SETTING = {s.name: s for s in SETTINGS}


def background_rgb(choice: str, mean: tuple[float, float, float]) -> tuple[float, float, float]:
    """The canvas color a background setting names ('mean': ``mean``, the image's mean color;
    'white'; or a hex color); ValueError for anything else."""
    if choice == "mean":
        return mean
    if choice == "white":
        return (1.0, 1.0, 1.0)
    if not isinstance(choice, str) or not _HEX_COLOR.match(choice):
        raise ValueError(f"background must be {BACKGROUND_CHOICES}, not {choice!r}")
    h = choice.lstrip("#")
    return (int(h[0:2], 16) / 255.0, int(h[2:4], 16) / 255.0, int(h[4:6], 16) / 255.0)
