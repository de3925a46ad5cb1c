"""Square screen tiles: the unit of spatial culling for the parallel renderer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor


@dataclass(frozen=True)
class TileGrid:
    height: int
    width: int
    tile: int = 16

    @property
    def rows(self) -> int:
        return -(-self.height // self.tile)

    @property
    def cols(self) -> int:
        return -(-self.width // self.tile)

    @property
    def count(self) -> int:
        return self.rows * self.cols

    def tile_origins(self, like: Tensor) -> Tensor:
        """Top-left pixel corner (x, y) of every tile, row-major, shape (count, 2), dtype of `like`."""
        ty, tx = torch.meshgrid(
            torch.arange(self.rows, device=like.device), torch.arange(self.cols, device=like.device), indexing="ij"
        )
        return torch.stack([tx.flatten(), ty.flatten()], dim=1).to(like.dtype) * self.tile

    def local_pixel_centers(self, like: Tensor) -> Tensor:
        """Pixel centers (x, y) inside one tile relative to its corner, shape (tile*tile, 2)."""
        r = torch.arange(self.tile, device=like.device, dtype=like.dtype) + 0.5
        y, x = torch.meshgrid(r, r, indexing="ij")
        return torch.stack([x.flatten(), y.flatten()], dim=1)

    def to_tiles(self, image: Tensor) -> Tensor:
        """(H, W, C) image → (count, tile*tile, C), zero-padded at the right and bottom edges."""
        t, c = self.tile, image.shape[-1]
        pad = (0, 0, 0, self.cols * t - self.width, 0, self.rows * t - self.height)
        padded = torch.nn.functional.pad(image, pad)
        return padded.view(self.rows, t, self.cols, t, c).permute(0, 2, 1, 3, 4).reshape(self.count, t * t, c)

    def from_tiles(self, tiles: Tensor) -> Tensor:
        """Inverse of to_tiles: (count, tile*tile, C) → (H, W, C)."""
        t, c = self.tile, tiles.shape[-1]
        image = tiles.view(self.rows, self.cols, t, t, c).permute(0, 2, 1, 3, 4)
        return image.reshape(self.rows * t, self.cols * t, c)[: self.height, : self.width]


@dataclass(frozen=True)
class TileGroup:
    """Consecutive tiles [first_tile, end_tile) and their entries [first_entry, end_entry) in a list sorted by tile."""

    first_tile: int
    end_tile: int
    first_entry: int
    end_entry: int


def group_tiles(entry_tile: Tensor, tile_count: int, max_entries: int) -> list[TileGroup]:
    """Split a canvas's tiles into runs of consecutive tiles holding about `max_entries` of the entries
    (`entry_tile`, sorted) each, never splitting a tile. One group, without reading the entries, when they
    all fit; otherwise one host read for the cuts."""
    total = len(entry_tile)
    count = -(-total // max(1, max_entries))
    if count <= 1:
        return [TileGroup(0, tile_count, 0, total)]
    cut_tile = entry_tile[torch.arange(1, count, device=entry_tile.device) * total // count]
    cut_entry = torch.searchsorted(entry_tile, cut_tile)  # where the cut's tile starts
    cut_tiles, cut_entries = torch.stack([cut_tile, cut_entry]).tolist()
    tiles, entries = [0, *cut_tiles, tile_count], [0, *cut_entries, total]
    return [TileGroup(tiles[k], tiles[k + 1], entries[k], entries[k + 1])
            for k in range(count) if tiles[k] < tiles[k + 1]]
