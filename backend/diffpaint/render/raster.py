"""Soft rasterization of stroke stamp chains into per-(tile, stroke) fragments.

A stroke is a chain of stamps along its Bézier. By default, between consecutive curve samples the
stamp is swept continuously (a capsule whose radius varies linearly), which is the limit of
infinitely dense circular stamps and matches how Grease Pencil draws a stroke between its points;
`sweep=False` keeps the discrete circular stamps instead (the paper's renderer). Coverage
is a sigmoid of the signed distance to that chain, so positions and radii receive gradients
through the soft edge. Segments are binned to the tiles they reach (`bin_segments`), so cost follows
covered area; then the (tile, stroke) pairs of all tiles, or of a group of whole tiles at a time
(`rasterize_entries`, as the renderer does on large canvases), are evaluated at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.utils.checkpoint import checkpoint

from diffpaint.render.bezier import curve_parameters, lerp_along, quadratic_bezier
from diffpaint.render.deterministic import cumulative_sum
from diffpaint.render.tiles import TileGrid, TileGroup


@dataclass(frozen=True)
class RasterSettings:
    samples: int = 9  # curve samples (stamps) per stroke
    sweep: bool = True  # sweep the stamp between samples, or keep discrete stamps
    edge: float = 0.25  # sigmoid scale in px: 10–90 % over ~0.55 px, like Grease Pencil's anti-aliased edge
    # Tile side (px). A (tile, stroke) pair evaluates every pixel of the tile, so thin strokes waste most of a large
    # one: on the CPU, fitted strokes (radius median 3 px, 512 px, 2,048 strokes) take 0.53 s a fwd+bwd at 4,
    # 0.64 s at 8, 0.70 s at 2 (per-pair work dominates) and 0.99 s at 16 (bench/RESULTS.md "Tiles of 4 px").
    tile: int = 4
    stroke_uv: bool = False  # also give each fragment its stroke-space (u, v), for textured strokes (sweep only)


@dataclass
class Fragments:
    """Coverage of each (tile, stroke) pair, sorted by tile, then by painting order."""

    tile_index: Tensor  # (P,) long
    stroke_index: Tensor  # (P,) long
    coverage: Tensor  # (P, tile*tile) in [0, 1], before stroke opacity
    color: Tensor  # (P, tile*tile, 3), in the renderer's blend space
    # (P, tile*tile, 2) with RasterSettings.stroke_uv: u = arc length from the stroke's start over its
    # length, v = 0.5 + 0.5 · (offset from the center line towards (dy, −dx)) / radius, as Grease Pencil
    # maps a stroke texture; and (P, tile*tile) the distance from the center line over the radius.
    uv: Tensor | None = None
    axis_distance: Tensor | None = None

    def sum_of(self, per_group: Callable[[Fragments], Tensor]) -> Tensor:
        """`per_group` of these fragments: they are one group (see `FragmentGroups.sum_of`)."""
        return per_group(self)


@dataclass
class FragmentGroups:
    """The fragments of a canvas too large to hold them all at once, made on demand a group of whole tiles
    at a time (`make`). Whatever is computed from them is a sum over the groups: a per-tile or per-stroke
    total of per-fragment values."""

    groups: list[TileGroup]
    make: Callable[[TileGroup], Fragments]

    def sum_of(self, per_group: Callable[[Fragments], Tensor]) -> Tensor:
        """Σ over the groups of `per_group`(the group's fragments), one group in memory at a time, in the
        backward pass too (each group is made again there)."""
        parts = (checkpointed(lambda group: per_group(self.make(group)), group) for group in self.groups)
        return torch.stack(list(parts)).sum(dim=0)


def checkpointed(function: Callable[[TileGroup], Any], group: TileGroup) -> Any:
    """function(group), keeping for backward only what it was given: its intermediates (a group's
    fragments) are made again when the gradient reaches them."""
    if not torch.is_grad_enabled():
        return function(group)
    return checkpoint(function, group, use_reentrant=False, preserve_rng_state=False)


def bin_boxes(boxes: Tensor, grid: TileGrid) -> tuple[Tensor, Tensor]:
    """All (tile, box) pairs whose tile meets the box, sorted by (tile, box index)."""
    t = grid.tile
    x0 = (boxes[:, 0] / t).floor().long().clamp(0, grid.cols - 1)
    y0 = (boxes[:, 1] / t).floor().long().clamp(0, grid.rows - 1)
    x1 = (boxes[:, 2] / t).floor().long().clamp(0, grid.cols - 1)
    y1 = (boxes[:, 3] / t).floor().long().clamp(0, grid.rows - 1)
    on_canvas = (boxes[:, 2] >= 0) & (boxes[:, 3] >= 0) & (boxes[:, 0] < grid.width) & (boxes[:, 1] < grid.height)
    span_x = x1 - x0 + 1
    counts = span_x * (y1 - y0 + 1) * on_canvas
    box = torch.repeat_interleave(torch.arange(len(boxes), device=boxes.device), counts)
    first, span_x = (torch.cumsum(counts, 0) - counts).index_select(0, box), span_x.index_select(0, box)
    local = torch.arange(len(box), device=boxes.device) - first
    tile = (y0.index_select(0, box) + local // span_x) * grid.cols + x0.index_select(0, box) + local % span_x
    order = torch.argsort(tile * len(boxes) + box)
    return tile.index_select(0, order), box.index_select(0, order)


@dataclass
class StrokeSamples:
    """Strokes sampled along their curves, the rasterizer's input: K samples per stroke."""

    centers: Tensor  # (N, K, 2) px
    radii: Tensor  # (N, K) px
    colors: Tensor  # (N, K, 3) in the blend space

    @property
    def arc(self) -> Tensor:
        return _arc_fraction(self.centers)


@dataclass
class SegmentEntries:
    """Every (tile, stroke, segment) whose segment can reach the tile, sorted by (tile, stroke, segment)."""

    tile: Tensor  # (E,) long
    stroke: Tensor  # (E,) long
    segment: Tensor  # (E,) long

    def __len__(self) -> int:
        return len(self.tile)

    def part(self, lo: int, hi: int) -> SegmentEntries:
        return SegmentEntries(self.tile[lo:hi], self.stroke[lo:hi], self.segment[lo:hi])


def sample_strokes(points: Tensor, radius: Tensor, color: Tensor, settings: RasterSettings,
                   blend_space: Callable[[Tensor], Tensor] = lambda c: c) -> StrokeSamples:
    """points (N, 3, 2) px, radius (N, 2) px, color (N, 2, 3) → samples. Color is linear in t between the
    two end colors at each curve sample, mapped by `blend_space` there, and linear between samples (as a
    Grease Pencil stroke's vertex colors are), so the mapping costs per sample, not per pixel."""
    t = curve_parameters(settings.samples, points)
    return StrokeSamples(quadratic_bezier(points, t), lerp_along(radius, t), blend_space(lerp_along(color, t)))


def rasterize(
    points: Tensor,
    radius: Tensor,
    color: Tensor,
    grid: TileGrid,
    settings: RasterSettings,
    blend_space: Callable[[Tensor], Tensor] = lambda c: c,
) -> Fragments:
    """Soft coverage and color of every stroke on every tile it touches (see `sample_strokes` for the inputs)."""
    samples = sample_strokes(points, radius, color, settings, blend_space)
    return rasterize_entries(samples, bin_segments(samples, grid, settings), grid, settings)


def bin_segments(samples: StrokeSamples, grid: TileGrid, settings: RasterSettings) -> SegmentEntries:
    """The (tile, stroke, segment) entries of the strokes' segments (all of them, or parts of them by
    whole tiles, go to `rasterize_entries`). Segments, not whole strokes, are binned to tiles, so a tile
    evaluates only the few segments that can reach it: cost follows the area the stamps cover."""
    with torch.no_grad():
        a, b, ra, rb = _segment_ends(samples.centers.detach(), samples.radii.detach(), settings)
        n, s = a.shape[:2]
        grow = torch.maximum(ra, rb) + 6.0 * settings.edge
        boxes = torch.cat([torch.minimum(a, b) - grow[..., None], torch.maximum(a, b) + grow[..., None]], dim=-1)
        entry_tile, entry = bin_boxes(boxes.reshape(n * s, 4), grid)  # sorted by (tile, stroke, segment)
        entry_stroke, entry_segment = entry // s, entry % s
        # A box's corner tiles can lie beyond the round ends of a fat segment: keep the tiles whose
        # center is within the segment's reach plus the tile's half-diagonal.
        center = grid.tile_origins(a).index_select(0, entry_tile) + 0.5 * grid.tile
        # Rows picked by one flat index: far faster than indexing (N, S, ·) by two index tensors.
        a, b, grow = (x.reshape(n * s, -1).index_select(0, entry) for x in (a, b, grow[..., None]))
        _, reach = _segment_signed_distance(center, a, b, grow[:, 0], grow[:, 0])
        # Compactions wait for the device (their size depends on the data): one `nonzero` each, not one per array.
        near = torch.nonzero(reach <= 0.5 * grid.tile * 2**0.5).squeeze(1)
        return SegmentEntries(*(x.index_select(0, near) for x in (entry_tile, entry_stroke, entry_segment)))


def rasterize_entries(samples: StrokeSamples, entries: SegmentEntries, grid: TileGrid,
                      settings: RasterSettings) -> Fragments:
    """The fragments of the (tile, stroke) pairs that `entries` (from `bin_segments`, whole tiles of them) hold."""
    # The union of segments is a min over them, whose gradient reaches only the nearest one. So find
    # that segment without autograd, looking only at segments whose box meets the tile, then evaluate
    # just it differentiably: the graph kept for backward shrinks by the number of segments, with
    # identical gradients.
    centers, radii, colors = samples.centers, samples.radii, samples.colors
    with torch.no_grad():
        ends = _segment_ends(centers.detach(), radii.detach(), settings)
        tile_index, stroke_index, nearest = _nearest_segments(*ends, entries, grid, sweep=settings.sweep)

    origins = grid.tile_origins(centers)[tile_index]  # (P, 2)
    local = grid.local_pixel_centers(centers)  # (T*T, 2)
    px, py = local[:, :1] + origins[:, 0], local[:, 1:] + origins[:, 1]  # (T*T, P) each: pixel-major

    # index_select + gather: their backward passes are plain scatter-adds, unlike advanced indexing.
    def pick(per_sample: Tensor, offset: int) -> Tensor:
        per_pair = per_sample.index_select(0, stroke_index)
        index = nearest + offset
        if per_pair.dim() == 3:
            index = index[..., None].expand(-1, -1, per_pair.shape[-1])
        return per_pair.gather(1, index)

    uv = axis_distance = None
    if settings.sweep:
        first = (nearest.T + stroke_index * centers.shape[1]).contiguous()  # segment starts, flat (stroke · K + i)
        u, signed, frag_color = _SweptSegment.apply(centers, radii, colors, first, px, py,
                                                    _pair_chunk(px.shape[0], px.device))
        if settings.stroke_uv:
            a, b, ra, rb = pick(centers, 0), pick(centers, 1), pick(radii, 0), pick(radii, 1)
            arc = samples.arc
            along = pick(arc, 0) + u * (pick(arc, 1) - pick(arc, 0))
            pix = torch.stack([px.T, py.T], dim=-1)  # (P, T*T, 2)
            uv, axis_distance = _stroke_uv(pix, a, b, ra + u * (rb - ra), signed, along)
    else:
        signed = _stamp_signed_distance(torch.stack([px.T, py.T], dim=-1), pick(centers, 0), pick(radii, 0))
        frag_color = pick(colors, 0)
    coverage = torch.sigmoid(-signed / settings.edge)
    return Fragments(tile_index, stroke_index, coverage, frag_color, uv, axis_distance)


class _SweptSegment(torch.autograd.Function):
    """Per fragment pixel: its position u along its stroke's nearest swept segment, the signed distance to
    it and the color there: `_segment_signed_distance` and the color lerp, value for value, with a backward
    written by hand.

    This is most of a step's work, and on the CPU most of that is memory: autograd keeps ~20 tensors of
    every fragment pixel and runs ~50 operations over them backwards, each into a new tensor (fresh pages
    from the OS at this size). Here the operations work in place where they can, backward gathers the
    segment ends again and recomputes the few intermediates it needs, and the gradients are scatter-added
    straight into the curve samples. Values go plane by plane (x, y, radius, each color channel), since a
    1-D `index_select` or `index_add_` is many times faster than one of rows of 2 or 3, and pixel-major
    (T*T, P): consecutive pixels then belong to different strokes, so `index_add_` does not wait on its
    own previous add to the same sample, which made it 2.5× slower in pair-major order. Both passes run
    over `chunk` pairs at a time (see `_pair_chunk`), so that their dozen intermediates stay in the cache.

    Inputs: centers (N, K, 2), radii (N, K), colors (N, K, 3) of the curve samples; first (T*T, P) long, the
    flat index (stroke · K + segment) of each pixel's segment start (its end is the next sample); px, py
    (T*T, P) the pixel centers; chunk the pairs per pass. Returns u, signed (P, T*T) and color (P, T*T, 3),
    pair-major.
    """

    @staticmethod
    def forward(ctx: Any, centers: Tensor, radii: Tensor, colors: Tensor, first: Tensor, px: Tensor,
                py: Tensor, chunk: int) -> tuple[Tensor, Tensor, Tensor]:
        ctx.set_materialize_grads(False)  # u is unused unless the strokes are textured: no zeros for it
        geometry, color_planes = _planes(centers, radii), _planes(colors)
        pixels, pairs = first.shape
        t, dist = px.new_empty(pixels, pairs), px.new_empty(pixels, pairs)  # kept for backward
        u_out, signed_out = px.new_empty(pairs, pixels), px.new_empty(pairs, pixels)
        color = px.new_empty(pairs, pixels, len(color_planes))
        for part in _pair_parts(pairs, chunk):
            start, end, shape = _segment_index(first, part)
            apx, apy, abx, aby, ra, drb = _segment_vectors(geometry, start, end, shape, px[:, part], py[:, part])
            t_part, scratch, scratch2 = t[:, part], torch.empty_like(apx), aby * aby
            torch.mul(apx, abx, out=t_part).add_(torch.mul(apy, aby, out=scratch))
            t_part.div_(torch.mul(abx, abx, out=scratch).add_(scratch2).add_(1e-8))
            u = t_part.clamp(0.0, 1.0)
            dx, dy = apx.sub_(torch.mul(u, abx, out=scratch)), apy.sub_(torch.mul(u, aby, out=scratch))
            dist_part = dist[:, part]
            torch.mul(dx, dx, out=dist_part).add_(torch.mul(dy, dy, out=scratch2)).add_(1e-8).sqrt_()
            signed_out[part] = torch.sub(dist_part, torch.mul(u, drb, out=scratch2).add_(ra)).T
            u_out[part] = u.T
            ca, cb = (_gather(color_planes, i, shape) for i in (start, end))
            for c in range(len(ca)):  # written channel by channel into the (P, T*T, 3) layout the compositor takes
                torch.add(ca[c], cb[c].sub_(ca[c]).mul_(u), out=color[part, :, c].T)
        ctx.chunk = chunk
        ctx.save_for_backward(centers, radii, colors, first, px, py, t, dist)
        return u_out, signed_out, color

    @staticmethod
    def backward(ctx: Any, grad_u: Tensor | None, grad_signed: Tensor | None,
                 grad_color: Tensor | None) -> tuple[Tensor | None, ...]:
        centers, radii, colors, first, px, py, t_all, dist_all = ctx.saved_tensors
        geometry, color_planes = _planes(centers, radii), _planes(colors)
        g_geometry = geometry.new_zeros(geometry.shape)
        g_colors = None if grad_color is None else color_planes.new_zeros(color_planes.shape)
        pairs = first.shape[1]
        for part in _pair_parts(pairs, ctx.chunk):
            start, end, shape = _segment_index(first, part)
            apx, apy, abx, aby, ra, drb = _segment_vectors(geometry, start, end, shape, px[:, part], py[:, part])
            t, dist = t_all[:, part], dist_all[:, part]
            u = t.clamp(0.0, 1.0)
            scratch, scratch2 = u * abx, u * aby
            dx, dy = torch.sub(apx, scratch), torch.sub(apy, scratch2)
            # signed = dist − (ra + u (rb − ra)), dist = |ap − u ab|
            g_signed = torch.zeros_like(t) if grad_signed is None else grad_signed[part].T.contiguous()
            g_dx, g_dy = dx.mul_(torch.div(g_signed, dist, out=scratch)), dy.mul_(scratch)
            g_u = g_signed * drb
            g_u.add_(torch.mul(g_dx, abx, out=scratch)).add_(torch.mul(g_dy, aby, out=scratch)).neg_()
            if grad_u is not None:
                g_u.add_(grad_u[part].T)
            if g_colors is not None and grad_color is not None:
                ca, cb = (_gather(color_planes, i, shape) for i in (start, end))
                g_ca, g_cb = [], []
                for c in range(len(ca)):
                    g = grad_color[part, :, c].T.contiguous()
                    g_u.add_(cb[c].sub_(ca[c]).mul_(g))
                    g_cb.append(torch.mul(g, u, out=ca[c]))
                    g_ca.append(g.sub_(g_cb[-1]))
                _scatter_add(g_colors, start, end, g_ca, g_cb)
            # u = clamp(t, 0, 1), t = (ap · ab) / (|ab|² + 1e-8)
            g_num = g_u.mul_((t >= 0.0) & (t <= 1.0))
            g_num.div_(torch.mul(abx, abx, out=scratch).add_(torch.mul(aby, aby, out=scratch2)).add_(1e-8))
            g_den2 = torch.mul(g_num, t, out=scratch).mul_(-2.0)
            g_abx = apx.mul_(g_num).add_(torch.mul(g_den2, abx, out=scratch2)).sub_(torch.mul(g_dx, u, out=scratch2))
            g_aby = apy.mul_(g_num).add_(torch.mul(g_den2, aby, out=scratch2)).sub_(torch.mul(g_dy, u, out=scratch2))
            g_ax = abx.mul_(g_num).add_(g_dx).add_(g_abx).neg_()  # −(∂/∂ap + ∂/∂ab)
            g_ay = aby.mul_(g_num).add_(g_dy).add_(g_aby).neg_()
            g_rb = torch.mul(g_signed, u, out=scratch2).neg_()
            g_ra = torch.neg(g_signed, out=scratch).sub_(g_rb)
            _scatter_add(g_geometry, start, end, [g_ax, g_ay, g_ra], [g_abx, g_aby, g_rb])
        g_centers_radii = _per_sample(g_geometry, (*radii.shape, 3))
        g_color = None if g_colors is None else _per_sample(g_colors, colors.shape)
        return g_centers_radii[..., :2], g_centers_radii[..., 2], g_color, None, None, None, None


def _pair_chunk(pixels: int, device: torch.device) -> int:
    """Pairs per pass of `_SweptSegment`. On the CPU 64 Ki values per plane (256 KiB in float32), so that a
    pass's dozen intermediates stay in a core's cache: one pass over all pairs of a 512-px canvas (~3 M values
    per plane) made the rasterizer's forward+backward ~1.3× slower (bench/RESULTS.md "Cache-sized passes").
    A GPU takes them all at once."""
    return max(1, (1 << 16) // pixels) if device.type == "cpu" else 1 << 62


def _pair_parts(pairs: int, chunk: int) -> list[slice]:
    """The pairs of each pass of `_SweptSegment`, `chunk` at a time."""
    return [slice(lo, lo + chunk) for lo in range(0, pairs, chunk)]


def _segment_index(first: Tensor, part: slice) -> tuple[Tensor, Tensor, tuple[int, int]]:
    """The flat sample index of each pixel's segment start and end in the pairs `part`, and their (T*T, pairs)."""
    start = first[:, part].flatten()
    return start, start + 1, (first.shape[0], len(start) // first.shape[0])


def _segment_vectors(geometry: Tensor, start: Tensor, end: Tensor, shape: tuple[int, int], px: Tensor,
                     py: Tensor) -> tuple[Tensor, ...]:
    """Per pixel, from its segment's ends in `geometry` (the (x, y, radius) planes): the pixel's offset from the
    segment start (apx, apy), the segment (abx, aby), the start radius ra and the radius change drb; each a new
    (T*T, pairs) tensor, free to be overwritten."""
    (ax, ay, ra), (abx, aby, drb) = (_gather(geometry, i, shape) for i in (start, end))
    abx.sub_(ax), aby.sub_(ay), drb.sub_(ra)
    return torch.sub(px, ax, out=ax), torch.sub(py, ay, out=ay), abx, aby, ra, drb


def _planes(*per_sample: Tensor) -> Tensor:
    """Per-sample values (N, K) or (N, K, C) as planes (ΣC, N·K)."""
    flat = [x.reshape(x.shape[0] * x.shape[1], -1) for x in per_sample]
    return torch.cat(flat, dim=1).T.contiguous()


def _per_sample(planes: Tensor, shape: tuple[int, ...]) -> Tensor:
    """Planes (C, N·K) back as per-sample values (N, K, C): `_planes`' inverse."""
    return planes.T.reshape(shape)


def _gather(planes: Tensor, index: Tensor, shape: tuple[int, int]) -> list[Tensor]:
    """Each plane (N·K) at `index` (T*T·P), shaped `shape` (T*T, P)."""
    return [plane.index_select(0, index).view(shape) for plane in planes]


def _scatter_add(planes: Tensor, start: Tensor, end: Tensor, at_start: list[Tensor], at_end: list[Tensor]) -> None:
    """Add per-pixel values (one (T*T, P) plane per channel) to `planes` (C, N·K) at each pixel's segment
    start and end."""
    for plane, a, b in zip(planes, at_start, at_end, strict=True):
        plane.index_add_(0, start, a.flatten()).index_add_(0, end, b.flatten())


def _segment_ends(centers: Tensor, radii: Tensor, settings: RasterSettings) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Segment i runs from sample i to sample i + 1 (swept); a discrete stamp is a segment of length zero."""
    step = 1 if settings.sweep else 0
    segments = settings.samples - step
    return centers[:, :segments], centers[:, step:], radii[:, :segments], radii[:, step:]


def _arc_fraction(centers: Tensor) -> Tensor:
    """Arc length of each curve sample from its stroke's start over the stroke's length: (N, K, 2) → (N, K)."""
    step = (centers[:, 1:] - centers[:, :-1]).square().sum(-1).add(1e-8).sqrt()
    along = torch.cat([step.new_zeros(len(step), 1), cumulative_sum(step, 1)], dim=1)
    return along / along[:, -1:]


def _stroke_uv(p: Tensor, a: Tensor, b: Tensor, r: Tensor, signed: Tensor, along: Tensor) -> tuple[Tensor, Tensor]:
    """Stroke-space (u, v) of points p nearest to segments a → b at arc fraction `along` and radius r
    there, and their distance from the center line over r (Grease Pencil's soft-edge coordinate)."""
    abx, aby = b[..., 0] - a[..., 0], b[..., 1] - a[..., 1]
    length = torch.sqrt(abx * abx + aby * aby + 1e-8)
    side = ((p[..., 0] - a[..., 0]) * aby - (p[..., 1] - a[..., 1]) * abx) / length  # towards (dy, -dx)
    r = r.clamp(min=1e-3)
    return torch.stack([along, 0.5 + 0.5 * side / r], dim=-1), (signed + r) / r


def _segment_signed_distance(p: Tensor, a: Tensor, b: Tensor, ra: Tensor, rb: Tensor) -> tuple[Tensor, Tensor]:
    """Signed distance from points p to the swept stamp from (a, ra) to (b, rb), and the position u along it.

    p, a, b hold (x, y) in their last dimension, which is split off once: reductions over a
    dimension of size 2 are far slower than elementwise arithmetic on the two components.
    """
    px, py = p.unbind(-1)
    ax, ay = a.unbind(-1)
    abx, aby = b[..., 0] - ax, b[..., 1] - ay
    apx, apy = px - ax, py - ay
    u = ((apx * abx + apy * aby) / (abx * abx + aby * aby + 1e-8)).clamp(0.0, 1.0)
    dx, dy = apx - u * abx, apy - u * aby
    return u, torch.sqrt(dx * dx + dy * dy + 1e-8) - (ra + u * (rb - ra))


def _stamp_signed_distance(p: Tensor, c: Tensor, r: Tensor) -> Tensor:
    """Signed distance from points p to circular stamps (c, r); the (x, y) split as above."""
    dx, dy = p[..., 0] - c[..., 0], p[..., 1] - c[..., 1]
    return torch.sqrt(dx * dx + dy * dy + 1e-8) - r


def _nearest_segments(
    a: Tensor,
    b: Tensor,
    ra: Tensor,
    rb: Tensor,
    entries: SegmentEntries,
    grid: TileGrid,
    sweep: bool = True,
    chunk_elements: int = 1 << 16,  # scratch that stays in a core's cache (see `_pair_chunk`)
) -> tuple[Tensor, Tensor, Tensor]:
    """The (tile, stroke) pairs of `entries`, and per pixel the stroke's nearest segment there.

    a, b (N, S, 2) and ra, rb (N, S) are each stroke's segment ends. Returns tile_index (P,), stroke_index
    (P,) sorted by (tile, stroke), and nearest (P, T*T), the segment index with the smallest signed
    distance. Without `sweep`, a and b are the same stamps and the cheaper stamp distance is used.
    """
    s = a.shape[1]
    local = grid.local_pixel_centers(a)
    origins = grid.tile_origins(a)
    entry_tile, entry_stroke, entry_segment = entries.tile, entries.stroke, entries.segment

    # Entries of one (tile, stroke) pair are consecutive, in segment order: number the pairs, and each entry's
    # rank within its pair (below s).
    new_pair = torch.ones_like(entry_tile, dtype=torch.bool)
    new_pair[1:] = (entry_tile[1:] != entry_tile[:-1]) | (entry_stroke[1:] != entry_stroke[:-1])
    pair = torch.cumsum(new_pair, 0) - 1
    first = torch.nonzero(new_pair).squeeze(1)
    tile_index, stroke_index = entry_tile[first], entry_stroke[first]
    pairs, pixels = len(first), local.shape[0]
    slot = (torch.arange(len(entry_tile), device=a.device) - first[pair]) * pairs + pair

    # Each entry's signed distances go to its slot of `signed` (s, P, T*T), whose unused slots stay +inf: the
    # nearest segment is then a dense reduction over the first dimension (a segmented one by pair costs several
    # times more). Segment ends are read from flat planes (`_planes`: 1-D `index_select`, far faster than indexing
    # (N, S, 2) by two index tensors).
    signed = a.new_full((s * pairs, pixels), float("inf"))
    (start_x, start_y, start_r), (end_x, end_y, end_r) = _planes(a, ra), _planes(b, rb)
    flat = entry_stroke * s + entry_segment
    chunk = max(1, chunk_elements // pixels)
    # Four scratch tensors of one chunk, reused: a fresh tensor per operation would cost more in page faults
    # than the arithmetic. The values are `_segment_signed_distance`'s (`_stamp_signed_distance`'s), bit for bit.
    scratch = signed.new_empty(4, min(chunk, len(entry_tile)), pixels)
    lx, ly = local[:, 0].contiguous(), local[:, 1].contiguous()
    for lo in range(0, len(entry_tile), chunk):
        at = flat[lo : lo + chunk]
        origin = origins.index_select(0, entry_tile[lo : lo + chunk])
        apx, apy, u, tmp = scratch[:, : len(at)]
        ax, ay, r0 = (x.index_select(0, at)[:, None] for x in (start_x, start_y, start_r))
        torch.add(origin[:, :1], lx, out=apx).sub_(ax)
        torch.add(origin[:, 1:], ly, out=apy).sub_(ay)
        if sweep:
            abx, aby = end_x.index_select(0, at)[:, None] - ax, end_y.index_select(0, at)[:, None] - ay
            torch.mul(apx, abx, out=u).add_(torch.mul(apy, aby, out=tmp)).div_(abx * abx + aby * aby + 1e-8)
            u.clamp_(0.0, 1.0)
            apx.sub_(torch.mul(u, abx, out=tmp)), apy.sub_(torch.mul(u, aby, out=tmp))
            u.mul_(end_r.index_select(0, at)[:, None] - r0).add_(r0)
        else:
            u.copy_(r0.expand_as(u))
        apx.mul_(apx).add_(torch.mul(apy, apy, out=tmp)).add_(1e-8).sqrt_()
        signed.index_copy_(0, slot[lo : lo + chunk], apx.sub_(u))

    # The first minimum over the slots (torch's rule on ties) is the lowest segment that attains it.
    rank = signed.view(s, pairs, pixels).min(dim=0).indices
    segment_of_slot = entry_segment.new_zeros(s * pairs).index_copy_(0, slot, entry_segment)
    nearest = segment_of_slot.index_select(0, (rank * pairs + torch.arange(pairs, device=a.device)[:, None]).flatten())
    nearest = nearest.view(pairs, pixels)
    return tile_index, stroke_index, nearest
