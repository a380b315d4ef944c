"""Tables of the sweeps capability (registered on the shared ``metadata``).

A sweep's trials are ordinary runs (``runs.sweep_id``); ``sweep_trials`` adds what a sampler
needs to rebuild its state on resume: the sampled params with their distributions, the
objective value, the intermediate values a pruner saw, and the cache key of the trial.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, ForeignKey, Index, Integer, String, Table, Text

from loopml.store._metadata import metadata

sweeps = Table(
    "sweeps",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project_id", Integer, ForeignKey("projects.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(250), nullable=False),
    Column("status", String(16), nullable=False),  # running, finished, stopped
    Column("metric", String(250), nullable=False),
    Column("direction", String(8), nullable=False),
    Column(
        "objective", Text, nullable=False
    ),  # how to find the objective again (module:function, command)
    Column("config", Text, nullable=False),  # JSON: space, sampler, pruner, budget, executor
    Column("created_at", Float, nullable=False),
    Column("ended_at", Float),
    Index("ix_sweeps_project_created", "project_id", "created_at"),
)

sweep_trials = Table(
    "sweep_trials",
    metadata,
    Column("sweep_id", String(32), ForeignKey("sweeps.id", ondelete="CASCADE"), primary_key=True),
    Column("number", Integer, primary_key=True),
    Column("run_id", String(32), nullable=False),
    Column("state", String(16), nullable=False),  # running, finished, failed, pruned, killed
    Column("value", Float),
    Column("params", Text, nullable=False),  # JSON: every param, fixed ones included
    Column("distributions", Text, nullable=False),  # JSON: Optuna distributions of the sampled ones
    Column("intermediate", Text),  # JSON: {step: value} reported for pruning
    Column("attempts", Integer, nullable=False),
    Column("objective_key", String(64)),  # objective identity + declared inputs
    Column("cache_key", String(64)),  # objective_key + params
    Column("cached_from", String(32)),  # run whose stored result this trial reused
    Column("started_at", Float, nullable=False),
    Column("ended_at", Float),
    Index("ix_sweep_trials_cache", "objective_key", "cache_key"),
    Index("ix_sweep_trials_run", "run_id"),
)
