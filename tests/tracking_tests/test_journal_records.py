"""The journal's two parsers agree: ``parse_records`` (tuples) and ``parse_records_packed``
(numpy columns, what the team server reads uploaded journal bytes with)."""

from __future__ import annotations

import math
import random
import struct

import pytest

from loopml._errors import JournalFormatError
from loopml.store import Batch
from loopml.tracking import _journal_records as records
from loopml.tracking._journal_records import (
    artifacts_record,
    metrics_record,
    params_record,
    parse_records,
    parse_records_packed,
    run_record,
    tags_record,
)

_KEYS = ["loss", "acc", "a/b c", "ünï-kéy", "x.y:z"]


def _value(rng: random.Random) -> float:
    r = rng.random()
    if r < 0.08:
        return rng.choice(
            [math.nan, math.inf, -math.inf, -0.0, 0.0, 5e-324, 1.7976931348623157e308]
        )
    if r < 0.4:  # any bit pattern: every exponent, subnormals
        return struct.unpack("d", struct.pack("Q", rng.getrandbits(64)))[0]
    return rng.gauss(0, 1)


def _journal(rng: random.Random, lines: int, uniform: bool) -> bytes:
    out = [run_record({"project": "p", "name": "n", "params": {"lr": ["0.1", 0.1]}, "tags": {}})]
    width = rng.randint(1, 3)
    for i in range(lines):
        if rng.random() < 0.03:
            out.append(params_record({f"p{i}": ("v", None)}))
        if rng.random() < 0.03:
            out.append(tags_record({f"t{i}": "v"}))
        if rng.random() < 0.01:
            out.append(
                artifacts_record([{"name": "f", "size": 1, "sha256": "0", "created_at": 1.0}])
            )
        keys = _KEYS[:width] if uniform else rng.sample(_KEYS, rng.randint(1, 4))
        fields = "".join(f"\t{k}\t{_value(rng)!r}" for k in keys)
        step = rng.choice([i, rng.randint(0, 2**63 - 1), 0])
        out.append(metrics_record(step, 1_700_000_000_000_000 + rng.randint(0, 10**9), fields))
    return b"".join(out)


def _same(a: Batch, b: Batch) -> None:
    left, right = a.all_points(), b.all_points()
    assert len(left) == len(right)
    for x, y in zip(left, right, strict=True):
        assert x[:3] == y[:3]
        assert struct.pack("d", x[3]) == struct.pack("d", y[3]) or (x[3] != x[3] and y[3] != y[3])
    assert (a.params, a.tags, a.artifacts, a.create) == (b.params, b.tags, b.artifacts, b.create)


@pytest.mark.parametrize("orjson", [True, False], ids=["orjson", "numpy"])
def test_packed_parse_reads_the_points_parse_records_reads(
    orjson: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not orjson:
        monkeypatch.setattr(records, "_orjson", lambda: None)
    rng = random.Random(7)
    for trial in range(120):
        data = _journal(rng, rng.randint(1, 200), uniform=trial % 2 == 0)
        _same(parse_records(data), parse_records_packed(data))
        # any whole-record prefix, e.g. a segment that starts after the run record
        cut = data.index(b"\n", len(data) // 2) + 1
        _same(parse_records(data[cut:]), parse_records_packed(data[cut:]))


def test_packed_parse_of_nothing_or_no_metrics() -> None:
    assert not parse_records_packed(b"")
    only = tags_record({"a": "b"})
    assert parse_records_packed(only).tags == {"a": "b"} and not parse_records_packed(only).packed


@pytest.mark.parametrize(
    "data",
    [
        b"m1\t2\tloss\tabc\n",  # not a number
        b"m1\t2\tloss\t1,2\n",  # would smuggle a second value into the JSON array
        b"m1\t2\tloss\ttrue\n",
        b"m1\t2\tloss\t1n\n",
        b"mx\t2\tloss\t1.0\n",  # step
        b"m1\t2.5\tloss\t1.0\n",  # time
        b"m-1\t2\tloss\t1.0\n",  # negative step
        b"m99999999999999999999\t2\tloss\t1.0\n",  # past int64
        b"m1\n",  # no time
        b"m1\t2\tloss\t1.0",  # cut short
        b"m1\t2\tloss\t1.0\n\x00",
        b"z{}\n",  # a kind from a newer loopml
    ],
)
@pytest.mark.parametrize("orjson", [True, False], ids=["orjson", "numpy"])
def test_packed_parse_refuses_malformed_records(
    data: bytes, orjson: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not orjson:
        monkeypatch.setattr(records, "_orjson", lambda: None)
    with pytest.raises(JournalFormatError):
        parse_records_packed(data)


@pytest.mark.parametrize("orjson", [True, False], ids=["orjson", "numpy"])
def test_packed_parse_reads_what_float_and_int_read_beyond_json(
    orjson: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not orjson:
        monkeypatch.setattr(records, "_orjson", lambda: None)
    data = b"m007\t0002\tloss\t.5\nm8\t3\tloss\t1.\nm9\t4\tloss\t1e400\nm10\t5\tloss\t-0\n"
    _same(parse_records(data), parse_records_packed(data))
