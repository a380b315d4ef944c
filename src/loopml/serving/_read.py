"""Reading the prediction log and feedback, and batch prediction over Parquet files."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loopml._errors import ValidationError

if TYPE_CHECKING:
    import datetime as dt

    import pandas as pd

    from loopml.store import Store

__all__ = ["feedback", "predict_file", "predictions", "recover_log"]


def _store(store: Store | None) -> Store:
    if store is not None:
        return store
    from loopml.tracking import default_session

    return default_session().store


def predictions(
    name: str,
    since: dt.datetime | str | float | None = None,
    until: dt.datetime | str | float | None = None,
    *,
    store: Store | None = None,
) -> pd.DataFrame:
    """The prediction log of model ``name`` in ``[since, until)``, oldest first.

    One row per predicted row (see the log's columns in ``docs/serving.md``); readable while
    servers run (each writes a part every second or so).
    """
    return _store(store).predictions.frame(name, since, until)


def feedback(name: str, *, store: Store | None = None) -> pd.DataFrame:
    """The ground truth posted to ``/feedback`` for model ``name`` (latest per prediction id)."""
    return _store(store).predictions.feedback_frame(name)


def recover_log(name: str, *, store: Store | None = None) -> int:
    """Write out the journals of dead servers of ``name`` (servers do this on start)."""
    from loopml.serving._log import recover

    return recover(_store(store), name)


def predict_file(
    ref: str,
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    batch_rows: int = 50_000,
    trust: bool = False,
    progress: Callable[[int, int], None] | None = None,
    store: Store | None = None,
) -> int:
    """Predict every row of the Parquet file ``source`` with ``ref`` into ``output``.

    The output holds the input columns, ``prediction``, ``confidence`` and one ``proba.<class>``
    column per class (classifiers). ``progress(done, total)`` is called after each batch.
    Returns the number of rows.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    from loopml.serving._model import load_served

    if isinstance(batch_rows, bool) or not isinstance(batch_rows, int) or batch_rows < 1:
        raise ValidationError(f"batch_rows must be a positive integer, not {batch_rows!r}")
    src, dst = Path(source), Path(output)
    if not src.is_file():
        raise ValidationError(f"input file {str(src)!r} does not exist")
    if src.resolve() == dst.resolve():
        raise ValidationError("the output file must not be the input file")
    model = load_served(ref, _store(store), trust=trust)
    try:
        reader = pq.ParquetFile(src)
    except (OSError, pa.ArrowInvalid) as exc:
        raise ValidationError(f"{str(src)!r} is not a readable Parquet file ({exc})") from None
    names = model.signature.names
    missing = [n for n in names if n not in reader.schema_arrow.names]
    if missing:
        raise ValidationError(
            f"{str(src)!r} is missing column {missing[0]!r} that model {model.version.ref} takes "
            f"(it takes {len(names)} columns: {names[:8]}{'...' if len(names) > 8 else ''})"
        )
    total = reader.metadata.num_rows
    tmp = dst.with_name(f".{dst.name}.tmp")
    writer = None
    done = 0
    try:
        for batch in reader.iter_batches(batch_size=batch_rows):
            frame = batch.to_pandas()
            cols = _typed_columns(model, frame)
            out = model.predict(cols)
            table = pa.Table.from_batches([batch])
            table = table.append_column(
                "prediction", pa.array([_text(p, model) for p in out.predictions])
            )
            if out.confidence is not None:
                table = table.append_column("confidence", pa.array(out.confidence, pa.float64()))
            if out.probabilities is not None and model.classes is not None:
                import numpy as np

                proba = np.asarray(out.probabilities)
                for j, c in enumerate(model.classes):
                    table = table.append_column(f"proba.{c}", pa.array(proba[:, j]))
            if writer is None:
                dst.parent.mkdir(parents=True, exist_ok=True)
                writer = pq.ParquetWriter(tmp, table.schema)
            writer.write_table(table)
            done += batch.num_rows
            if progress is not None:
                progress(done, total)
        if writer is None:
            raise ValidationError(f"{str(src)!r} has no rows")
        writer.close()
        writer = None
        os.replace(tmp, dst)
    finally:
        if writer is not None:
            writer.close()
        tmp.unlink(missing_ok=True)
    return done


def _text(value: Any, model: Any) -> Any:
    return str(value) if model.classes is not None else value


def _typed_columns(model: Any, frame: pd.DataFrame) -> dict[str, Any]:
    import numpy as np

    cols: dict[str, Any] = {}
    for f in model.signature.features:
        col = frame[f.name]
        try:
            if f.dtype == "float64":
                cols[f.name] = col.to_numpy(dtype=np.float64, na_value=np.nan)
            elif f.dtype == "int64":
                cols[f.name] = col.to_numpy(dtype=np.int64)
            elif f.dtype == "bool":
                cols[f.name] = col.to_numpy(dtype=bool)
            else:
                cols[f.name] = col.astype(object).to_numpy()
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                f"column {f.name!r} cannot be read as {f.dtype} ({exc}); the model expects {f.dtype}"
            ) from None
    return cols
