"""Differentiable smudge strokes (paper §3.2.2, Alg. 2, Eqs. 5–8).

A smudge stroke has geometry only: a quadratic Bézier path and a start/end radius. K stamps are
placed along the path. At each stamp the brush reads the canvas on a fixed P×P grid laid out in
units of the stamp's radius (offsets in [-extent, extent]·r around the center), bilinearly, so
the read is differentiable in position and radius and every stamp has the same
shape whatever its radius.

Two brush models, both writing back the same way:

* `smudge` (the paper's one-shot model, Eq. 7–8). The initial brush states come at once from the
  patches P_i that all stamps read on the canvas as it was before the stroke, averaged by a causal,
  row-normalized Beta kernel over normalized arc length t_i:

      Kern[k, i] ∝ t_i^(a−1) (1 − t_i)^(b−1) for i ≤ k, else 0;   B⁰ = Kern @ P   (over i).

  Then, stamp by stamp in stroke order, with C_k the patch read on the current canvas:

      C_k ← α_c·B_{k−1} + (1 − α_c)·C_k            (deposit at the stamp)
      B_k  = α_s·B⁰_k + (1 − α_s)·C_k               (Eq. 8; C_k after the deposit)

* `smudge_recursive` (the classic model, Eqs. 5–6), the reference: the same loop with
  B_k = α_s·B_{k−1} + (1 − α_s)·C_k, i.e. the brush state is carried from stamp to stamp only.

In both, B_{−1} is the first stamp's own patch, so the first stamp deposits nothing.

Write-back. The deposit is α_c·(B_{k−1} − C_k) in patch space; that *difference* is resampled
onto the pixels of a square window around the stamp (bilinear at the pixels' radius-unit coordinates
(p − c)/r, zero outside the patch, as `grid_sample` with aligned corners) and added through a soft disk
mask sigmoid((r − |p − c|)/edge). Only the difference is resampled, so pixels the brush does not change
are never blurred by a read-then-write resampling, and a stroke whose brush carries exactly what is
under it (zero length, α_c = 0) leaves the canvas unchanged. The window's integer origin comes from
the detached center (piecewise constant); everything inside it is differentiable in center and
radius. The canvas is padded once (edge replicated) so every window lies inside it.

Speed. With its geometry fixed, a stamp is linear in the canvas: gathers with bilinear weights, an
`index_add_` into the windows. The weights and indices of every stamp are computed at once, with
autograd (patch grids and windows are separable, so per row and column); the stamps then run in one
custom autograd function (`_Stamps`) whose backward walks them back by hand, instead of autograd
recording some thirty nodes per stamp.

The stamps are sequential within a stroke (overlapping stamps read what earlier ones wrote) and
strokes are applied in order; strokes whose windows do not meet are applied side by side (see `_Layout`).
The window origins are read to the host once per call.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from diffpaint.render.bezier import curve_parameters, lerp_along, quadratic_bezier
from diffpaint.render.deterministic import cumulative_sum, pad_edges
from diffpaint.strokes import StrokeBatch
from diffpaint_shared.color import linear_to_srgb, srgb_to_linear


@dataclass
class SmudgeStrokes(StrokeBatch):
    """M smudge strokes in order, in canvas pixel units (geometry only).

    points: (M, 3, 2) Bézier start, control, end as (x, y), y down.
    radius: (M, 2) radius at t=0 and t=1.
    """

    points: Tensor
    radius: Tensor

    def scaled(self, factor: float) -> SmudgeStrokes:
        """The same strokes on a canvas resized by `factor`."""
        return SmudgeStrokes(self.points * factor, self.radius * factor)


@dataclass(frozen=True)
class SmudgeSettings:
    """Smudge hyperparameters.

    Defaults were chosen on the red-circle test (bench/smudge.py at --size 256, radius 25 px,
    K = 20 and 100). α_c = 0.5, α_s = 0.8 give a visible trail of red that fades along the stroke,
    as in the paper's Fig. 8 (also tried: (0.3, 0.9), (0.5, 0.5), (0.8, 0.8)). Then a and b by a grid
    search over {0.5, 1, 2, 3, 5, 8}² for the smallest mean L1 between `smudge` and
    `smudge_recursive` (the classic model the one-shot initialization stands in for): a = 1, b = 5
    (weights (1 − t)^4, favoring what the brush picked up early, as the recursive brush does) is
    within 2 % of the best at K = 20 (L1 3.8e-3 against a mean change of 3.6e-2) and within 6 % at
    K = 100 (9.2e-3 vs 8.7e-3 for a = 1, b = 8). The first try, a = 3, b = 1 (favoring recent
    stamps), was 3.5–8× worse at K = 10–100. The stamp count changes the recursive
    model's memory (α_s applies per stamp), so these hold for the stamp spacing tested.
    """

    stamps: int = 20  # K stamps per stroke
    alpha_c: float = 0.5  # α_c: share of the brush's paint deposited on the canvas at each stamp
    alpha_s: float = 0.8  # α_s: share of the brush state kept (vs picked up from the canvas)
    beta_a: float = 1.0  # Beta kernel a: a > 1 favors later (more recent) stamps
    beta_b: float = 5.0  # Beta kernel b: b > 1 favors earlier stamps
    edge: float = 1.0  # soft disk edge: sigmoid scale in px
    patch: int = 33  # P: patch samples per side
    extent: float = 1.25  # patch half-width in radii (covers the disk and its soft edge)

    def __post_init__(self) -> None:
        if not (isinstance(self.stamps, int) and self.stamps >= 2 and isinstance(self.patch, int) and self.patch >= 2):
            raise ValueError(f"smudge stamps and patch must be integers ≥ 2, not {self.stamps!r} and {self.patch!r}")
        for name in ("alpha_c", "alpha_s", "beta_a", "beta_b", "edge", "extent"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"smudge setting {name} must be a finite number, not {value!r}")
        if not (0.0 <= self.alpha_c <= 1.0 and 0.0 <= self.alpha_s <= 1.0):
            raise ValueError("smudge alpha_c and alpha_s must lie in [0, 1]")
        if not (self.beta_a > 0 and self.beta_b > 0 and self.edge > 0 and self.extent > 0):
            raise ValueError("smudge beta_a, beta_b, edge and extent must be positive")


def stamp_parameters(points: Tensor, radius: Tensor, stamps: int) -> tuple[Tensor, Tensor, Tensor]:
    """Stamp centers (M, K, 2), radii (M, K) and normalized arc length t (M, K) in [0, 1].

    Arc length is the cumulative chord length between stamps over its total; a stroke of zero
    length falls back to its curve parameters.
    """
    u = curve_parameters(stamps, points)
    centers = quadratic_bezier(points, u)
    radii = lerp_along(radius, u)
    step = centers[:, 1:] - centers[:, :-1]
    chord = torch.sqrt((step * step).sum(-1) + 1e-12)
    arc = torch.cat([torch.zeros_like(chord[:, :1]), cumulative_sum(chord, 1)], dim=1)
    total = arc[:, -1:]
    long_enough = total > 1e-3 * stamps
    t = torch.where(long_enough, arc / total.clamp_min(1e-3 * stamps), u.expand_as(arc))
    return centers, radii, t


def beta_kernel(t: Tensor, a: float, b: float, margin: float | None = None) -> Tensor:
    """Causal row-normalized Beta kernel (..., K, K) over normalized arc length t (..., K).

    Kern[k, i] ∝ t_i^(a−1) (1 − t_i)^(b−1) for i ≤ k, 0 otherwise; each row sums to 1. t is
    clamped to [margin, 1 − margin] (default half a stamp spacing) so the weights stay finite.
    """
    k = t.shape[-1]
    margin = 0.5 / max(k, 1) if margin is None else margin
    t = t.clamp(margin, 1.0 - margin)
    log_w = (a - 1.0) * torch.log(t) + (b - 1.0) * torch.log1p(-t)
    w = torch.exp(log_w - log_w.amax(-1, keepdim=True))  # a common factor cancels in the row normalization
    causal = torch.tril(torch.ones(k, k, dtype=torch.bool, device=t.device))
    kern = torch.where(causal, w[..., None, :], torch.zeros((), dtype=t.dtype, device=t.device))
    return kern / kern.sum(-1, keepdim=True)


def _patch_offsets(settings: SmudgeSettings, like: Tensor) -> Tensor:
    """Offsets of the P×P patch samples in radii, (P, P, 2) as (x, y), spanning [-extent, extent]."""
    s = torch.linspace(-settings.extent, settings.extent, settings.patch, device=like.device, dtype=like.dtype)
    gy, gx = torch.meshgrid(s, s, indexing="ij")
    return torch.stack([gx, gy], dim=-1)


def _linear(coord: Tensor, size: int, clamp: bool) -> tuple[Tensor, Tensor]:
    """Linear taps along one axis at coordinates coord (...) in pixel units, pixel i at i: the two
    neighbors' indices and weights, each (2, ...). `clamp` replicates the border; otherwise a neighbor
    outside [0, size) gets weight 0 (as `grid_sample`'s zero padding). Differentiable in coord."""
    base = torch.floor(coord.detach())
    f = coord - base
    index = torch.stack([base, base + 1]).long()
    weight = torch.stack([1 - f, f])
    if not clamp:
        weight = weight * ((index >= 0) & (index < size))
    return index.clamp(0, size - 1), weight


def _bilinear(x: tuple[Tensor, Tensor], y: tuple[Tensor, Tensor], width: int, grid: bool = False
              ) -> tuple[Tensor, Tensor]:
    """The four corners' flat indices and weights (4, ...) from an x and a y axis' `_linear` taps, in the
    order top left, top right, bottom left, bottom right. With `grid`, x (..., A) and y (..., B) are a
    grid's columns and rows and the taps (4, ..., B, A) are their outer product: patch grids and windows
    are separable, so their coordinates are worked out per row and column, not per sample."""
    (x_index, x_weight), (y_index, y_weight) = x, y
    if grid:
        x_index, x_weight = x_index[..., None, :], x_weight[..., None, :]
        y_index, y_weight = y_index[..., :, None], y_weight[..., :, None]
    index = y_index[:, None] * width + x_index[None, :]
    return index.flatten(0, 1), (y_weight[:, None] * x_weight[None, :]).flatten(0, 1)


def _sample(image: Tensor, ox: int, oy: int, pos: Tensor) -> Tensor:
    """Bilinear samples of image (h, w, 3) at canvas positions pos (..., 2) as (x, y), pixel centers at
    i + 0.5; the image's pixel (0, 0) is canvas pixel (ox, oy). Returns (..., 3); border replicated.

    Hand-written rather than `grid_sample` so the weights depend on the canvas position only, not on
    which window it is read from: the one-shot read of the whole canvas and the per-stamp reads of the
    same spot agree bit for bit. `index_select` keeps no copy of the image for backward.
    """
    h, w = image.shape[:2]
    index, weight = _bilinear(_linear(pos[..., 0] - (0.5 + ox), w, True), _linear(pos[..., 1] - (0.5 + oy), h, True), w)
    taps = image.reshape(-1, 3).index_select(0, index.reshape(-1)).view(*index.shape, 3)
    return (weight[..., None] * taps).sum(0)


def _disk(distance: Tensor, radius: Tensor, edge: float) -> Tensor:
    """Soft disk mask sigmoid((r − d) / edge)."""
    return torch.sigmoid((radius - distance) / edge)


@dataclass
class _Layout:
    """Where each stamp's window lies in the padded canvas (host integers, read in one go), and the order
    strokes can run in: a wave holds strokes whose windows meet no other's in it, each after every earlier
    stroke it meets, so a wave's strokes are applied side by side, stamp by stamp."""

    pad: int
    half: list[int]  # per stroke: its windows are 2·half + 1 px square
    origin: Tensor  # (M, K, 2) long, each window's top-left (x, y) in the padded array
    waves: list[list[int]]

    @staticmethod
    def of(centers: Tensor, radii: Tensor, settings: SmudgeSettings, height: int, width: int) -> _Layout:
        m, k = radii.shape
        # The one host read of the smudge: window origins and sizes decide which pixels are touched.
        values = torch.cat([torch.floor(centers.detach()).flatten(), radii.detach().amax(1)]).tolist()
        corners, reach = values[: m * k * 2], values[m * k * 2 :]
        half = [math.ceil(settings.extent * r + 2.0) for r in reach]
        pad = max(half) + 1
        origin, boxes, waves = [], [], []  # type: ignore[var-annotated]
        wave_of: list[int] = []
        for s in range(m):
            n = 2 * half[s] + 1
            xy = []
            for j in range(k):
                cx, cy = int(corners[2 * (s * k + j)]), int(corners[2 * (s * k + j) + 1])
                # Clamped into the padded array: a stamp beyond the pad reads the replicated border, and its
                # mask, computed from true distances, is ~0 on the window.
                xy.append((min(max(cx - half[s] + pad, 0), width + 2 * pad - n),
                           min(max(cy - half[s] + pad, 0), height + 2 * pad - n)))
            origin.append(xy)
            box = (min(x for x, _ in xy), min(y for _, y in xy), max(x for x, _ in xy) + n, max(y for _, y in xy) + n)
            after = [wave_of[j] for j in range(s) if _meet(boxes[j], box)]
            wave = max(after) + 1 if after else 0
            if wave == len(waves):
                waves.append([])
            waves[wave].append(s)
            wave_of.append(wave)
            boxes.append(box)
        return _Layout(pad, half, torch.tensor(origin, dtype=torch.long, device=centers.device), waves)


def _meet(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


@dataclass
class _Maps:
    """All stamps as linear maps, stamp-major (K first), for M strokes in wave order with Q = P² patch
    samples and N = n² window pixels each: everything but what the canvas holds. Colors are planar
    (channel first), so the weights broadcast over whole contiguous planes."""

    read_index: Tensor  # (K, 4, M, Q) pixels of the padded canvas at the patch samples' bilinear corners
    read_weight: Tensor  # (K, 4, M, Q)
    spread_index: Tensor  # (K, 4, M, N) samples of the stroke's wave's patches (S·Q) at the window pixels' corners
    spread_weight: Tensor  # (K, 4, M, N) bilinear weights times the soft disk mask at the window pixels
    window: Tensor  # (K, 3, M, N) entries of the flat planar canvas under the windows
    disk: Tensor  # (K, M, Q) the soft disk on the patch
    kern: Tensor  # (M, K, K) one-shot Beta kernels, or empty (recursive model)


class _Stamps(torch.autograd.Function):
    """All stamps applied to the flat planar padded canvas (3·pixels), in place: wave by wave, a wave's
    strokes side by side, stamp by stamp.

    Each stamp is linear in the canvas once its geometry is fixed: read C = Σ w·X[corners], deposit
    D = α_c·(B − C), add Σ w'·D[corners] into the windows, carry the brush on; the one-shot model first
    reads every stamp's patch P_i before the wave and mixes them, B⁰ = Kern @ P. Autograd through these
    loops would record some thirty nodes per stamp; this runs them without recording and walks them back
    by hand (the adjoints of gathers are scatters and vice versa), keeping only the taps read and the
    deposits. Gradients reach the canvas, the weights (hence positions and radii), the disk and the kernel.
    """

    @staticmethod
    def forward(ctx: Any, flat: Tensor, read_weight: Tensor, spread_weight: Tensor, disk: Tensor, kern: Tensor,
                read_index: Tensor, spread_index: Tensor, window: Tensor, bounds: list[tuple[int, int]],
                alphas: tuple[float, float], brushes: Tensor | None) -> Tensor:
        alpha_c, alpha_s = alphas
        k_count = read_weight.shape[0]
        one_shot = kern.numel() > 0
        planes = flat.view(3, -1)
        keep = any(ctx.needs_input_grad)  # what the backward needs, kept only when there will be one
        saved = []
        for lo, hi in bounds:
            read_at = read_index[:, :, lo:hi].reshape(k_count, -1)
            spread_at = spread_index[:, :, lo:hi].reshape(k_count, -1)
            window_at = window[:, :, lo:hi].reshape(k_count, -1)
            read_w, spread_w, disk_w = read_weight[:, :, lo:hi], spread_weight[:, :, lo:hi], disk[:, lo:hi]
            s_count = hi - lo
            before, patches, initial = None, None, None
            if one_shot:  # every stamp's patch on the canvas before the wave, mixed: B⁰ = P_0 + Kern @ (P − P_0)
                before = planes.index_select(1, read_at.view(-1)).view(3, k_count, 4, s_count, -1)
                patches = (read_w * before).sum(2)  # (3, K, S, Q)
                first = patches[:, :1]
                mixed = first + torch.einsum("ski,cisq->cksq", kern[lo:hi], patches - first)
                initial = mixed.transpose(0, 1).contiguous()  # (K, 3, S, Q)
            taps, deposits = [], []
            brush = initial[0] if initial is not None else None
            for k in range(k_count):
                tap = planes.index_select(1, read_at[k]).view(3, 4, s_count, -1)
                patch = (read_w[k] * tap).sum(1)  # C_k, (3, S, Q)
                if brush is None:
                    brush = patch  # B_{−1}: the first stamp's own patch
                if brushes is not None:
                    brushes[k, :, lo:hi] = brush
                deposit = alpha_c * (brush - patch)  # α_c·B_{k−1} + (1 − α_c)·C_k − C_k
                spread = deposit.view(3, -1).index_select(1, spread_at[k]).view(3, 4, s_count, -1)
                flat.index_add_(0, window_at[k], (spread_w[k] * spread).sum(1).reshape(-1))
                updated = patch + disk_w[k] * deposit  # C_k after the deposit
                kept = initial[k] if initial is not None else brush
                brush = updated + alpha_s * (kept - updated)  # α_s·kept + (1 − α_s)·C_k, exact where they agree
                if keep:
                    taps.append(tap)
                    deposits.append(deposit)
            if keep:
                saved.append((read_at, spread_at, window_at, torch.stack(taps), torch.stack(deposits), before,
                              patches))
        ctx.mark_dirty(flat)
        ctx.save_for_backward(read_weight, spread_weight, disk, kern)
        ctx.waves, ctx.bounds, ctx.alphas = saved, bounds, alphas
        return flat

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        read_weight, spread_weight, disk, kern = ctx.saved_tensors
        alpha_c, alpha_s = ctx.alphas
        k_count = read_weight.shape[0]
        g_flat = grad.clone()
        g_planes = g_flat.view(3, -1)
        g_read = torch.zeros_like(read_weight)
        g_spread = torch.zeros_like(spread_weight)
        g_disk = torch.zeros_like(disk)
        g_kern = torch.zeros_like(kern)
        for (lo, hi), (read_at, spread_at, window_at, taps, deposits, before, patches) in zip(
                reversed(ctx.bounds), reversed(ctx.waves), strict=True):
            read_w, spread_w, disk_w = read_weight[:, :, lo:hi], spread_weight[:, :, lo:hi], disk[:, lo:hi]
            s_count = hi - lo
            g_initial = torch.zeros_like(deposits) if patches is not None else None  # (K, 3, S, Q)
            g_brush = deposits.new_zeros(deposits.shape[1:])  # adjoint of the brush after the current stamp
            for k in reversed(range(k_count)):
                deposit = deposits[k]
                g_added = g_flat.index_select(0, window_at[k]).view(3, 1, s_count, -1)
                spread = deposit.view(3, -1).index_select(1, spread_at[k]).view(3, 4, s_count, -1)
                g_spread[k, :, lo:hi] = (g_added * spread).sum(0)
                g_deposit = deposit.new_zeros(3, deposit[0].numel()).index_add_(
                    1, spread_at[k], (spread_w[k] * g_added).reshape(3, -1)).view_as(deposit)
                g_updated = (1 - alpha_s) * g_brush
                if g_initial is not None:
                    g_initial[k] = alpha_s * g_brush
                    g_before = torch.zeros_like(g_brush)
                else:
                    g_before = alpha_s * g_brush
                g_disk[k, lo:hi] = (g_updated * deposit).sum(0)
                g_deposit = g_deposit + disk_w[k] * g_updated
                g_patch = g_updated - alpha_c * g_deposit
                g_before = g_before + alpha_c * g_deposit
                if k == 0:
                    if g_initial is not None:
                        g_initial[0] += g_before
                    else:
                        g_patch = g_patch + g_before  # B_{−1} is C_0
                g_patch = g_patch[:, None]
                g_read[k, :, lo:hi] += (g_patch * taps[k]).sum(0)
                g_planes.index_add_(1, read_at[k], (read_w[k] * g_patch).reshape(3, -1))
                g_brush = g_before
            if g_initial is not None and patches is not None and before is not None:
                # B⁰_k = P_0 + Σ_i Kern[k, i]·(P_i − P_0), with P_i = Σ w·X[corners] on the canvas before the wave.
                g_mixed = torch.einsum("ski,kcsq->cisq", kern[lo:hi], g_initial)
                g_kern[lo:hi] = torch.einsum("kcsq,cisq->ski", g_initial, patches - patches[:, :1])
                g_mixed[:, 0] += g_initial.sum(0) - g_mixed.sum(1)
                g_mixed = g_mixed[:, :, None]  # (3, K, 1, S, Q)
                g_read[:, :, lo:hi] += (g_mixed * before).sum(0)
                g_planes.index_add_(1, read_at.view(-1), (read_w * g_mixed).reshape(3, -1))
        return g_flat, g_read, g_spread, g_disk, g_kern, None, None, None, None, None, None


def _maps(pad: int, padded_width: int, padded_height: int, centers: Tensor, radii: Tensor, t: Tensor,
          origin: Tensor, local: Tensor, n: int, settings: SmudgeSettings, one_shot: bool) -> _Maps:
    """The linear maps of M strokes (their centers (M, K, 2), radii and t (M, K), window origins (M, K, 2) of
    n px windows, and place in their wave `local` (M,)) on the planar padded canvas."""
    p = settings.patch
    r = radii[..., None]  # (M, K, 1)
    samples = torch.linspace(-settings.extent, settings.extent, p, device=centers.device, dtype=centers.dtype)
    offsets = torch.sqrt(samples[:, None] ** 2 + samples[None, :] ** 2)  # (P, P) radii from the center
    disk = _disk(offsets * r[..., None], r[..., None], settings.edge)  # (M, K, P, P)
    cx, cy = centers[..., :1] + (pad - 0.5), centers[..., 1:] + (pad - 0.5)
    read_index, read_weight = _bilinear(_linear(cx + r * samples, padded_width, True),
                                        _linear(cy + r * samples, padded_height, True), padded_width, grid=True)
    steps = torch.arange(n, device=centers.device)
    wx, wy = origin[..., :1] + steps, origin[..., 1:] + steps  # (M, K, n) window columns and rows
    pixels = padded_height * padded_width
    channels = torch.arange(3, device=centers.device)[:, None, None, None] * pixels
    window = (wy[..., :, None] * padded_width + wx[..., None, :]).flatten(2) + channels  # (3, M, K, N)
    dx, dy = wx.to(centers.dtype) - cx, wy.to(centers.dtype) - cy  # pixel centers from the stamp's center
    # The window pixels on the patch grid (align_corners: the patch's first and last samples at ±extent).
    scale = (0.5 * (p - 1)) / (r * settings.extent)
    spread_index, spread_weight = _bilinear(_linear(dx * scale + 0.5 * (p - 1), p, False),
                                            _linear(dy * scale + 0.5 * (p - 1), p, False), p, grid=True)
    spread_index = spread_index + (local * (p * p))[:, None, None, None]
    mask = _disk(torch.sqrt(dx[..., None, :] ** 2 + dy[..., :, None] ** 2 + 1e-8), r[..., None], settings.edge)
    return _Maps(
        read_index=read_index.flatten(3).movedim(2, 0),
        read_weight=read_weight.flatten(3).movedim(2, 0).contiguous(),
        spread_index=spread_index.flatten(3).movedim(2, 0),
        spread_weight=(spread_weight * mask).flatten(3).movedim(2, 0).contiguous(),
        window=window.movedim(2, 0),
        disk=disk.flatten(2).transpose(0, 1).contiguous(),
        kern=beta_kernel(t, settings.beta_a, settings.beta_b) if one_shot else centers.new_zeros(0),
    )


def _apply(canvas: Tensor, strokes: SmudgeStrokes, settings: SmudgeSettings, one_shot: bool,
           brushes: Tensor | None = None) -> Tensor:
    """Apply the strokes; when `brushes` (M, K, P, P, 3) is given, fill it with each stamp's brush state B_{k−1}.

    The canvas is padded once (edge replicated) so every window lies inside it, and flattened, planar:
    the stamps write their deposits into that working copy in place (`index_add_`). Everything that does
    not depend on what the canvas holds (windows, masks, resampling weights) is computed for all stamps
    at once, with autograd; the stamps themselves run in `_Stamps`.
    """
    if len(strokes) == 0:
        return canvas
    height, width = canvas.shape[:2]
    centers, radii, t = stamp_parameters(strokes.points, strokes.radius, settings.stamps)
    layout = _Layout.of(centers, radii, settings, height, width)
    pad = layout.pad
    padded_height, padded_width = height + 2 * pad, width + 2 * pad
    padded = pad_edges(canvas.permute(2, 0, 1), pad)
    # A fresh one-dimensional working copy (not a view: in-place writes to a view make autograd copy the
    # base's gradient); `index_add_` into a 1-D tensor is one tight loop.
    flat = padded.reshape(-1).clone()
    order = [s for wave in layout.waves for s in wave]
    bounds: list[tuple[int, int]] = []  # each wave's strokes' places in `order`
    local: list[int] = []  # each stroke's place in its wave
    for wave in layout.waves:
        start = bounds[-1][1] if bounds else 0
        bounds.append((start, start + len(wave)))
        local.extend(range(len(wave)))
    ranked = torch.tensor(order, dtype=torch.long, device=canvas.device)
    n = 2 * max(layout.half) + 1  # windows larger than a stroke's own only add zeros
    # A window grown to the largest size still covers the stroke's own (clamped, it ends where the padded
    # canvas does, at or past the own window's end), and stays inside the padded canvas.
    limit = torch.tensor([padded_width - n, padded_height - n], device=canvas.device)
    maps = _maps(pad, padded_width, padded_height, centers[ranked], radii[ranked], t[ranked],
                 torch.minimum(layout.origin[ranked], limit), torch.tensor(local, device=canvas.device), n, settings,
                 one_shot)
    ranked_brushes = None if brushes is None else brushes.new_zeros(settings.stamps, 3, len(strokes), settings.patch**2)
    flat = _Stamps.apply(flat, maps.read_weight, maps.spread_weight, maps.disk, maps.kern, maps.read_index,
                         maps.spread_index, maps.window, bounds, (settings.alpha_c, settings.alpha_s), ranked_brushes)
    if brushes is not None and ranked_brushes is not None:
        brushes[ranked] = ranked_brushes.permute(2, 0, 3, 1).reshape(len(strokes), settings.stamps, settings.patch,
                                                                      settings.patch, 3)
    return flat.view(3, padded_height, padded_width)[:, pad:-pad, pad:-pad].permute(1, 2, 0).contiguous()


def smudge(canvas: Tensor, strokes: SmudgeStrokes, settings: SmudgeSettings | None = None) -> Tensor:
    """Apply smudge strokes in order to canvas (H, W, 3): one-shot Beta-kernel brush initialization (Eq. 8)."""
    return _apply(canvas, strokes, settings or SmudgeSettings(), one_shot=True)


def smudge_recursive(canvas: Tensor, strokes: SmudgeStrokes, settings: SmudgeSettings | None = None) -> Tensor:
    """Apply smudge strokes in order with the classic recursive brush state (Eqs. 5–6), the reference."""
    return _apply(canvas, strokes, settings or SmudgeSettings(), one_shot=False)


_INVISIBLE = 1e-4  # squared linear-light color difference (~1/100) under which a deposit cannot be seen


def smudge_deposits(
    canvas: Tensor, strokes: SmudgeStrokes, settings: SmudgeSettings | None = None
) -> tuple[Tensor, Tensor, Tensor]:
    """Apply smudge strokes (one-shot model) and measure what each stamp leaves, for renderers without
    the canvas state: (canvas after, deposit color (M, K, 3) sRGB, deposit strength (M, K) in [0, 1]).

    The color of stamp k is the disk-weighted mean, in linear light, of the brush B_{k−1} it deposits.
    Its strength s is the opacity with which painting that flat color c over the canvas as it was
    before the stroke (D) best reproduces what the whole stroke did there (A), by least squares over
    the stamp's disk in linear light (where the renderers blend): s = ⟨A − D, c − D⟩ / ‖c − D‖².
    A stamp whose brush carries what is under it, or whose deposit later stamps overwrite, gets a low
    strength (‖c − D‖² is floored at `_INVISIBLE`, so an invisible deposit gets ~0, not noise); a flat
    brush over a flat canvas, one stamp alone, gets α_c. Overlapping stamps compound, as the stroke
    does. Without autograd.
    """
    settings = settings or SmudgeSettings()
    with torch.no_grad():
        centers, radii, _ = stamp_parameters(strokes.points, strokes.radius, settings.stamps)
        offsets = _patch_offsets(settings, canvas)
        colors, strengths = [], []
        for s in range(len(strokes)):
            brushes = canvas.new_zeros(1, settings.stamps, settings.patch, settings.patch, 3)
            after = _apply(canvas, strokes.select(slice(s, s + 1)), settings, one_shot=True, brushes=brushes)
            pos = centers[s][:, None, None] + radii[s][:, None, None, None] * offsets  # (K, P, P, 2)
            weight = _disk(offsets.norm(dim=-1) * radii[s][:, None, None], radii[s][:, None, None], settings.edge)
            weight = (weight / weight.sum(dim=(1, 2), keepdim=True))[..., None]  # (K, P, P, 1)
            deposit = (weight * srgb_to_linear(brushes[0])).sum(dim=(1, 2))  # (K, 3)
            before = srgb_to_linear(_sample(canvas, 0, 0, pos))
            change = srgb_to_linear(_sample(after, 0, 0, pos)) - before
            towards = deposit[:, None, None] - before
            num = (weight * change * towards).sum(dim=(1, 2, 3))
            den = (weight * towards * towards).sum(dim=(1, 2, 3))
            colors.append(linear_to_srgb(deposit))
            strengths.append((num / (den + _INVISIBLE)).clamp(0.0, 1.0))
            canvas = after
        empty = canvas.new_zeros(0, settings.stamps)
        color = torch.stack(colors) if colors else empty[..., None].expand(-1, -1, 3)
        return canvas, color, torch.stack(strengths) if strengths else empty
