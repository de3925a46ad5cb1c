"""The sequence manifest (diffpaint_shared.sequence): round trip, and refusal of what a reader must not trust."""

import json

import pytest

from diffpaint_shared import sequence
from diffpaint_shared.sequence import Frame, Sequence, SequenceFileError


def _sequence() -> Sequence:
    frames = (Frame(0, "chunk-0000/frame-00000.json", (0, 1, 2), source="a.png", render="chunk-0000/frame-00000.png",
                    psnr=24.5, seconds=3.0),
              Frame(1, "chunk-0000/frame-00001.json", (0, 2, 3), warm=True, psnr=24.9))
    return Sequence(64, 48, 12.0, frames, {"source": "shots"})


def test_round_trip_and_carried_over(tmp_path):
    path = tmp_path / sequence.MANIFEST_NAME
    sequence.save(_sequence(), path)
    loaded = sequence.load(path)
    assert loaded == _sequence()
    assert loaded.carried_over(0) == 0 and loaded.carried_over(1) == 2
    assert sequence.resolve(path, loaded.frames[1].strokes) == tmp_path / "chunk-0000" / "frame-00001.json"
    assert [p.name for p in tmp_path.iterdir()] == [sequence.MANIFEST_NAME]  # no temporary file left


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(version=2), "version 2"),
    (lambda d: d.update(format="diffpaint-strokes"), "not a DiffPaint sequence"),
    (lambda d: d["frames"][0].update(strokes="../elsewhere.json"), "inside the manifest's folder"),
    (lambda d: d["frames"][0].update(strokes="/etc/passwd"), "inside the manifest's folder"),
    (lambda d: d["frames"][1].update(index=5), "in order from 0"),
    (lambda d: d["frames"][0].update(stroke_ids=[1, 1]), "appears twice"),
    (lambda d: d["frames"][0].update(stroke_ids=[-1]), "integer ≥ 0"),
    (lambda d: d.update(fps=0), "fps must be positive"),
    (lambda d: d["canvas"].update(width="64"), "canvas.width"),
])
def test_refuses_bad_manifests_with_a_clear_error(tmp_path, edit, message):
    raw = sequence.to_dict(_sequence())
    edit(raw)
    path = tmp_path / "sequence.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(SequenceFileError, match=message):
        sequence.load(path)
