"""Media per step: images, histograms and tables stored as artifacts, bad input refused."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import loopml
from loopml.tracking import default_session, read_media


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_media_are_artifacts_and_numbers_keep_their_steps(tmp_path: Path) -> None:
    run = loopml.init(project="media", system_metrics=False)
    rng = np.random.default_rng(0)
    for step in range(3):
        run.log(
            {
                "loss": 1.0 / (step + 1),
                "samples": loopml.Image(
                    rng.integers(0, 255, (8, 6, 3), dtype=np.uint8), caption=f"s{step}"
                ),
                "weights": loopml.Histogram(rng.normal(size=500) + step, bins=20),
            }
        )
    run.log({"preds": loopml.Table(pd.DataFrame({"y": [1, 0], "p": [0.9, 0.2], "id": ["a", "b"]}))})
    run.log({"loss": 0.1})
    run.finish()
    rec = loopml.get_run(run.id)
    assert rec.metrics["loss"].count == 4 and rec.metrics["loss"].last_step == 4
    assert list(rec.metrics) == ["loss"]  # media are not metric series
    media = read_media(default_session().store, run.id)
    assert sorted(media) == ["preds", "samples", "weights"]
    images = media["samples"]
    assert [m.step for m in images] == [0, 1, 2] and images[2].caption == "s2"
    png = default_session().store.runs.artifact_file(run.id, images[0].data["file"]).read_bytes()
    assert _png_size(png) == (6, 8)
    hist = media["weights"][1]
    assert (
        hist.kind == "histogram"
        and sum(hist.data["counts"]) == 500
        and len(hist.data["edges"]) == 21
    )
    table = media["preds"][0]
    assert table.step == 3 and table.data["columns"] == ["y", "p", "id"]
    assert table.data["rows"][0] == [1, 0.9, "a"]


@pytest.mark.parametrize(("channels", "color_type"), [(0, 0), (3, 2), (4, 6)])
def test_png_pixels_round_trip(channels: int, color_type: int) -> None:
    shape = (3, 4, channels) if channels else (3, 4)
    pixels = np.arange(int(np.prod(shape)), dtype=np.uint8).reshape(shape)
    png = loopml.Image(pixels).png
    assert png[25] == color_type and png[24] == 8  # IHDR: bit depth 8, the right colour type
    row = 4 * max(channels, 1)
    # Walk the chunks and inflate the image data: one filter byte (0) then the row.
    pos, idat = 8, b""
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        tag = png[pos + 4 : pos + 8]
        if tag == b"IDAT":
            idat += png[pos + 8 : pos + 8 + length]
        pos += 12 + length
    raw = zlib.decompress(idat)
    rows = [raw[i * (row + 1) + 1 : (i + 1) * (row + 1)] for i in range(3)]
    assert b"".join(rows) == pixels.tobytes()


def test_image_from_floats_pil_and_path(tmp_path: Path) -> None:
    img = loopml.Image(np.full((2, 2, 1), 0.5))
    assert _png_size(img.png) == (2, 2)
    path = tmp_path / "x.png"
    path.write_bytes(img.png)
    assert loopml.Image(path).png == img.png
    PIL = pytest.importorskip("PIL.Image")
    assert _png_size(loopml.Image(PIL.new("RGB", (5, 3))).png) == (5, 3)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (np.zeros(10), "shape"),
        (np.zeros((2, 2, 2)), "shape"),
        (np.zeros((2, 2, 3, 1)), "shape"),
        (np.full((2, 2), 2.0), "outside"),
        (np.full((2, 2), np.nan), "outside"),
        (np.full((2, 2), 300), "dtype"),
        (np.zeros((2, 2), dtype=complex), "dtype"),
        ("missing.png", "cannot be read"),
        ({"a": 1}, "takes a NumPy array"),
    ],
)
def test_bad_images(data: object, message: str) -> None:
    with pytest.raises(loopml.LoopmlError, match=message):
        loopml.Image(data)


def test_not_a_png_path(tmp_path: Path) -> None:
    path = tmp_path / "x.txt"
    path.write_text("hello")
    with pytest.raises(loopml.ValidationError, match="not a PNG"):
        loopml.Image(path)


def test_bad_histograms() -> None:
    with pytest.raises(loopml.ValidationError, match="none is a finite number"):
        loopml.Histogram([float("nan")] * 5)
    with pytest.raises(loopml.ValidationError, match="none is a finite number"):
        loopml.Histogram([])
    with pytest.raises(loopml.InvalidValueTypeError, match="takes numbers"):
        loopml.Histogram(["a", "b"])
    with pytest.raises(loopml.ValidationError, match="bins"):
        loopml.Histogram([1, 2], bins=0)
    h = loopml.Histogram([1.0, float("nan"), 2.0, float("inf")])
    assert h.dropped == 2 and sum(h.counts) == 2


def test_bad_tables() -> None:
    with pytest.raises(loopml.InvalidValueTypeError, match="pandas DataFrame"):
        loopml.Table([{"a": 1}])
    with pytest.raises(loopml.ValidationError, match="over the limit"):
        loopml.Table(pd.DataFrame({"a": range(10_001)}))
    with pytest.raises(loopml.ValidationError, match="caption"):
        loopml.Table(pd.DataFrame({"a": [1]}), caption=3)  # type: ignore[arg-type]


def test_a_bad_number_beside_media_stores_nothing() -> None:
    run = loopml.init(project="media", system_metrics=False)
    with pytest.raises(loopml.InvalidValueTypeError):
        run.log({"img": loopml.Image(np.zeros((2, 2), np.uint8)), "loss": "high"})
    run.finish()
    assert read_media(default_session().store, run.id) == {}
    assert loopml.get_run(run.id).metrics == {}
