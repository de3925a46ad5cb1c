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

Speed. With its geometry fixed, a stamp is linear in the canvas, and both of its resamplings are
separable: the patch read is R_y·X·R_x on the stamp's n×n window X, the spread S_y·Δ·S_x, each two
small batched matrix products (rows, then columns) instead of gathering 4·P² bilinear taps. The dense
resampling matrices of every stamp are computed at once, with autograd (`_Interpolation`); the stamps
then run in one custom autograd function (`_Stamps`) whose backward walks them back by hand, instead of
autograd recording some thirty nodes per stamp.

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


def _linear(coord: Tensor, size: int, clamp: bool) -> tuple[Tensor, Tensor, Tensor]:
    """Linear taps along one axis at coordinates coord (...) in pixel units, pixel i at i: the two
    neighbors' indices, their weights and the weights' derivatives in coord, each (2, ...). `clamp`
    replicates the border; otherwise a neighbor outside [0, size) gets weight 0 (as `grid_sample`'s zero
    padding). Not differentiable itself: `_Interpolation` uses the derivatives."""
    base = torch.floor(coord)
    f = coord - base
    index = torch.stack([base, base + 1]).long()
    weight = torch.stack([1 - f, f])
    slope = torch.stack([-torch.ones_like(f), torch.ones_like(f)])
    if not clamp:
        inside = (index >= 0) & (index < size)
        weight, slope = weight * inside, slope * inside
    return index.clamp(0, size - 1), weight, slope


class _Interpolation(torch.autograd.Function):
    """`_linear` at coord (..., A) as a dense matrix (..., A, length): row a interpolates sample a from the
    `length` consecutive pixels that start at `origin` (broadcast against coord's leading dimensions); the
    taps must lie among them. Differentiable in coord, with the gradient autograd would give through the
    taps' weights (in the few matrix entries that are not zero, instead of through every entry)."""

    @staticmethod
    def forward(ctx: Any, coord: Tensor, size: int, clamp: bool, origin: Tensor | int, length: int) -> Tensor:
        index, weight, slope = _linear(coord.detach(), size, clamp)
        local, weight = (index - origin)[..., None], weight[..., None]  # (2, ..., A, 1)
        ctx.save_for_backward(local, slope)
        # One write per row and tap (added: clamped taps can coincide), so deterministic on CUDA too.
        return coord.new_zeros(*coord.shape, length).scatter_(-1, local[0], weight[0]).scatter_add_(
            -1, local[1], weight[1])

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        local, slope = ctx.saved_tensors
        g_coord = grad.gather(-1, local[0])[..., 0] * slope[0] + grad.gather(-1, local[1])[..., 0] * slope[1]
        return g_coord, None, None, None, None


def _sample(image: Tensor, pos: Tensor) -> Tensor:
    """Bilinear samples of image (h, w, 3) at positions pos (..., 2) as (x, y), pixel centers at i + 0.5,
    as the stamps read them (border replicated). Returns (..., 3)."""
    h, w = image.shape[:2]
    (x_index, x_weight, _), (y_index, y_weight, _) = _linear(pos[..., 0] - 0.5, w, True), _linear(
        pos[..., 1] - 0.5, h, True)
    index = (y_index[:, None] * w + x_index[None, :]).flatten(0, 1)  # the four corners
    weight = (y_weight[:, None] * x_weight[None, :]).flatten(0, 1)
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
        # The window holds every pixel the patch's linear taps reach (extent·r + 1 px from the center).
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
    """All stamps as linear maps, stamp-major (K first), for M strokes in wave order, on n×n windows of the
    padded canvas and P×P patches: everything but what the canvas holds.

    Reading a patch and spreading a deposit are separable resamplings, so each is two small matrix products,
    rows then columns: patch = R_rows · window · R_columns, spread = S_rows · deposit · S_columns. Colors are
    interleaved by row (a window is (n, 3, n), a patch (P, 3, P)), so one product serves all three channels."""

    rows: Tensor  # (K, M, P, n) read: each patch row from the window's rows (linear taps, border replicated)
    columns: Tensor  # (K, M, n, P) read: each patch column from the window's columns
    spread_rows: Tensor  # (K, M, n, P) spread: each window row from the patch's rows (zero outside)
    spread_columns: Tensor  # (K, M, P, n) spread: each window column from the patch's columns
    mask: Tensor  # (K, M, 3n, n) α_c times the soft disk on the window (n, 3, n): how much of the spread is added
    disk: Tensor  # (K, M, P, 1, P) the soft disk on the patch
    window: Tensor  # (K, M, n·3·n) entries of the flat planar canvas under the windows, row by row, color by color
    kern: Tensor  # (M, K, K) one-shot Beta kernels, or empty (recursive model)


def _read(rows: Tensor, window: Tensor, columns: Tensor, by_rows: Tensor) -> Tensor:
    """Patches (B, P, 3, P) from windows (B, n, 3n); the rows-only product is written into `by_rows` (B, P, 3n)."""
    batch, p, n = rows.shape
    torch.bmm(rows, window, out=by_rows)
    return torch.bmm(by_rows.view(batch, 3 * p, n), columns).view(batch, p, 3, p)


def _read_adjoint(rows: Tensor, columns: Tensor, grad: Tensor, g_by_rows: Tensor) -> Tensor:
    """The window's gradient (B, n, 3n) from its patches' (B, P, 3, P); the rows-only product's is written into
    `g_by_rows` (B, P, 3n)."""
    batch, p, n = rows.shape
    torch.bmm(grad.view(batch, 3 * p, p), columns.transpose(1, 2), out=g_by_rows.view(batch, 3 * p, n))
    return torch.bmm(rows.transpose(1, 2), g_by_rows)


def _read_matrix_grads(window: Tensor, by_rows: Tensor, grad: Tensor, g_by_rows: Tensor) -> tuple[Tensor, Tensor]:
    """The gradients (B, P, n) and (B, n, P) of `_read`'s rows and columns, from what it and its adjoint kept."""
    batch, p, n3 = by_rows.shape
    return (torch.bmm(g_by_rows, window.transpose(1, 2)),
            torch.bmm(by_rows.view(batch, -1, n3 // 3).transpose(1, 2), grad.view(batch, 3 * p, p)))


class _Stamps(torch.autograd.Function):
    """All stamps applied to the flat planar padded canvas (3·pixels), in place: wave by wave, a wave's
    strokes side by side, stamp by stamp.

    Each stamp is linear in the canvas once its geometry is fixed: gather the window X, read C = R_y·X·R_x,
    take the difference Δ = B − C, add mask ⊙ (S_y·Δ·S_x) into the window (α_c is in the mask), carry the brush
    on; the one-shot model first reads every stamp's patch P_i before the wave and mixes them,
    B⁰ = Kern @ P. Autograd through these loops would record some thirty nodes per stamp; this runs them
    without recording and walks them back by hand (transposed products; the adjoint of the window gather is
    an `index_add_`). Only the adjoints of the canvas and the brush have to go back stamp by stamp: the
    gradients to the resampling matrices and masks (hence positions and radii) are products of what the
    stamps kept with those adjoints, worked out for all stamps of a wave at once.
    """

    @staticmethod
    def forward(ctx: Any, flat: Tensor, rows: Tensor, columns: Tensor, spread_rows: Tensor, spread_columns: Tensor,
                mask: Tensor, disk: Tensor, kern: Tensor, window: Tensor, bounds: list[tuple[int, int]],
                alphas: tuple[float, float], brushes: Tensor | None) -> Tensor:
        alpha_c, alpha_s = alphas
        k_count, _, p, n = rows.shape
        keep = any(ctx.needs_input_grad)  # what the backward needs, kept only when there will be one
        saved = []
        for lo, hi in bounds:
            s_count = hi - lo
            at = window[:, lo:hi]
            one_shot = None
            initial: tuple[Tensor, ...] | None = None
            if kern.numel():  # every stamp's patch on the canvas before the wave, mixed: B⁰ = P_0 + Kern @ (P − P_0)
                # Stroke-major (S, K): a stroke's K patches in a row for the product with its kernel.
                read_rows = rows[:, lo:hi].transpose(0, 1).reshape(-1, p, n)
                read_columns = columns[:, lo:hi].transpose(0, 1).reshape(-1, n, p)
                before = flat.index_select(0, at.transpose(0, 1).reshape(-1)).view(-1, n, 3 * n)
                by_rows = before.new_empty(s_count * k_count, p, 3 * n)
                patches = _read(read_rows, before, read_columns, by_rows).view(s_count, k_count, -1)
                first = patches[:, :1]
                deviations = patches - first
                mixed = first + torch.bmm(kern[lo:hi], deviations)
                initial = mixed.transpose(0, 1).view(k_count, s_count, p, 3, p).unbind(0)
                one_shot = (read_rows, read_columns, before, by_rows, deviations)
            # What each stamp reads and deposits, (K, S, …): kept for the backward.
            xs = flat.new_empty(k_count, s_count, n, 3 * n)
            x_rows = flat.new_empty(k_count, s_count, p, 3 * n)
            diffs = flat.new_empty(k_count, s_count, p, 3, p)
            d_rows = flat.new_empty(k_count, s_count, n, 3 * p)
            spreads = flat.new_empty(k_count, s_count, 3 * n, n)
            brush = initial[0] if initial is not None else None
            for k, (read_rows, read_columns, add_rows, add_columns, mask_k, disk_k, at_k, x, x_rows_k, diff,
                    d_rows_k, spread) in enumerate(zip(
                    rows[:, lo:hi].unbind(0), columns[:, lo:hi].unbind(0), spread_rows[:, lo:hi].unbind(0),
                    spread_columns[:, lo:hi].unbind(0), mask[:, lo:hi].unbind(0), disk[:, lo:hi].unbind(0),
                    at.reshape(k_count, -1).unbind(0), xs.unbind(0), x_rows.unbind(0), diffs.unbind(0),
                    d_rows.unbind(0), spreads.unbind(0), strict=True)):
                torch.index_select(flat, 0, at_k, out=x.view(-1))
                patch = _read(read_rows, x, read_columns, x_rows_k)  # C_k, (S, P, 3, P)
                if brush is None:
                    brush = patch  # B_{−1}: the first stamp's own patch
                if brushes is not None:
                    brushes[k, lo:hi] = brush
                torch.sub(brush, patch, out=diff)  # the deposit is α_c·Δ: α_c·B_{k−1} + (1 − α_c)·C_k − C_k
                torch.bmm(add_rows, diff.view(s_count, p, 3 * p), out=d_rows_k)
                torch.bmm(d_rows_k.view(s_count, 3 * n, p), add_columns, out=spread)
                flat.index_add_(0, at_k, (mask_k * spread).view(-1))
                updated = torch.addcmul(patch, disk_k, diff, value=alpha_c)  # C_k after the deposit
                # α_s·kept + (1 − α_s)·C_k, exact where they agree
                brush = torch.lerp(updated, initial[k] if initial is not None else brush, alpha_s)
            if keep:
                saved.append((xs, x_rows, diffs, d_rows, spreads, one_shot))
        ctx.mark_dirty(flat)
        ctx.save_for_backward(rows, columns, spread_rows, spread_columns, mask, disk, kern, window)
        ctx.waves, ctx.bounds, ctx.alphas = saved, bounds, alphas
        return flat

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, ...]:
        rows, columns, spread_rows, spread_columns, mask, disk, kern, window = ctx.saved_tensors
        alpha_c, alpha_s = ctx.alphas
        k_count, _, p, n = rows.shape
        g_flat = grad.clone()
        g_rows, g_columns = torch.empty_like(rows), torch.empty_like(columns)
        g_spread_rows, g_spread_columns = torch.empty_like(spread_rows), torch.empty_like(spread_columns)
        g_mask, g_disk, g_kern = torch.empty_like(mask), torch.empty_like(disk), torch.zeros_like(kern)
        for (lo, hi), (xs, x_rows, diffs, d_rows, spreads, one_shot) in zip(reversed(ctx.bounds),
                                                                             reversed(ctx.waves), strict=True):
            s_count, batch = hi - lo, k_count * (hi - lo)
            at = window[:, lo:hi]
            # The adjoints each stamp passes on, (K, S, …), for the matrices' gradients after the loop.
            g_added = grad.new_empty(k_count, s_count, 3 * n, n)  # of the spread added into the window
            g_d_rows = grad.new_empty(k_count, s_count, n, 3 * p)  # of S_y·Δ
            g_updated = grad.new_empty(k_count, s_count, p, 3, p)  # of C_k + disk ⊙ Δ
            g_patches = grad.new_empty(k_count, s_count, p, 3, p)  # of C_k
            g_x_rows = grad.new_empty(k_count, s_count, p, 3 * n)  # of R_y·X
            g_initial = grad.new_empty(s_count, k_count, p, 3, p) if one_shot is not None else None
            g_brush = None  # adjoint of the brush after the current stamp (None: zero)
            per_stamp = list(zip(
                rows[:, lo:hi].unbind(0), columns[:, lo:hi].unbind(0), spread_rows[:, lo:hi].unbind(0),
                spread_columns[:, lo:hi].unbind(0), mask[:, lo:hi].unbind(0), disk[:, lo:hi].unbind(0),
                at.reshape(k_count, -1).unbind(0), g_added.unbind(0), g_d_rows.unbind(0), g_updated.unbind(0),
                g_patches.unbind(0), g_x_rows.unbind(0), strict=True))
            for k in reversed(range(k_count)):
                (read_rows, read_columns, add_rows, add_columns, mask_k, disk_k, at_k, g_added_k, g_d_rows_k,
                 g_updated_k, g_patch, g_x_rows_k) = per_stamp[k]
                # The spread, mask ⊙ (S_y · Δ · S_x) added into the window.
                torch.index_select(g_flat, 0, at_k, out=g_added_k.view(-1))
                torch.bmm(mask_k * g_added_k, add_columns.transpose(1, 2), out=g_d_rows_k.view(s_count, 3 * n, p))
                g_diff = torch.bmm(add_rows.transpose(1, 2), g_d_rows_k).view(s_count, p, 3, p)
                # The brush: B_k = lerp(C_k + disk ⊙ Δ, kept, α_s), Δ = B_{k−1} − C_k.
                if g_brush is None:
                    g_updated_k.zero_()
                    torch.neg(g_diff, out=g_patch)
                else:
                    torch.mul(g_brush, 1 - alpha_s, out=g_updated_k)
                    g_diff.addcmul_(disk_k, g_updated_k, value=alpha_c)
                    torch.sub(g_updated_k, g_diff, out=g_patch)
                if g_initial is not None:  # kept = B⁰_k
                    if g_brush is None:
                        g_initial[:, k].zero_()
                    else:
                        torch.mul(g_brush, alpha_s, out=g_initial[:, k])
                    if k == 0:
                        g_initial[:, 0] += g_diff
                    g_brush = g_diff
                else:  # kept = B_{k−1}
                    g_brush = g_diff if g_brush is None else g_diff.add_(g_brush, alpha=alpha_s)
                    if k == 0:
                        g_patch += g_brush  # B_{−1} is C_0
                # The read, C_k = R_y · X · R_x.
                g_x = _read_adjoint(read_rows, read_columns, g_patch, g_x_rows_k)
                g_flat.index_add_(0, at_k, g_x.view(-1))
            g_mask[:, lo:hi] = g_added * spreads
            g_spread_columns[:, lo:hi] = torch.bmm(
                d_rows.view(batch, 3 * n, p).transpose(1, 2),
                (mask[:, lo:hi] * g_added).view(batch, 3 * n, n)).view(k_count, s_count, p, n)
            g_spread_rows[:, lo:hi] = torch.bmm(g_d_rows.view(batch, n, 3 * p),
                                                diffs.view(batch, p, 3 * p).transpose(1, 2)).view_as(
                                                    spread_rows[:, lo:hi])
            g_disk[:, lo:hi] = alpha_c * (g_updated * diffs).sum(3, keepdim=True)
            wave_g_rows, wave_g_columns = _read_matrix_grads(xs.view(batch, n, 3 * n), x_rows.view(batch, p, 3 * n),
                                                             g_patches.view(batch, p, 3, p),
                                                             g_x_rows.view(batch, p, 3 * n))
            g_rows[:, lo:hi] = wave_g_rows.view(k_count, s_count, p, n)
            g_columns[:, lo:hi] = wave_g_columns.view(k_count, s_count, n, p)
            if g_initial is not None and one_shot is not None:
                # B⁰_k = P_0 + Σ_i Kern[k, i]·(P_i − P_0), with P_i read on the canvas before the wave.
                read_rows, read_columns, before, by_rows, deviations = one_shot
                g_mixed = g_initial.view(s_count, k_count, -1)
                g_read = torch.bmm(kern[lo:hi].transpose(1, 2), g_mixed)
                g_kern[lo:hi] = torch.bmm(g_mixed, deviations.transpose(1, 2))
                g_read[:, 0] += g_mixed.sum(1) - g_read.sum(1)
                g_read = g_read.view(batch, p, 3, p)
                g_by_rows = torch.empty_like(by_rows)
                g_x = _read_adjoint(read_rows, read_columns, g_read, g_by_rows)
                wave_g_rows, wave_g_columns = _read_matrix_grads(before, by_rows, g_read, g_by_rows)
                g_rows[:, lo:hi] += wave_g_rows.view(s_count, k_count, p, n).transpose(0, 1)
                g_columns[:, lo:hi] += wave_g_columns.view(s_count, k_count, n, p).transpose(0, 1)
                g_flat.index_add_(0, at.transpose(0, 1).reshape(-1), g_x.view(-1))
        return (g_flat, g_rows, g_columns, g_spread_rows, g_spread_columns, g_mask, g_disk, g_kern, None, None, None,
                None)


def _maps(pad: int, padded_width: int, padded_height: int, centers: Tensor, radii: Tensor, t: Tensor,
          origin: Tensor, n: int, settings: SmudgeSettings, one_shot: bool) -> _Maps:
    """The linear maps of M strokes (their centers (M, K, 2), radii and t (M, K), window origins (M, K, 2) of
    n px windows) on the planar padded canvas."""
    p = settings.patch
    # Stamp-major from here on, so that every map comes out in the order `_Stamps` walks it.
    centers, origin = centers.transpose(0, 1).contiguous(), origin.transpose(0, 1).contiguous()
    r = radii.t().contiguous()[..., None]  # (K, M, 1)
    samples = torch.linspace(-settings.extent, settings.extent, p, device=centers.device, dtype=centers.dtype)
    # sigmoid((r − |s|·r) / edge) at the patch samples s (in radii)
    inside = (1 - torch.sqrt(samples[:, None] ** 2 + samples[None, :] ** 2)) / settings.edge  # (P, P)
    disk = torch.sigmoid(r[..., None] * inside)  # (K, M, P, P)
    cx, cy = centers[..., :1] + (pad - 0.5), centers[..., 1:] + (pad - 0.5)
    ox, oy = origin[..., :1], origin[..., 1:]
    # The patch samples (c + r·s) on the window's pixels; `_Layout` sizes windows so that every tap lies inside.
    rows = _Interpolation.apply(cy + r * samples, padded_height, True, oy, n)
    columns = _Interpolation.apply(cx + r * samples, padded_width, True, ox, n).transpose(-1, -2)
    steps = torch.arange(n, device=centers.device)
    wx, wy = ox + steps, oy + steps  # (K, M, n) window columns and rows
    dx, dy = wx.to(centers.dtype) - cx, wy.to(centers.dtype) - cy  # pixel centers from the stamp's center
    # The window pixels on the patch grid (align_corners: the patch's first and last samples at ±extent).
    scale = (0.5 * (p - 1)) / (r * settings.extent)
    spread_rows = _Interpolation.apply(dy * scale + 0.5 * (p - 1), p, False, 0, p)
    spread_columns = _Interpolation.apply(dx * scale + 0.5 * (p - 1), p, False, 0, p).transpose(-1, -2)
    mask = settings.alpha_c * _disk(torch.sqrt(dx[..., None, :] ** 2 + dy[..., :, None] ** 2 + 1e-8), r[..., None],
                                    settings.edge)
    channels = torch.arange(3, device=centers.device)[:, None] * (padded_height * padded_width)
    window = wy[..., :, None, None] * padded_width + channels + wx[..., None, None, :]  # (K, M, n, 3, n)
    k, m = r.shape[:2]
    return _Maps(
        rows=rows,
        columns=columns,
        spread_rows=spread_rows,
        spread_columns=spread_columns,
        mask=mask[..., None, :].expand(k, m, n, 3, n).reshape(k, m, 3 * n, n),
        disk=disk[..., None, :],
        window=window.flatten(2),
        kern=beta_kernel(t, settings.beta_a, settings.beta_b) if one_shot else centers.new_zeros(0),
    )


def _apply(canvas: Tensor, strokes: SmudgeStrokes, settings: SmudgeSettings, one_shot: bool,
           brushes: Tensor | None = None) -> Tensor:
    """Apply the strokes; when `brushes` (M, K, P, P, 3) is given, fill it with each stamp's brush state B_{k−1}.

    The canvas is padded once (edge replicated) so every window lies inside it, and flattened, planar:
    the stamps write their deposits into that working copy in place (`index_add_`). Everything that does
    not depend on what the canvas holds (windows, masks, resampling matrices) is computed for all stamps
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
    for wave in layout.waves:
        start = bounds[-1][1] if bounds else 0
        bounds.append((start, start + len(wave)))
    ranked = torch.tensor(order, dtype=torch.long, device=canvas.device)
    n = 2 * max(layout.half) + 1  # windows larger than a stroke's own only add zeros
    # A window grown to the largest size still covers the stroke's own (clamped, it ends where the padded
    # canvas does, at or past the own window's end), and stays inside the padded canvas.
    limit = torch.tensor([padded_width - n, padded_height - n], device=canvas.device)
    maps = _maps(pad, padded_width, padded_height, centers[ranked], radii[ranked], t[ranked],
                 torch.minimum(layout.origin[ranked], limit), n, settings, one_shot)
    p = settings.patch
    ranked_brushes = None if brushes is None else brushes.new_zeros(settings.stamps, len(strokes), p, 3, p)
    flat = _Stamps.apply(flat, maps.rows, maps.columns, maps.spread_rows, maps.spread_columns, maps.mask, maps.disk,
                         maps.kern, maps.window, bounds, (settings.alpha_c, settings.alpha_s), ranked_brushes)
    if brushes is not None and ranked_brushes is not None:
        brushes[ranked] = ranked_brushes.permute(1, 0, 2, 4, 3)
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
            before = srgb_to_linear(_sample(canvas, pos))
            change = srgb_to_linear(_sample(after, pos)) - before
            towards = deposit[:, None, None] - before
            num = (weight * change * towards).sum(dim=(1, 2, 3))
            den = (weight * towards * towards).sum(dim=(1, 2, 3))
            colors.append(linear_to_srgb(deposit))
            strengths.append((num / (den + _INVISIBLE)).clamp(0.0, 1.0))
            canvas = after
        empty = canvas.new_zeros(0, settings.stamps)
        color = torch.stack(colors) if colors else empty[..., None].expand(-1, -1, 3)
        return canvas, color, torch.stack(strengths) if strengths else empty
