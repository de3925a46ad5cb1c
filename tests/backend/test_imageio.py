"""Input images: each kind either works or is refused with a message that says what to do."""

import json
import subprocess
import sys

import numpy as np
import pytest
import skimage.data
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from diffpaint.imageio import ImageInputError, ImageTooLargeError, read_image
from diffpaint_shared import strokefile as sf


def _save(array: np.ndarray, path, mode: str | None = None, **kwargs) -> None:
    Image.fromarray(array, mode).save(path, **kwargs)


def test_rgb_png_and_jpeg_read_as_srgb(tmp_path, painting_path):
    astronaut = skimage.data.astronaut()
    _save(astronaut, tmp_path / "a.png")
    image = read_image(tmp_path / "a.png", 1024)
    assert image.alpha is None and image.notice is None
    assert torch.equal(image.rgb, torch.from_numpy(astronaut.astype(np.float32) / 255))
    painting = read_image(painting_path, 256)
    assert max(painting.rgb.shape[:2]) == 256 and "downscaled from" in painting.notice


def test_grayscale_8_and_16_bit(tmp_path):
    camera = skimage.data.camera()  # 8-bit grayscale photo
    _save(camera, tmp_path / "gray.png")
    gray = read_image(tmp_path / "gray.png", 1024).rgb
    assert gray.shape == (*camera.shape, 3) and torch.equal(gray[..., 0], gray[..., 2])
    # 16-bit: a smooth ramp keeps its 16-bit levels (an 8-bit read would keep at most 256).
    ramp = np.tile(np.linspace(0, 65535, 1000).astype(np.uint16), (20, 1))
    Image.fromarray(ramp).save(tmp_path / "ramp16.png")
    assert Image.open(tmp_path / "ramp16.png").mode.startswith("I;16")
    deep = read_image(tmp_path / "ramp16.png", 1024).rgb
    assert torch.allclose(deep[0, :, 1], torch.from_numpy(ramp[0] / 65535.0).float(), atol=1e-6)
    assert len(torch.unique(deep[..., 0])) == 1000


def _cut_out(photo: np.ndarray) -> np.ndarray:
    """The photo as RGBA, opaque inside a centered ellipse with a soft rim, transparent outside it."""
    h, w = photo.shape[:2]
    y, x = np.mgrid[0:h, 0:w]
    r = np.hypot((x + 0.5 - w / 2) / (0.35 * w), (y + 0.5 - h / 2) / (0.35 * h))
    alpha = np.clip((1.1 - r) / 0.2, 0, 1)
    return np.dstack([photo, np.round(255 * alpha).astype(np.uint8)])


def test_alpha_is_kept_and_transparent_areas_become_bare_canvas(tmp_path):
    cut = _cut_out(skimage.data.chelsea())
    _save(cut, tmp_path / "cut.png")
    image = read_image(tmp_path / "cut.png", 1024)
    alpha = torch.from_numpy(cut[..., 3] / 255.0).float()
    assert torch.allclose(image.alpha, alpha)
    clear = alpha == 0
    assert torch.all(image.rgb[clear] == 1.0)  # flattened onto white
    canvas = (0.2, 0.4, 0.6)
    assert torch.allclose(image.over(canvas)[clear], torch.tensor(canvas))
    opaque = alpha == 1
    assert torch.allclose(image.over(canvas)[opaque], torch.from_numpy(cut[..., :3] / 255.0).float()[opaque])
    visible = torch.from_numpy(cut[..., :3] / 255.0).float()[opaque].mean(0)
    assert torch.allclose(torch.tensor(image.mean_color()), visible, atol=0.03)
    # A palette image with a transparent color too.
    Image.fromarray(cut).convert("RGBA").quantize(64).save(tmp_path / "cut-p.png", transparency=0)
    assert read_image(tmp_path / "cut-p.png", 1024).alpha is not None
    # Fully opaque alpha is no alpha.
    opaque_rgba = skimage.data.astronaut()[:64, :64]
    _save(np.dstack([opaque_rgba, np.full((64, 64), 255, np.uint8)]), tmp_path / "opaque.png")
    assert read_image(tmp_path / "opaque.png", 1024).alpha is None


def test_very_wide_and_tall_images_work_until_their_short_side_would_vanish(tmp_path):
    strip = np.repeat(skimage.data.astronaut()[:40], 8, axis=1)  # 4096 × 40
    _save(strip, tmp_path / "wide.png")
    image = read_image(tmp_path / "wide.png", 1024)
    assert tuple(image.rgb.shape[:2]) == (10, 1024)
    _save(strip.transpose(1, 0, 2).copy(), tmp_path / "tall.png")
    assert tuple(read_image(tmp_path / "tall.png", 1024).rgb.shape[:2]) == (1024, 10)
    with pytest.raises(ImageInputError, match="short side would be 2 px, under 8; crop it"):
        read_image(tmp_path / "wide.png", 256)


def test_tiny_works_too_tiny_is_refused(tmp_path):
    _save(skimage.data.astronaut()[::16, ::16], tmp_path / "tiny.png")  # 32 × 32
    assert tuple(read_image(tmp_path / "tiny.png", 256).rgb.shape) == (32, 32, 3)
    _save(skimage.data.astronaut()[:4, :40], tmp_path / "sliver.png")
    with pytest.raises(ImageInputError, match="is 40×4 px; DiffPaint needs at least 8 px a side"):
        read_image(tmp_path / "sliver.png", 256)


def test_large_image_is_downscaled_with_a_notice_or_refused_over_a_pixel_limit(tmp_path):
    big = Image.fromarray(skimage.data.astronaut()).resize((4000, 4000), Image.Resampling.BICUBIC)
    big.save(tmp_path / "big.jpg", quality=90)
    image = read_image(tmp_path / "big.jpg", 1024)
    assert tuple(image.rgb.shape) == (1024, 1024, 3)
    assert image.notice == "big.jpg: working at 1024×1024 px (downscaled from 4000×4000)"
    small = torch.from_numpy(np.asarray(big.resize((1024, 1024), Image.Resampling.LANCZOS), np.float32) / 255)
    assert (image.rgb - small).abs().mean() < 0.01
    with pytest.raises(ImageTooLargeError, match="4000×4000 px .16 MP.; the limit here is at most 10 MP"):
        read_image(tmp_path / "big.jpg", 1024, max_pixels=10_000_000)


def test_exif_orientation_is_honored(tmp_path):
    photo = Image.fromarray(skimage.data.astronaut()[:100, :60])
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90° clockwise to display"
    photo.save(tmp_path / "rotated.jpg", exif=exif)
    assert tuple(read_image(tmp_path / "rotated.jpg", 1024).rgb.shape[:2]) == (60, 100)


@pytest.mark.parametrize(
    ("write", "message"),
    [
        (lambda p: p.write_bytes(b"just text, no pixels"), "not an image format DiffPaint can read; send a PNG"),
        (lambda p: p.write_bytes(b""), "not an image format"),
        (lambda p: Image.fromarray(skimage.data.camera().astype(np.float32)).save(p), "floating-point images"),
        (lambda p: p.write_bytes(_png_bytes()[:300]), "could not be decoded .* truncated or corrupt"),
    ],
)
def test_unusable_files_are_refused_clearly(tmp_path, write, message):
    path = tmp_path / ("x.tif" if "floating" in message else "x.png")
    write(path)
    with pytest.raises(ImageInputError, match=message):
        read_image(path, 256)
    with pytest.raises(ImageInputError, match="image not found"):
        read_image(tmp_path / "missing.png", 256)


def _png_bytes() -> bytes:
    import io

    buf = io.BytesIO()
    Image.fromarray(skimage.data.astronaut()).save(buf, "PNG")
    return buf.getvalue()


def test_reconstruct_leaves_transparent_areas_unpainted_and_tiny_images_work(tmp_path):
    cat = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((32, 24), Image.Resampling.LANCZOS))
    _save(_cut_out(cat), tmp_path / "tiny.png")  # 32 × 24 px, transparent around the cat
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "diffpaint", "reconstruct", tmp_path / "tiny.png", "--out", out,
                           "--strokes", "24", "--levels", "2", "--iterations", "30", "--gif-frames", "4",
                           "--progress-json"], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    doc = sf.load(out / "strokes.json")
    assert (doc.canvas.width, doc.canvas.height) == (32, 24)
    render = read_image(out / "render.png", 1024).rgb
    alpha = read_image(tmp_path / "tiny.png", 64).alpha
    clear = alpha < 0.02
    # The optimizer's mask keeps strokes off them (without it about 1 % of such pixels were painted over).
    bare = (render[clear] - torch.tensor(doc.canvas.background)).abs().amax(-1) < 2 / 255
    print(json.dumps({"clear_pixels": int(clear.sum()), "bare_fraction": float(bare.float().mean())}))
    assert float(bare.float().mean()) > 0.99


@pytest.mark.parametrize("fmt", ["GIF", "BMP", "DDS", "ICO", "TGA"])
def test_only_the_listed_formats_are_read(tmp_path, fmt):
    """PNG, JPEG, TIFF and WebP only: every other decoder Pillow has is attack surface (a corrupt
    DDS raised NotImplementedError; EPS would run Ghostscript)."""
    path = tmp_path / f"x.{fmt.lower()}"
    Image.fromarray(skimage.data.astronaut()[:64, :64]).save(path, fmt)
    with pytest.raises(ImageInputError, match="not an image format DiffPaint can read; send a PNG, JPEG, TIFF or WebP"):
        read_image(path, 256)


@pytest.mark.parametrize(("mode", "suffix"), [("RGB", "png"), ("RGB", "jpg"), ("I;16", "png"), ("1", "png")])
def test_a_huge_image_is_reduced_on_its_integer_pixels_first_and_looks_the_same(tmp_path, mode, suffix):
    """Above REDUCE_ABOVE_SIDE the image is box-reduced before the float copy; the result matches
    a full-size float resize closely (at least two source pixels per output pixel remain)."""
    from diffpaint.imageio import REDUCE_ABOVE_SIDE, _to_float, resize

    base = Image.fromarray(skimage.data.astronaut()).resize((4 * REDUCE_ABOVE_SIDE + 100, 3 * REDUCE_ABOVE_SIDE))
    if mode == "I;16":
        base = Image.fromarray(np.asarray(base.convert("L"), dtype=np.uint16) * 257)
    elif mode == "1":
        base = base.convert("1")
    base.save(tmp_path / f"big.{suffix}")
    image = read_image(tmp_path / f"big.{suffix}", 256)
    with Image.open(tmp_path / f"big.{suffix}") as im:
        full, _ = _to_float(im)
    direct = resize(full, *image.rgb.shape[1::-1])
    assert image.rgb.shape == direct.shape and max(image.rgb.shape[:2]) == 256
    mse = float(((image.rgb - direct) ** 2).mean())
    assert 10 * np.log10(1 / mse) > (30 if suffix == "jpg" else 38)  # JPEG's scaled decode differs a little more


def _real_files() -> list[bytes]:
    """Small real images in every format and kind read_image takes."""
    import io

    crop = Image.fromarray(skimage.data.astronaut()[100:164, 150:214])
    deep = Image.fromarray(np.asarray(crop.convert("L"), dtype=np.uint16) * 257)
    out = []
    for fmt, im in (("PNG", crop), ("PNG", crop.convert("RGBA")), ("PNG", deep), ("PNG", crop.convert("P")),
                    ("JPEG", crop), ("TIFF", crop), ("WEBP", crop)):
        buf = io.BytesIO()
        im.save(buf, fmt)
        out.append(buf.getvalue())
    return out


REAL_FILES = _real_files()


@settings(derandomize=True, max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_fuzzed_real_files_either_read_or_raise_image_input_error(tmp_path_factory, data):
    """Mutated PNG, JPEG, TIFF and WebP files (bytes replaced, inserted, cut off): read_image either
    reads them or says why not with ImageInputError, never any other exception."""
    original = data.draw(st.sampled_from(REAL_FILES))
    blob = bytearray(original)
    for _ in range(data.draw(st.integers(1, 6))):
        where = data.draw(st.integers(0, len(blob) - 1))
        kind = data.draw(st.sampled_from(["replace", "insert", "cut"]))
        value = data.draw(st.binary(min_size=1, max_size=8))
        if kind == "replace":
            blob[where:where + len(value)] = value
        elif kind == "insert":
            blob[where:where] = value
        else:
            del blob[where:]
            if not blob:
                break
    path = tmp_path_factory.mktemp("fuzz") / "x"
    path.write_bytes(bytes(blob))
    try:
        image = read_image(path, 32, max_pixels=4_000_000)
    except ImageInputError:
        return
    assert image.rgb.shape[2] == 3 and max(image.rgb.shape[:2]) <= 32
