"""Media per step: ``loopml.Image``, ``loopml.Histogram``, ``loopml.Table``.

``run.log({"samples": loopml.Image(array, caption="epoch 3")})`` stores the media as artifact
files of the run, ``media/<key>/step-<step>.<kind>.json`` (and ``.png`` for an image); the
journal records only the artifact reference (its ordinary ``a`` record), so it stays small and
``log()`` of numbers stays as fast as before. Every check runs when the object is made, so bad
input never reaches the store.
"""

from __future__ import annotations

import json
import re
import struct
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import InvalidValueTypeError, ValidationError

if TYPE_CHECKING:
    from loopml.store import Store

__all__ = ["Histogram", "Image", "Media", "MediaItem", "Table", "read_media"]

MEDIA_PREFIX = "media/"
MAX_TABLE_ROWS = 10_000
MAX_TABLE_COLUMNS = 200
MAX_BINS = 512
_FILE = re.compile(r"step-(\d{8,20})\.(image|histogram|table)\.json")


class Media:
    """A value for ``run.log`` that is stored as a file, not a number."""

    kind = "media"
    caption: str | None = None

    def files(self, step: int) -> dict[str, bytes]:
        """The files to store for this value at ``step``: name -> content."""
        raise NotImplementedError

    def _meta(self, step: int) -> dict[str, Any]:
        return {"kind": self.kind, "step": step, "caption": self.caption}


def _check_caption(caption: object) -> str | None:
    if caption is None:
        return None
    if not isinstance(caption, str) or len(caption) > 1000:
        raise ValidationError(f"caption must be text of at most 1,000 characters, not {caption!r}")
    return caption


class Image(Media):
    """An image: a NumPy array (H x W grey, H x W x 1/3/4 channels), a PIL image, or a PNG path.

    Arrays of ``uint8`` are taken as 0-255; float arrays must hold values in [0, 1].
    """

    kind = "image"

    def __init__(self, data: Any, caption: str | None = None) -> None:
        self.caption = _check_caption(caption)
        if isinstance(data, (str, Path)):
            self.png = _read_png(Path(data))
            return
        if type(data).__module__.startswith("PIL."):
            import numpy as np

            data = np.asarray(
                data.convert("RGBA") if data.mode not in ("L", "RGB", "RGBA") else data
            )
        self.png = _encode_png(_as_pixels(data))

    @classmethod
    def from_encoded(cls, data: bytes, caption: str | None = None) -> Image:
        """An image from encoded bytes: PNG as is; another format (JPEG, GIF, ...) is decoded
        with Pillow when it is installed."""
        self = cls.__new__(cls)
        self.caption = _check_caption(caption)
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            self.png = data
            return self
        try:
            import io

            from PIL import Image as PILImage

            with PILImage.open(io.BytesIO(data)) as img:
                img.load()
                pixels = img.convert("RGBA" if "A" in img.getbands() else "RGB")
        except ImportError:
            raise ValidationError(
                "this image is not a PNG; decoding other formats needs Pillow: pip install pillow"
            ) from None
        except Exception as exc:  # Pillow raises many kinds for undecodable bytes
            raise ValidationError(f"the image bytes cannot be decoded ({exc})") from None
        import numpy as np

        self.png = _encode_png(_as_pixels(np.asarray(pixels)))
        return self

    def files(self, step: int) -> dict[str, bytes]:
        """The PNG and its description."""
        name = f"step-{step:08d}.image"
        meta = {**self._meta(step), "file": f"{name}.png"}
        return {f"{name}.png": self.png, f"{name}.json": json.dumps(meta).encode()}


def _read_png(path: Path) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValidationError(f"Image({str(path)!r}): the file cannot be read ({exc})") from None
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        raise ValidationError(
            f"Image({str(path)!r}) is not a PNG file; pass a PNG path or the pixels as an array"
        )
    return data


def _as_pixels(data: Any) -> Any:
    import numpy as np

    if not hasattr(data, "shape") and not isinstance(data, (list, tuple)):
        raise InvalidValueTypeError(
            f"Image() takes a NumPy array, a PIL image or a PNG path, not {type(data).__name__}"
        )
    arr = np.asarray(data)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ValidationError(
            f"Image() got an array of shape {arr.shape}; use H x W (grey) or H x W x 3 (RGB) "
            "or H x W x 4 (RGBA); move a channels-first array with array.transpose(1, 2, 0)"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1 or arr.shape[0] * arr.shape[1] > 4096 * 4096:
        raise ValidationError(f"Image() size {arr.shape[:2]} must be 1x1 to 4096x4096 pixels")
    if arr.dtype == np.uint8:
        return arr
    if arr.dtype.kind == "f":
        if not np.isfinite(arr).all() or arr.min() < 0 or arr.max() > 1:
            raise ValidationError(
                "Image() got a float array with values outside [0, 1] (or NaN); scale it to "
                "[0, 1] or pass uint8 values 0-255"
            )
        return (arr * 255 + 0.5).astype(np.uint8)
    if arr.dtype.kind in "iub" and arr.size and arr.min() >= 0 and arr.max() <= 255:
        return arr.astype(np.uint8)
    raise ValidationError(
        f"Image() got dtype {arr.dtype}; use uint8 (0-255) or float (0-1) pixel values"
    )


def _encode_png(pixels: Any) -> bytes:
    # A plain PNG writer (zlib + CRC chunks): no imaging library needed for logging images.
    import numpy as np

    height, width = pixels.shape[:2]
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    color = {1: 0, 3: 2, 4: 6}[channels]  # PNG colour types: grey, RGB, RGBA
    rows = pixels.reshape(height, -1)
    raw = np.concatenate([np.zeros((height, 1), np.uint8), rows], axis=1).tobytes()

    def chunk(tag: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + tag + body + struct.pack(">I", zlib.crc32(tag + body))

    header = struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 6))
        + chunk(b"IEND", b"")
    )


class Histogram(Media):
    """The distribution of ``values`` (any array-like of numbers) in ``bins`` equal bins.

    Non-finite values are left out and counted (``dropped``); all of them non-finite is an error.
    """

    kind = "histogram"

    def __init__(self, values: Any, bins: int = 64, caption: str | None = None) -> None:
        import numpy as np

        self.caption = _check_caption(caption)
        if isinstance(bins, bool) or not isinstance(bins, int) or not 1 <= bins <= MAX_BINS:
            raise ValidationError(
                f"Histogram bins must be an integer from 1 to {MAX_BINS}, not {bins!r}"
            )
        try:
            arr = np.asarray(values, dtype=float).ravel()
        except (TypeError, ValueError):
            raise InvalidValueTypeError(
                f"Histogram() takes numbers (a list or array), not {type(values).__name__}"
            ) from None
        finite = arr[np.isfinite(arr)]
        if finite.size == 0:
            raise ValidationError(
                f"Histogram() got {arr.size} values and none is a finite number (all NaN or "
                "infinite, or empty); there is nothing to count"
            )
        counts, edges = np.histogram(finite, bins=bins)
        self.counts = [int(c) for c in counts]
        self.edges = [float(e) for e in edges]
        self.dropped = int(arr.size - finite.size)

    @classmethod
    def from_counts(cls, edges: Any, counts: Any, caption: str | None = None) -> Histogram:
        """A histogram already counted elsewhere (e.g. TensorBoard's buckets): ``len(edges)``
        must be ``len(counts) + 1``, edges finite and non-decreasing, counts >= 0."""
        import numpy as np

        try:
            e = np.asarray(edges, dtype=float).ravel()
            c = np.asarray(counts, dtype=float).ravel()
        except (TypeError, ValueError):
            raise InvalidValueTypeError("Histogram.from_counts() takes numbers") from None
        if not 1 <= c.size <= MAX_BINS or e.size != c.size + 1:
            raise ValidationError(
                f"Histogram.from_counts() needs 1 to {MAX_BINS} counts and one edge more than "
                f"counts; got {e.size} edges and {c.size} counts"
            )
        if not (np.isfinite(e).all() and np.isfinite(c).all()) or (np.diff(e) < 0).any():
            raise ValidationError("Histogram.from_counts() needs finite, non-decreasing edges")
        if (c < 0).any():
            raise ValidationError("Histogram.from_counts() got a negative count")
        self = cls.__new__(cls)
        self.caption = _check_caption(caption)
        self.counts = [int(v + 0.5) for v in c]  # counts are >= 0
        self.edges = [float(v) for v in e]
        self.dropped = 0
        return self

    def files(self, step: int) -> dict[str, bytes]:
        """One JSON file with the bin edges and counts."""
        meta = {
            **self._meta(step),
            "edges": self.edges,
            "counts": self.counts,
            "dropped": self.dropped,
        }
        return {f"step-{step:08d}.histogram.json": json.dumps(meta).encode()}


class Table(Media):
    """A pandas DataFrame, up to 10,000 rows and 200 columns, shown sortable on the run page."""

    kind = "table"

    def __init__(self, data: Any, caption: str | None = None) -> None:
        self.caption = _check_caption(caption)
        if type(data).__name__ != "DataFrame" or not hasattr(data, "to_json"):
            raise InvalidValueTypeError(
                f"Table() takes a pandas DataFrame, not {type(data).__name__}; "
                "make one with pandas.DataFrame(rows)"
            )
        rows, cols = data.shape
        if rows > MAX_TABLE_ROWS or cols > MAX_TABLE_COLUMNS:
            raise ValidationError(
                f"Table() of {rows:,} rows x {cols} columns is over the limit of "
                f"{MAX_TABLE_ROWS:,} x {MAX_TABLE_COLUMNS}; log a sample (frame.sample(1000)) "
                "or store the whole frame as a Parquet artifact"
            )
        self.columns = [str(c) for c in data.columns]
        self.rows = json.loads(
            data.to_json(orient="values", date_format="iso", default_handler=str)
        )

    def files(self, step: int) -> dict[str, bytes]:
        """One JSON file with the columns and rows."""
        meta = {**self._meta(step), "columns": self.columns, "rows": self.rows}
        return {f"step-{step:08d}.table.json": json.dumps(meta, allow_nan=False).encode()}


@dataclass(frozen=True)
class MediaItem:
    """One logged media value as stored: its key, step, kind and what to show."""

    key: str
    step: int
    kind: str
    caption: str | None
    data: dict[str, Any]


def read_media(store: Store, run_id: str, per_key: int = 200) -> dict[str, list[MediaItem]]:
    """A run's media by key, in step order (the last ``per_key`` steps of each key)."""
    by_key: dict[str, list[tuple[int, str]]] = {}
    for art in store.runs.list_artifacts(run_id):
        if not art.name.startswith(MEDIA_PREFIX):
            continue
        key, _, file = art.name[len(MEDIA_PREFIX) :].rpartition("/")
        match = _FILE.fullmatch(file)
        if key and match:
            by_key.setdefault(key, []).append((int(match.group(1)), art.name))
    out: dict[str, list[MediaItem]] = {}
    for key, entries in by_key.items():
        items = []
        for step, name in sorted(entries)[-per_key:]:
            try:
                meta = json.loads(store.runs.artifact_file(run_id, name).read_text())
            except (OSError, ValueError):
                continue  # a file being written or damaged: show the rest
            if meta.get("kind") == "image":
                meta["file"] = name.rsplit("/", 1)[0] + "/" + str(meta.get("file", ""))
            items.append(MediaItem(key, step, str(meta.get("kind")), meta.get("caption"), meta))
        out[key] = items
    return out
