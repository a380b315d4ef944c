"""What the LightGBM and XGBoost callbacks share: per-round logging, importances, pruning."""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from loopml._errors import LoopmlError, ValidationError
from loopml.integrations._common import RunOwner, metric_key

__all__ = ["RoundLogger"]

_MAX_IMPORTANCE_METRICS = 100


class RoundLogger:
    """Logs one boosting round's metrics, reports the pruning metric, writes importances."""

    def __init__(
        self,
        run: Any,
        project: str | None,
        framework: str,
        prune_on: str | None,
        log_every: int,
    ) -> None:
        if prune_on is not None and not isinstance(prune_on, str):
            raise ValidationError(
                f"prune_on must be a metric key such as 'valid_0/l2', not {prune_on!r}"
            )
        if isinstance(log_every, bool) or not isinstance(log_every, int) or log_every < 1:
            raise ValidationError(f"log_every must be an integer >= 1, not {log_every!r}")
        self.owner = RunOwner(run, project, default_project=framework)
        self.prune_on = prune_on
        self.log_every = log_every
        self.framework = framework
        self._seen_keys: set[str] | None = None

    def params(self, params: Mapping[str, Any]) -> None:
        """Record the booster's params once, on the first round."""
        from loopml.integrations._common import log_params_soft

        run = self.owner.get(params)
        if not self.owner.owned and params:
            log_params_soft(run, params)

    def round(self, step: int, values: Mapping[str, float], last: bool = False) -> None:
        """Log ``values`` at ``step``; report and prune on ``prune_on`` when it is among them."""
        run = self.owner.run
        if step % self.log_every == 0 or last:
            run.log(values, step=step)
        if self._seen_keys is None:
            self._seen_keys = set(values)
            if self.prune_on is not None and self.prune_on not in values:
                import difflib

                close = difflib.get_close_matches(self.prune_on, list(values), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else ""
                raise ValidationError(
                    f"prune_on={self.prune_on!r} is not one of this training's metrics "
                    f"{sorted(values)}{hint}"
                )
        if self.prune_on is not None:
            run.report(values[self.prune_on], step)
            if run.should_stop():
                from loopml.sweeps import TrialPruned

                self.owner.close("pruned")
                raise TrialPruned(
                    f"{self.framework} trial pruned at round {step} on {self.prune_on}"
                )

    def importances(self, table: Mapping[str, Mapping[str, float]]) -> None:
        """Write ``{importance_type: {feature: value}}`` as ``feature_importance.csv``.

        Where artifacts are unavailable (a function trial in a sweep) the largest values are
        logged as ``importance/<type>/<feature>`` metrics instead.
        """
        run = self.owner.run
        if run is None or not table:
            return
        features = sorted({f for values in table.values() for f in values})
        types = list(table)
        try:
            with tempfile.TemporaryDirectory(prefix="loopml-importance-") as tmp:
                path = Path(tmp) / "feature_importance.csv"
                with path.open("w", newline="") as fh:
                    writer = csv.writer(fh)
                    writer.writerow(["feature", *types])
                    first = table[types[0]]
                    for f in sorted(features, key=lambda f: -float(first.get(f, 0.0))):
                        writer.writerow([f, *(table[t].get(f, 0.0) for t in types)])
                run.log_artifact(str(path), "feature_importance.csv")
        except LoopmlError:
            values: dict[str, float] = {}
            for t in types:
                top = sorted(table[t].items(), key=lambda kv: -float(kv[1]))
                for f, v in top[:_MAX_IMPORTANCE_METRICS]:
                    values[metric_key("importance", t, f)] = float(v)
            run.log(values, step=max(run.step - 1, 0))

    def close(self) -> None:
        """Finish the run if the callback started it."""
        self.owner.close()
