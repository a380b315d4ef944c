"""``loopml import tensorboard``: real event files (tensorboardX's legacy summaries and
TensorBoard's own tensor summaries) into runs, reimports, damaged files, bad input."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

import loopml
from loopml._errors import MissingDependencyError, NotFoundError, ValidationError
from loopml.cli import app
from loopml.integrations.tensorboard import import_logdir
from loopml.tracking import default_session, read_media

tbx = pytest.importorskip("tensorboardX", reason="the TensorBoard import tests need tensorboardX")
pytest.importorskip("tensorboard", reason="the TensorBoard import needs the tensorboard package")

PIXELS = (np.arange(3 * 4 * 5) % 256).astype(np.uint8).reshape(3, 4, 5)  # C x H x W


def _write_tbx(folder: Path, steps: int = 5, hparams: bool = True) -> None:
    """A PyTorch-style run: scalars, a histogram per step, an image, hparams."""
    writer = tbx.SummaryWriter(str(folder))
    rng = np.random.default_rng(0)
    for step in range(steps):
        writer.add_scalar("train/loss", 1.0 / (step + 1), step)
        writer.add_scalar("lr", 0.1, step)
        writer.add_histogram("weights", rng.normal(step, 1.0, 500), step)
    writer.add_image("samples", PIXELS, 3)
    if hparams:
        writer.add_hparams({"lr": 0.1, "optimizer": "adam", "layers": 3}, {"hparam/acc": 0.9})
    writer.close()


def _history(run_id: str, key: str) -> tuple[list[int], list[float]]:
    steps, _, values = default_session().backend.history(run_id, key)
    return steps, values


def _by_name(report: Any) -> dict[str, Any]:
    return {r.name: r for r in report.runs}


def test_scalars_histograms_images_and_hparams_become_a_run(tmp_path: Path) -> None:
    _write_tbx(tmp_path / "logs" / "resnet")
    calls: list[tuple[int, int, str]] = []
    report = import_logdir(
        tmp_path / "logs", project="tb", progress=lambda *args: calls.append(args)
    )
    assert report.warnings == [] and calls == [(1, 1, "resnet")]
    (row,) = report.runs
    assert (row.name, row.state, row.folder) == ("resnet", "imported", "resnet")
    rec = loopml.get_run(row.run_id)
    assert rec.project == "tb" and rec.status == "finished"
    # the numbered add_hparams folder is merged into its parent's run
    assert rec.params["lr"] == 0.1 and rec.params["optimizer"] == "adam"
    assert rec.params["layers"] == 3
    steps, values = _history(row.run_id, "train/loss")
    assert steps == [0, 1, 2, 3, 4]
    assert values == pytest.approx([1.0, 0.5, 1 / 3, 0.25, 0.2])
    assert _history(row.run_id, "lr")[0] == [0, 1, 2, 3, 4]
    assert _history(row.run_id, "hparam/acc")[1] == pytest.approx([0.9])
    media = read_media(default_session().store, row.run_id)
    hists = media["weights"]
    assert [h.step for h in hists] == [0, 1, 2, 3, 4] and hists[0].kind == "histogram"
    assert sum(hists[2].data["counts"]) == 500 and len(hists[2].data["counts"]) <= 64
    assert hists[4].data["edges"][0] > hists[0].data["edges"][0]  # the mean moves by step
    (image,) = media["samples"]
    assert image.step == 3 and image.kind == "image"
    png = default_session().store.runs.artifact_file(row.run_id, image.data["file"]).read_bytes()
    from PIL import Image as PILImage

    assert PILImage.open(__import__("io").BytesIO(png)).size == (5, 4)  # W x H


def _tensor_summary(tag: str, metadata: Any, value: Any) -> Any:
    """A summary as TensorFlow 2's ``tf.summary`` writes it: a tensor and its plugin's
    metadata (not the legacy ``simple_value`` / ``histo`` / ``image`` fields)."""
    from tensorboard.compat.proto import summary_pb2
    from tensorboard.util import tensor_util

    tensor = tensor_util.make_tensor_proto(value)
    return summary_pb2.Summary(
        value=[summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)]
    )


def test_tensorboards_own_tensor_summaries(tmp_path: Path) -> None:
    import io

    from PIL import Image as PILImage
    from tensorboard.compat.proto import event_pb2
    from tensorboard.plugins.histogram import metadata as histogram_meta
    from tensorboard.plugins.hparams import summary_v2 as hp
    from tensorboard.plugins.image import metadata as image_meta
    from tensorboard.plugins.scalar import metadata as scalar_meta
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    buffer = io.BytesIO()
    PILImage.new("RGB", (7, 6), (200, 0, 0)).save(buffer, format="JPEG")  # not a PNG
    image = np.array([b"7", b"6", buffer.getvalue()], dtype=object)
    writer = EventFileWriter(str(tmp_path / "logs" / "tf2"))
    for step in range(3):
        left = np.arange(10.0) * 10 + step
        buckets = np.stack([left, left + 10, np.full(10, 10.0)], axis=1)
        for summary in (
            # '(' is not allowed in keys: it becomes '_'
            _tensor_summary(
                "accuracy (val)", scalar_meta.create_summary_metadata("", ""), 0.5 + step / 10
            ),
            _tensor_summary("activations", histogram_meta.create_summary_metadata("", ""), buckets),
            _tensor_summary("digits", image_meta.create_summary_metadata("", ""), image),
            # a tag that is no safe folder name: its media key drops the empty and '..' parts
            _tensor_summary("../up//img", image_meta.create_summary_metadata("", ""), image),
        ):
            writer.add_event(event_pb2.Event(step=step, wall_time=1000.0 + step, summary=summary))
    hparams = hp.hparams_pb({"dropout": 0.25, "act": "relu"})
    writer.add_event(event_pb2.Event(step=0, wall_time=1000.0, summary=hparams))
    writer.close()
    report = import_logdir(tmp_path / "logs", project="tf2")
    (row,) = report.runs
    assert row.state == "imported" and report.warnings == []
    assert _history(row.run_id, "accuracy _val_")[1] == pytest.approx([0.5, 0.6, 0.7])
    rec = loopml.get_run(row.run_id)
    assert rec.params["dropout"] == 0.25 and rec.params["act"] == "relu"
    assert rec.created_at == pytest.approx(1000.0) and rec.ended_at == pytest.approx(1002.0)
    media = read_media(default_session().store, row.run_id)
    hist = media["activations"]
    assert [h.step for h in hist] == [0, 1, 2]
    assert hist[1].data["counts"] == [10] * 10 and hist[1].data["edges"][0] == 1.0
    images = media["digits"]
    assert [i.step for i in images] == [0, 1, 2]
    assert [i.step for i in media["up/img"]] == [0, 1, 2]
    png = default_session().store.runs.artifact_file(row.run_id, images[0].data["file"])
    assert png.read_bytes().startswith(b"\x89PNG")  # the JPEG was converted


def test_a_second_import_adds_nothing_and_a_grown_file_only_its_new_points(
    tmp_path: Path, session: object
) -> None:
    """On each store backend (``session``: SQLite, and PostgreSQL when configured)."""
    from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader

    source = tmp_path / "full"
    _write_tbx(source, steps=6, hparams=False)
    (event_file,) = source.glob("events.out.tfevents.*")
    full = event_file.read_bytes()
    records = list(RawEventFileLoader(str(event_file)).Load())
    # The file as a training still writing it had it: the first half of its records.
    half = sum(len(r) + 16 for r in records[: len(records) // 2])
    run_folder = tmp_path / "logs" / "run"
    run_folder.mkdir(parents=True)
    (run_folder / event_file.name).write_bytes(full[:half])
    first = import_logdir(tmp_path / "logs", project="grow").runs[0]
    steps_before = _history(first.run_id, "train/loss")[0]
    assert first.state == "imported" and 0 < len(steps_before) < 6

    again = import_logdir(tmp_path / "logs", project="grow").runs[0]
    assert (again.state, again.points, again.media, again.params) == ("unchanged", 0, 0, 0)
    assert _history(first.run_id, "train/loss")[0] == steps_before

    (run_folder / event_file.name).write_bytes(full)  # the training went on
    grown = import_logdir(tmp_path / "logs", project="grow").runs[0]
    assert grown.state == "updated" and grown.run_id == first.run_id
    steps, values = _history(first.run_id, "train/loss")
    assert steps == [0, 1, 2, 3, 4, 5]  # no step twice
    assert values == pytest.approx([1 / (s + 1) for s in range(6)])
    new_steps = 6 - len(steps_before)
    assert grown.points == 2 * new_steps  # two scalar tags
    media = read_media(default_session().store, first.run_id)
    assert [h.step for h in media["weights"]] == [0, 1, 2, 3, 4, 5]
    assert media["samples"][0].step == 3
    assert len(loopml.runs("grow")) == 1


def test_an_unreadable_event_file_is_skipped_with_a_warning_and_the_rest_imported(
    tmp_path: Path,
) -> None:
    logs = tmp_path / "logs"
    _write_tbx(logs / "good", hparams=False)
    garbage = logs / "garbage" / "events.out.tfevents.123.host"
    garbage.parent.mkdir()
    garbage.write_bytes(np.random.default_rng(1).bytes(400))
    # A file damaged in its middle: one byte of a record flipped (its CRC no longer matches).
    _write_tbx(logs / "damaged", hparams=False)
    (damaged,) = (logs / "damaged").glob("events.out.tfevents.*")
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0xFF
    damaged.write_bytes(bytes(data))

    report = import_logdir(logs, project="mixed")
    rows = _by_name(report)
    assert rows["good"].state == "imported" and rows["good"].points == 10
    assert rows["garbage"].state == "skipped"
    assert rows["damaged"].state == "imported" and 0 < rows["damaged"].points < 10
    assert any(str(garbage) in w and "skipped" in w for w in report.warnings)
    assert any(str(damaged) in w and "damaged" in w for w in report.warnings)
    assert sorted(loopml.runs("mixed")["name"]) == ["damaged", "good"]


def test_bad_logdirs_fail_clearly(tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="there is no folder"):
        import_logdir(tmp_path / "missing")
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "sub" / "notes.txt").write_text("no events here")
    with pytest.raises(NotFoundError, match=r"no TensorBoard event files \(events.out.tfevents"):
        import_logdir(tmp_path / "empty")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValidationError, match="is a file, not a folder"):
        import_logdir(tmp_path / "file")
    _write_tbx(tmp_path / "logs" / "a", steps=1, hparams=False)
    with pytest.raises(ValidationError, match="project name"):
        import_logdir(tmp_path / "logs", project="bad/name")
    assert len(loopml.runs()) == 0


def test_missing_tensorboard_package_says_how_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _write_tbx(tmp_path / "logs" / "a", steps=1, hparams=False)
    monkeypatch.setitem(sys.modules, "tensorboard", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'loopml\[tensorboard\]'"):
        import_logdir(tmp_path / "logs")


def test_a_tensorboard_outside_the_supported_range_is_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tensorboard

    from loopml._errors import UnsupportedVersionError

    _write_tbx(tmp_path / "logs" / "a", steps=1, hparams=False)
    monkeypatch.setattr(tensorboard, "__version__", "1.15.0")
    with pytest.raises(UnsupportedVersionError, match=r"tensorboard 1.15.0 .*>=2.12,<3"):
        import_logdir(tmp_path / "logs")
    assert len(loopml.runs()) == 0


def test_the_cli_imports_prints_a_summary_and_is_idempotent(tmp_path: Path) -> None:
    _write_tbx(tmp_path / "logs" / "a", steps=3)
    _write_tbx(tmp_path / "logs" / "b", steps=2, hparams=False)
    runner = CliRunner()
    first = runner.invoke(app, ["import", "tensorboard", str(tmp_path / "logs")])
    assert first.exit_code == 0, first.output
    assert "2 run(s) imported, 0 updated, 0 unchanged" in first.output
    assert "imported from" in first.output and "project logs" in first.output
    second = runner.invoke(app, ["import", "tensorboard", str(tmp_path / "logs")])
    assert second.exit_code == 0, second.output
    assert "0 run(s) imported, 0 updated, 2 unchanged" in second.output
    assert len(loopml.runs("logs")) == 2
    missing = runner.invoke(app, ["import", "tensorboard", str(tmp_path / "nope")])
    # loopml.cli.main prints a LoopmlError as "error: ..." and exits 1
    assert missing.exit_code != 0 and isinstance(missing.exception, NotFoundError)
