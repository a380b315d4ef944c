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
from typing import Any

from loopml._errors import JournalFormatError
from loopml.store import Batch

__all__ = [
    "artifacts_record",
    "metrics_record",
    "params_record",
    "parse_records",
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
