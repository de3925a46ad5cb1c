"""A style reference over real HTTP: the add-on's client sends it as a file beside the image, the server
checks it like the image and keeps it in the job folder, bad files get 422 naming the reference and
leave no job behind, and the real worker paints in its brushwork."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from server_helpers import Server, png_bytes, running_server, wait_for, write_png

from diffpaint_addon.client import BackendError, Client

SMALL = {"strokes": 6, "levels": 1, "size": 32, "iterations": 2, "rounds": 1}


@pytest.fixture(scope="module")
def server() -> Iterator[Server]:
    with running_server("--max-queued", "4") as s:
        yield s


def finished(client: Client, job_id: str) -> dict:
    return wait_for(lambda: (s := client.job(job_id))["state"] in ("done", "failed", "cancelled") and s, timeout=120)


def test_the_reference_is_stored_beside_the_image_as_checked(server: Server, tmp_path: Path) -> None:
    reference = tmp_path / "brushwork.png"
    reference.write_bytes(png_bytes(120, 90, (20, 120, 40)))
    job = server.client().submit(str(write_png(tmp_path / "photo.png")),
                                 {**SMALL, "style": "oil", "style_reference": str(reference)})
    stored = Path(job["settings"]["style_reference"])
    assert stored.name == "style_reference.png" and stored.parent.name == job["id"]
    from PIL import Image

    with Image.open(stored) as im:
        assert im.size == (32, 24)  # downscaled to the job's size, as the image is
    assert finished(server.client(), job["id"])["state"] == "done"
    plain = server.client().submit(str(write_png(tmp_path / "plain.png")), {**SMALL, "style_reference": ""})
    assert plain["settings"]["style_reference"] == ""
    assert finished(server.client(), plain["id"])["state"] == "done"


@pytest.mark.parametrize(
    ("data", "settings", "message"),
    [
        (b"not pixels at all\n" * 10, {"style": "oil"}, "style reference notes.txt is not an image format"),
        (png_bytes(40, 30)[:60], {"style": "ink"}, "style reference notes.txt could not be decoded"),
        (b"", {"style": "oil"}, "notes.txt is empty; send an image file .* as the style reference"),
        (png_bytes(), {"style": "digital"}, "a style reference needs a painting medium"),
    ],
)
def test_a_bad_reference_gets_422_naming_it_and_leaves_no_job(server: Server, tmp_path: Path, data: bytes,
                                                              settings: dict, message: str) -> None:
    import re

    reference = tmp_path / "notes.txt"
    reference.write_bytes(data)
    before = {j["id"] for j in json.loads(server.client().request("GET", "/jobs")[2])}
    with pytest.raises(BackendError) as e:
        server.client().submit(str(write_png(tmp_path / "photo.png")),
                               {**SMALL, **settings, "style_reference": str(reference)})
    assert e.value.status == 422 and re.search(message, str(e.value)), str(e.value)
    assert {j["id"] for j in json.loads(server.client().request("GET", "/jobs")[2])} == before


def test_a_missing_reference_is_refused_by_the_client_before_anything_is_sent(server: Server, tmp_path: Path) -> None:
    with pytest.raises(BackendError, match="cannot read the style reference .*missing.png"):
        server.client().submit(str(write_png(tmp_path / "photo.png")),
                               {**SMALL, "style": "oil", "style_reference": str(tmp_path / "missing.png")})


def test_the_real_worker_paints_in_the_reference_brushwork(tmp_path: Path) -> None:
    from diffpaint import samples

    reference = samples.painting(436535).path  # Van Gogh, Wheat Field with Cypresses (oil)
    with running_server(fake_worker=False) as real:
        job = real.client().submit(str(write_png(tmp_path / "photo.png")),
                                   {**SMALL, "style": "auto", "style_reference": str(reference)})
        done = finished(real.client(), job["id"])
        assert done["state"] == "done", done
        from diffpaint_shared import strokefile

        doc = strokefile.load(Path(job["settings"]["style_reference"]).parent / "strokes.json")
        assert doc.textures and all(s.texture for s in doc.strokes if s.kind == "paint")
