"""The journal's record format: every record writer beside the parser that reads it back.

A journal is newline-terminated text records that never contain a NUL byte (see
``_journal.py`` for why). The first byte says the kind:

- ``m`` metrics: ``m<step>\\t<unix time in µs>\\t<key>\\t<value>...`` (values as ``repr(float)``);
- ``p`` params: JSON ``{key: [text, number or null]}`` (the stored form, ``loopml._values``);
- ``t`` tags: JSON ``{key: text}``;
- ``a`` artifacts: JSON list of ``{name, size, sha256, created_at}``;
- ``r`` the run itself (project, name, created_at, attributes, first params and tags), for a run
  whose row is written with the journal's first ingest.

A new kind of record is added here, writer and parser together, and nowhere else.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from loopml._errors import JournalFormatError
from loopml.store import Batch

if TYPE_CHECKING:
    from loopml.store import PackedPoints

__all__ = [
    "artifacts_record",
    "metrics_record",
    "params_record",
    "parse_records",
    "parse_records_packed",
    "run_record",
    "tags_record",
]


def metrics_record(step: int, time_us: int, fields: str) -> bytes:
    """A metrics record; ``fields`` is ``"\\t<key>\\t<value>"`` per metric, already joined.

    The caller (``Run.log``, the hot path) builds ``fields`` as it validates each value.
    """
    return f"m{step}\t{time_us}{fields}\n".encode()


def params_record(encoded: dict[str, tuple[str, float | None]]) -> bytes:
    """A params record from params in their stored form (``loopml._values.encode_param``)."""
    return b"p" + json.dumps({k: list(v) for k, v in encoded.items()}).encode() + b"\n"


def tags_record(tags: dict[str, str]) -> bytes:
    """A tags record."""
    return b"t" + json.dumps(tags).encode() + b"\n"


def artifacts_record(records: list[dict[str, Any]]) -> bytes:
    """An artifacts record: what the store copied (name, size, sha256, created_at)."""
    return b"a" + json.dumps(records).encode() + b"\n"


def run_record(spec: dict[str, Any]) -> bytes:
    """The run itself (project, name, created_at, attributes, params, tags), written first."""
    return b"r" + json.dumps(spec).encode() + b"\n"


def parse_records(data: bytes) -> Batch:
    """Turn complete journal records into one batch (later records win for params and tags)."""
    batch = Batch()
    points = batch.points
    for line in data.decode("utf-8").split("\n"):
        if not line:
            continue
        kind = line[0]
        if kind == "m":
            fields = line[1:].split("\t")
            step = int(fields[0])
            ts = int(fields[1]) / 1e6
            for i in range(2, len(fields) - 1, 2):
                points.append((step, ts, fields[i], float(fields[i + 1])))
        elif kind == "p":
            batch.params.update({k: (v[0], v[1]) for k, v in json.loads(line[1:]).items()})
        elif kind == "t":
            batch.tags.update(json.loads(line[1:]))
        elif kind == "r":
            spec = json.loads(line[1:])
            spec["params"] = {k: (v[0], v[1]) for k, v in spec["params"].items()}
            batch.create = spec
        elif kind == "a":
            batch.artifacts.extend(json.loads(line[1:]))
        else:
            raise JournalFormatError(
                f"unknown journal record kind {kind!r}; this journal was written by a newer loopml: "
                "upgrade loopml (pip install -U loopml) to replay it"
            )
    return batch


def parse_records_packed(data: bytes) -> Batch:
    """``parse_records``, with the metric points as numpy columns (``Batch.packed``).

    What the team server reads uploaded journal bytes with: numpy splits and converts the
    metrics records as whole columns (steps, times, keys and values each parsed in one C loop),
    several times cheaper than a tuple per point; the few other records go through
    ``parse_records``. The points, in logging order, are the ones ``parse_records`` reads (a
    test checks the two agree). Malformed records raise ``JournalFormatError``.
    """
    if not data:
        return Batch()
    if not data.endswith(b"\n") or b"\x00" in data:
        raise JournalFormatError("journal records must be complete lines without NUL bytes")
    import numpy as np

    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == 10)
    starts = np.concatenate(([0], newlines[:-1] + 1))
    other = np.flatnonzero(buf[starts] != ord("m")).tolist()
    batch, metrics = Batch(), data
    if other:  # cut the other records out: a few lines, each found by numpy
        ends = newlines + 1
        pieces, kept, at = [], [], 0
        for i in other:
            kept.append(data[at : starts[i]])
            pieces.append(data[starts[i] : ends[i]])
            at = int(ends[i])
        kept.append(data[at:])
        batch = parse_records(b"".join(pieces))
        metrics = b"".join(kept)
        buf = np.frombuffer(metrics, dtype=np.uint8)
        newlines = np.flatnonzero(buf == 10)
    try:
        batch.packed = _metric_columns(metrics, buf, newlines)
    except (ValueError, OverflowError, UnicodeDecodeError) as exc:
        raise JournalFormatError(f"a metrics record in the journal is malformed ({exc})") from None
    return batch


def _metric_columns(data: bytes, buf: Any, newlines: Any) -> PackedPoints | None:
    """Metrics records (``m<step>\\t<time>\\t<key>\\t<value>...`` lines) as columns;
    ``buf`` is ``data`` as a numpy byte array, ``newlines`` where its newlines are."""
    import numpy as np

    from loopml.store import PackedPoints

    if not len(newlines):
        return None
    # Each line's field count, from the tabs before each newline.
    tabs_before = np.searchsorted(np.flatnonzero(buf == 9), newlines)
    fields = np.diff(tabs_before, prepend=0) + 1
    if int(fields.min()) < 2:
        raise ValueError("a metrics record needs a step and a time")
    # The leading "m" becomes a space, which the integer parse skips: then splitting on tabs
    # and newlines gives every field of every line, in order, as one flat list.
    text = bytearray(data)
    np.frombuffer(text, dtype=np.uint8)[np.concatenate(([0], newlines[:-1] + 1))] = 32
    tokens = bytes(text).replace(b"\n", b"\t").split(b"\t")
    tokens.pop()  # after the last newline
    per_line = (fields - 2) // 2  # points per line (a trailing odd field is ignored, as there)
    line: Any = None  # each point's line, where a line holds more than one point
    if int(fields.max()) == int(fields.min()):
        # Every line logs the same number of metrics (the usual case): plain list slices.
        width, count = int(fields[0]), int(per_line[0])
        steps, times = tokens[0::width], tokens[1::width]
        names = [k for j in range(count) for k in tokens[2 + 2 * j :: width]]
        values = _floats([v for j in range(count) for v in tokens[3 + 2 * j :: width]])
        if count > 1:  # back to logging order: by line, then position in the line
            line = np.tile(np.arange(len(newlines)), count)
            order = np.argsort(line, kind="stable")
            names = [names[i] for i in order.tolist()]
            values, line = values[order], line[order]
    else:
        table = np.array(tokens, dtype=object)
        first = np.cumsum(fields) - fields  # each line's first token
        steps, times = table[first].tolist(), table[first + 1].tolist()
        line = np.repeat(np.arange(len(newlines)), per_line)
        within = np.arange(len(line)) - np.repeat(np.cumsum(per_line) - per_line, per_line)
        at = first[line] + 2 + 2 * within
        names = table[at].tolist()
        values = _floats(table[at + 1].tolist())
    if not len(values):
        return None
    step_col, ts_col = _ints(steps), _ints(times) / 1e6
    if int(step_col.min()) < 0:
        raise ValueError("a step is negative")
    if line is not None:
        step_col, ts_col = step_col[line], ts_col[line]
    # Keys in order of first appearance, each point's index into them.
    if len(set(names)) == 1:
        keys, key = [names[0].decode()], np.zeros(len(names), dtype=np.uint32)
    else:
        unique, first_at, inverse = np.unique(
            np.array(names), return_index=True, return_inverse=True
        )
        by_first = np.argsort(first_at, kind="stable")
        rank = np.empty(len(by_first), dtype=np.uint32)
        rank[by_first] = np.arange(len(by_first), dtype=np.uint32)
        keys = [bytes(unique[i]).decode() for i in by_first.tolist()]
        key = rank[inverse]
    return PackedPoints(keys, key, step_col, ts_col, values)


_NOT_FINITE = (b"nan", b"inf", b"-inf")  # what repr() writes for the floats JSON has no word for


def _orjson() -> Any:
    try:
        import orjson
    except ImportError:
        return None
    return orjson


def _ints(texts: list[bytes]) -> Any:
    """Decimal integer texts (leading spaces allowed) as int64."""
    import numpy as np

    orjson = _orjson()
    if orjson is None:
        return np.array(texts).astype(np.int64)
    # Digits only reach orjson, so nothing but a number can be read; anything JSON's grammar
    # refuses (a leading zero) takes numpy's parse, which reads what ``int()`` reads.
    return _parsed(orjson, texts, b",".join(texts), b"0123456789 ,", np.int64)


def _floats(texts: list[bytes]) -> Any:
    """``repr(float)`` texts as float64, each exactly as ``float()`` reads it.

    orjson, when installed (``loopml[serving]``), parses decimal text several times faster
    than ``float()``, and as exactly (correctly rounded); NaN and infinities, which JSON has
    no word for, go through numpy. Only number characters reach it, so a value can never be
    read as anything but a number.
    """
    import numpy as np

    orjson = _orjson()
    if orjson is None:
        return np.array(texts).astype(np.float64)
    joined = b",".join(texts)
    if b"n" not in joined:  # no "nan" or "inf": all plain decimals (the usual case)
        return _decimals(orjson, texts, joined)
    array = np.array(texts)
    special = np.zeros(len(array), dtype=bool)
    for word in _NOT_FINITE:
        special |= array == word
    out = np.empty(len(array), dtype=np.float64)
    out[special] = array[special].astype(np.float64)
    rest = array[~special].tolist()
    out[~special] = _decimals(orjson, rest, b",".join(rest))
    return out


def _decimals(orjson: Any, texts: list[bytes], joined: bytes) -> Any:
    """Finite decimal ``texts`` (``joined`` by commas) as float64: by orjson, or where JSON's
    grammar refuses one (``.5``, ``1.``), by numpy's parse, which reads what ``float()`` reads."""
    import numpy as np

    return _parsed(orjson, texts, joined, b"0123456789.eE+-,", np.float64)


def _parsed(orjson: Any, texts: list[bytes], joined: bytes, allowed: bytes, dtype: Any) -> Any:
    """``texts`` as ``dtype``: orjson's parse of ``joined`` when it holds only ``allowed`` bytes
    and yields one value per text, else numpy's."""
    import numpy as np

    if not joined.translate(None, allowed):
        try:
            out = np.array(orjson.loads(b"[" + joined + b"]"), dtype=dtype)
        except ValueError:
            pass
        else:
            if len(out) == len(texts):
                return out
    return np.array(texts).astype(dtype)
