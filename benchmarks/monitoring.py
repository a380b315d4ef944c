"""Monitoring benchmark: loopml side by side with Evidently and NannyML, in one run.

    python benchmarks/monitoring.py                 # every section (about 10 minutes on 2 cores)
    python benchmarks/monitoring.py --sections speed,quality --quick

Sections:
1. speed: drift of 25 features (20 numeric, 5 categorical) at 100,000 and 1,000,000 rows a side,
   each tool in a fresh process reading the same Parquet files; CPU seconds (user + system of the
   child, all threads, imports included) and peak RSS (the child's VmHWM), both read by the
   child itself. Evidently is capped: it runs at
   100k and its 1M figure is extrapolated linearly (x10) unless --full-evidently.
2. quality: 20 seeds at 10,000 rows a side; one numeric feature shifted by 0.05, 0.2 or 0.5 sd,
   one categorical feature with 10% of its mass moved, or no drift. "Caught" = the changed feature
   is flagged; "alarm" = any feature flagged in a no-drift run. Evidently runs on the first
   --evidently-seeds seeds (it is slow) and the rate is over those.
3. one pass: every generated metric over 24 hourly windows of a 1,000,000-row log in one DuckDB
   query, beside one query per metric (timed on a sample of metrics and extrapolated).
4. pruning: a simulated 30-day log with 5 injected incidents; alerts marked useful or noise from
   the incidents' ground truth; the suggested pruning, and each incident's first alert before and
   after it.
5. compaction: hours of a server's log as one part per second (20 rows each), the whole catalog
   over them before and after the closed hours are merged, and the merge itself.

NannyML comes from the ``bench`` extra (pip install -e '.[bench]'). Evidently 0.7 breaks on
pandas 3 (which loopml allows), so the benchmark runs it from a throwaway virtualenv it creates at
/tmp/loopml-bench-evidently (evidently 0.7 with pandas 2; a few minutes the first time, reused
after). A tool that cannot run is reported as skipped with the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from _common import print_machine  # noqa: E402

N_NUM, N_CAT = 20, 5


# --- data ------------------------------------------------------------------------------------


def make_frame(
    n: int, seed: int, shift: float = 0.0, move: float = 0.0, drift_cols: int = 0
) -> Any:
    """25 features: x0..x19 normal, c0..c4 categorical (4 values). ``shift`` moves x0 by that many
    sd, ``move`` moves that share of c0's mass from its first to its second category,
    ``drift_cols`` gives the first k numeric features a 0.1 sd shift (the speed data)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data: dict[str, Any] = {}
    for i in range(N_NUM):
        data[f"x{i}"] = rng.normal(0.1 if i < drift_cols else 0.0, 1.0, n)
    data["x0"] = data["x0"] + shift
    cats = np.array(["a", "b", "c", "d"], dtype=object)
    for j in range(N_CAT):
        p = np.array([0.4, 0.3, 0.2, 0.1])
        if j == 0:
            p = p + np.array([-move, move, 0.0, 0.0])
        data[f"c{j}"] = cats[rng.choice(4, n, p=p)]
    return pd.DataFrame(data)


# --- the cases, each run in a fresh process ----------------------------------------------------


def case_loopml(ref: str, cur: str) -> dict[str, Any]:
    from loopml.monitoring import drift

    report = drift(ref, cur)
    return {"drifted": report.drifted}


def case_scipy(ref: str, cur: str) -> dict[str, Any]:
    import pandas as pd
    from scipy.stats import chi2_contingency, ks_2samp

    r, c = pd.read_parquet(ref), pd.read_parquet(cur)
    out = []
    for col in r.columns:
        if r[col].dtype.kind == "f":
            p = ks_2samp(r[col], c[col]).pvalue
        else:
            table = pd.concat([r[col].value_counts(), c[col].value_counts()], axis=1).fillna(0)
            p = chi2_contingency(table.to_numpy().T)[1]
        if p < 0.05:
            out.append(col)
    return {"drifted": out}


def case_nannyml(ref: str, cur: str) -> dict[str, Any]:
    import nannyml as nml
    import pandas as pd

    r, c = pd.read_parquet(ref), pd.read_parquet(cur)
    calc = nml.UnivariateDriftCalculator(
        column_names=list(r.columns),
        continuous_methods=["kolmogorov_smirnov"],
        categorical_methods=["chi2"],
        chunk_number=1,
    )
    calc.fit(r)
    res = calc.calculate(c).filter(period="analysis").to_df()
    drifted = [
        col
        for col in r.columns
        if any(bool(res[c].any()) for c in res.columns if c[0] == col and c[-1] == "alert")
    ]
    return {"drifted": drifted}


def case_evidently(ref: str, cur: str) -> dict[str, Any]:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    r, c = pd.read_parquet(ref), pd.read_parquet(cur)
    snapshot = Report([DataDriftPreset()]).run(current_data=c, reference_data=r)
    return {"drifted": _evidently_drifted(snapshot.dict(), list(r.columns))}


def _evidently_drifted(result: dict[str, Any], columns: list[str]) -> list[str]:
    """Columns Evidently's preset flags (ValueDrift metrics whose value passes their threshold)."""
    drifted = []
    for m in result.get("metrics", []):
        name = str(m.get("metric_name", ""))
        cfg = m.get("config", {})
        col = cfg.get("column")
        if not name.startswith("ValueDrift") or col not in columns:
            continue
        value = m.get("value")
        threshold = cfg.get("threshold")
        method = str(cfg.get("method", "")).lower()
        if value is None or threshold is None:
            continue
        # p-value tests drift when below the threshold; distances when above it.
        is_pvalue = "p_value" in method or "ks" in method or "chi" in method or "z-test" in method
        if (value < threshold) if is_pvalue else (value >= threshold):
            drifted.append(col)
    return drifted


CASES = {
    "loopml": case_loopml,
    "scipy": case_scipy,
    "nannyml": case_nannyml,
    "evidently": case_evidently,
}


EVIDENTLY_VENV = Path("/tmp/loopml-bench-evidently")


def _python_for(case: str) -> str:
    return str(EVIDENTLY_VENV / "bin" / "python") if case == "evidently" else sys.executable


def ensure_evidently() -> str | None:
    """Create the throwaway Evidently venv if needed; None when it works, else why not."""
    python = EVIDENTLY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently.presets, pandas, pyarrow"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return None
    print(f"creating {EVIDENTLY_VENV} for Evidently (pandas 2) ...", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(EVIDENTLY_VENV)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "evidently>=0.7,<0.8",
             "pandas>=2.2,<3", "pyarrow>=16"],
            check=True, capture_output=True, timeout=1800,
        )  # fmt: skip
    except (subprocess.SubprocessError, OSError) as exc:
        return f"could not create the Evidently venv: {exc}"
    if subprocess.run(probe, capture_output=True).returncode != 0:
        return "evidently does not import in its venv"
    return None


def _own_usage() -> dict[str, float]:
    """This process's CPU seconds (all threads, imports included) and peak RSS.

    Measured in the child itself: the peak RSS a parent gets from wait4 also counts the
    parent's own memory copied at fork time (Linux keeps the pre-exec high-water mark).
    """
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    peak_kb = usage.ru_maxrss
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                peak_kb = int(line.split()[1])
    except OSError:
        pass
    return {"cpu": usage.ru_utime + usage.ru_stime, "rss_gb": peak_kb / 1024 / 1024}


def run_child(case: str, ref: Path, cur: Path, timeout: float = 900) -> dict[str, Any]:
    """Run ``case`` in a fresh interpreter, which reports its own CPU seconds and peak RSS."""
    cmd = [_python_for(case), __file__, "--child", case, str(ref), str(cur)]
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=_child_env())
        start = time.monotonic()
        status = proc.wait()
        wall = time.monotonic() - start
        out.seek(0)
        text = out.read()
    if status != 0:
        last = text.strip().splitlines()[-1] if text.strip() else f"exit status {status}"
        return {"error": last[:200]}
    payload = json.loads(text.strip().splitlines()[-1])
    payload["wall"] = wall
    return payload


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("PYTHONWARNINGS", "ignore")
    return env


_AVAILABLE: dict[str, str | None] = {}


def available(case: str) -> str | None:
    """None when ``case`` can run here, else why not."""
    if case == "evidently":
        if case not in _AVAILABLE:
            _AVAILABLE[case] = ensure_evidently()
        return _AVAILABLE[case]
    module = {"nannyml": "nannyml"}.get(case)
    if module is None:
        return None
    import importlib.util

    if importlib.util.find_spec(module) is None:
        return f"{module} is not installed (pip install -e '.[bench]')"
    return None


# --- sections ----------------------------------------------------------------------------------


def section_speed(tmp: Path, sizes: list[int], full_evidently: bool) -> None:
    print("\n== 1. speed: drift of 25 features (20 numeric, 5 categorical), fresh processes ==")
    print(f"{'rows/side':>10} {'tool':>10} {'CPU s':>8} {'peak GB':>8} {'flagged':>8}  note")
    results: dict[int, dict[str, dict[str, Any]]] = {}
    for n in sizes:
        ref, cur = tmp / f"ref{n}.parquet", tmp / f"cur{n}.parquet"
        make_frame(n, 1).to_parquet(ref)
        make_frame(n, 2, drift_cols=3).to_parquet(cur)
        results[n] = {}
        for case in ("loopml", "nannyml", "scipy", "evidently"):
            why = available(case)
            note = ""
            if why:
                print(f"{n:>10,} {case:>10} {'-':>8} {'-':>8} {'-':>8}  skipped: {why}")
                continue
            if case == "evidently" and n > 100_000 and not full_evidently:
                base = results.get(100_000, {}).get("evidently")
                if base and "cpu" in base:
                    r = {
                        "cpu": base["cpu"] * n / 100_000,
                        "rss_gb": base["rss_gb"],
                        "drifted": base["drifted"],
                    }
                    note = (
                        "CPU extrapolated x10 from 100k, memory is the 100k run's "
                        "(capped; --full-evidently runs it)"
                    )
                else:
                    print(f"{n:>10,} {case:>10}  skipped: needs the 100k run to extrapolate")
                    continue
            else:
                r = run_child(case, ref, cur)
            if "error" in r:
                print(f"{n:>10,} {case:>10}  failed: {r['error']}")
                continue
            results[n][case] = r
            print(
                f"{n:>10,} {case:>10} {r['cpu']:>8.1f} {r['rss_gb']:>8.2f} "
                f"{len(r['drifted']):>8}  {note}"
            )
        mine = results[n].get("loopml")
        if mine:
            for other in ("evidently", "nannyml", "scipy"):
                if other in results[n]:
                    o = results[n][other]
                    if other == "evidently" and n > 100_000 and not full_evidently:
                        print(
                            f"{'':>10} loopml vs evidently: {o['cpu'] / mine['cpu']:.1f}x less CPU"
                        )
                        continue
                    print(
                        f"{'':>10} loopml vs {other}: {o['cpu'] / mine['cpu']:.1f}x less CPU, "
                        f"{o['rss_gb'] / mine['rss_gb']:.1f}x less memory"
                    )
    (tmp / "speed.json").write_text(json.dumps({str(k): v for k, v in results.items()}))


def _quality_loopml(ref: Any, cur: Any) -> list[str]:
    from loopml.monitoring import drift

    return drift(ref, cur).drifted


def _quality_plain_ks(ref: Any, cur: Any) -> list[str]:
    import pandas as pd
    from scipy.stats import chi2_contingency, ks_2samp

    out = []
    for col in ref.columns:
        if ref[col].dtype.kind == "f":
            p = ks_2samp(ref[col], cur[col]).pvalue
        else:
            t = pd.concat([ref[col].value_counts(), cur[col].value_counts()], axis=1).fillna(0)
            p = chi2_contingency(t.to_numpy().T)[1]
        if p < 0.05:
            out.append(col)
    return out


def _quality_evidently_child(seeds: int, kw: dict[str, Any], target: str | None) -> int:
    """Evidently's hits over ``seeds`` seeds, computed in its own venv (one process)."""
    cmd = [_python_for("evidently"), __file__, "--quality-child", json.dumps([seeds, kw, target])]
    done = subprocess.run(cmd, capture_output=True, text=True, env=_child_env())
    if done.returncode != 0:
        raise RuntimeError(done.stderr.strip().splitlines()[-1] if done.stderr else "failed")
    return int(done.stdout.strip().splitlines()[-1])


def quality_child(seeds: int, kw: dict[str, Any], target: str | None) -> int:
    """Runs inside the Evidently venv: hits of DataDriftPreset over the seeds."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    hits = 0
    for seed in range(seeds):
        ref = make_frame(10_000, 1000 + seed)
        cur = make_frame(10_000, 2000 + seed, **kw)
        snapshot = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref)
        flagged = _evidently_drifted(snapshot.dict(), list(ref.columns))
        hits += bool(flagged) if target is None else (target in flagged)
    return hits


def section_quality(seeds: int, evidently_seeds: int) -> None:
    print(f"\n== 2. detection quality: {seeds} seeds, 10,000 rows a side ==")
    scenarios = [
        ("no drift", {}, None),
        ("0.05 sd shift", {"shift": 0.05}, "x0"),
        ("0.2 sd shift", {"shift": 0.2}, "x0"),
        ("0.5 sd shift", {"shift": 0.5}, "x0"),
        ("10% categorical move", {"move": 0.1}, "c0"),
    ]
    tools: dict[str, Any] = {"loopml": _quality_loopml, "plain KS/chi2": _quality_plain_ks}
    if available("evidently") is None:
        tools["evidently"] = None  # runs in its own venv
    else:
        print(f"evidently skipped: {available('evidently')}")
    print(f"{'scenario':>22} " + " ".join(f"{t:>16}" for t in tools))
    for label, kw, target in scenarios:
        cells = []
        for tool, fn in tools.items():
            n_seeds = min(seeds, evidently_seeds) if tool == "evidently" else seeds
            hits = 0
            if fn is None:
                hits = _quality_evidently_child(n_seeds, kw, target)
                cells.append(
                    f"{hits:>3}/{n_seeds:<3} {'alarms' if target is None else 'caught':>8}"
                )
                continue
            for seed in range(n_seeds):
                ref = make_frame(10_000, 1000 + seed)
                cur = make_frame(10_000, 2000 + seed, **kw)
                flagged = fn(ref, cur)
                hits += bool(flagged) if target is None else (target in flagged)
            word = "alarms" if target is None else "caught"
            cells.append(f"{hits:>3}/{n_seeds:<3} {word:>8}")
        print(f"{label:>22} " + " ".join(f"{c:>16}" for c in cells))


def section_one_pass(tmp: Path, rows: int, sample: int) -> None:
    print(f"\n== 3. the large set in one pass: {rows:,} rows, 24 hourly windows ==")
    from loopml._config import Settings
    from loopml.monitoring import (
        compute_windows,
        generate_catalog,
        profile_reference,
        simulate_log,
    )
    from loopml.monitoring._simulate import simulate_frame
    from loopml.store import Store

    store = Store(Settings(data_dir=tmp / "onepass"))
    start = 1_700_006_400.0
    t = time.monotonic()
    log = simulate_log(
        "big", start=start, days=1, rows_per_hour=rows // 24, store=store, feedback_share=0.0
    )
    print(f"simulated {log.rows:,} rows in {time.monotonic() - t:.0f} s")
    profile = profile_reference(
        simulate_frame(start - 86_400, 24, rows_per_hour=2000, seed=9), classes=log.classes
    )
    metrics = [m for m in generate_catalog(profile) if m.kind != "accuracy"]
    reader = store.predictions
    c0, t0 = time.process_time(), time.monotonic()
    values = compute_windows(metrics, reader, "big", 3600, log.start, log.end)
    cpu, wall = time.process_time() - c0, time.monotonic() - t0
    print(
        f"one pass: {len(metrics)} metrics ({values.n_aggregates} distinct aggregates) over "
        f"{values.frame['window_start'].nunique()} windows: {wall:.1f} s wall, {cpu:.1f} CPU s"
    )
    step = max(1, len(metrics) // sample)
    picked = metrics[::step][:sample]
    c0, t0 = time.process_time(), time.monotonic()
    for m in picked:
        compute_windows([m], reader, "big", 3600, log.start, log.end)
    cpu1, wall1 = time.process_time() - c0, time.monotonic() - t0
    scale = len(metrics) / len(picked)
    print(
        f"one query per metric: {len(picked)} metrics took {wall1:.1f} s wall, {cpu1:.1f} CPU s;"
        f" all {len(metrics)} extrapolated: {wall1 * scale:.0f} s wall, {cpu1 * scale:.0f} CPU s"
    )
    print(f"one pass is {wall1 * scale / wall:.0f}x faster (wall), {cpu1 * scale / cpu:.0f}x (CPU)")


def section_prune(tmp: Path, rows_per_hour: int) -> None:
    print("\n== 4. pruning that keeps what matters: 30 days, 5 injected incidents ==")
    import loopml.monitoring as mon
    from loopml._config import Settings
    from loopml.monitoring._alerts import evaluate_rules
    from loopml.store import Store

    store = Store(Settings(data_dir=tmp / "prune"))
    start = 1_700_006_400.0
    day = 86_400.0
    incidents = mon.default_incidents(start + 3 * day, days=27)
    t = time.monotonic()
    log = mon.simulate_log(
        "shop", start=start, days=30, rows_per_hour=rows_per_hour, incidents=incidents, store=store
    )
    mon.init("shop", reference_since=start, reference_until=start + 3 * day, store=store)
    run = mon.backfill("shop", start + 3 * day, log.end, store=store)
    print(
        f"{log.rows:,} rows; {len(mon.catalog('shop', store=store))} metrics over {run.windows} "
        f"hourly windows; {len(run.alerts)} alerts in {len(mon.incidents('shop', store=store))} "
        f"incidents ({time.monotonic() - t:.0f} s)"
    )

    def truth(window_start: float) -> Any:
        for inc in incidents:
            if inc.start - 3600 <= window_start < inc.end + 3600:
                return inc
        return None

    alerts = mon.alerts("shop", store=store)
    useful = [a.id for a in alerts if truth(a.window_start)]
    mon.mark(useful, "useful", by="ground truth", store=store)
    mon.mark(
        [a.id for a in alerts if a.id not in set(useful)], "noise", by="ground truth", store=store
    )
    print(f"marked {len(useful)} useful, {len(alerts) - len(useful)} noise")
    plan = mon.prune("shop", store=store)
    by_cat: dict[str, int] = {}
    for s in plan.prune:
        by_cat[s.category] = by_cat.get(s.category, 0) + 1
    total = len(plan.prune) + len(plan.keep)
    print(
        f"suggested: prune {len(plan.prune)} of {total} ({plan.share_pruned:.0%}): {by_cat}; "
        f"keep {plan.keep}"
    )
    mon.prune("shop", apply=True, store=store)
    kept = mon.catalog("shop", store=store)
    wide = store.monitors.values("shop", 3600, [m.name for m in kept]).pivot(
        index="window_start", columns="metric", values="value"
    )
    after = evaluate_rules(kept, wide, 3600, only_after=start + 3 * day)
    accuracy_first = {
        inc.name: min((a.window_start for a in alerts if a.metric == "performance.accuracy"
                       and truth(a.window_start) is inc), default=None)
        for inc in incidents
    }  # fmt: skip
    ok = True
    print(f"{'incident':>16} {'first alert before':>20} {'after pruning':>16} {'lead h':>8}")
    for inc in incidents:
        before = min((a.window_start for a in alerts if truth(a.window_start) is inc), default=None)
        now = min((a.window_start for a in after if truth(a.window_start) is inc), default=None)
        same = before is not None and before == now
        ok &= same
        acc = accuracy_first[inc.name]
        lead = f"{(acc - before) / 3600:.0f}" if acc is not None and before is not None else "-"
        print(
            f"{inc.name:>16} {_since(before, inc.start):>20} {_since(now, inc.start):>16} {lead:>8}"
        )
    print(
        f"pruned {plan.share_pruned:.0%} (target >= 70%); every incident alerts as early: "
        f"{'yes' if ok else 'NO'}"
    )


def section_compaction(tmp: Path, hours: int, parts_per_hour: int) -> None:
    print(f"\n== 5. compaction: {hours} hour(s) of a server's log, one part per 20 rows ==")
    from loopml._config import Settings
    from loopml.monitoring import compute_windows, generate_catalog, profile_reference
    from loopml.monitoring._simulate import _to_arrow, simulate_frame
    from loopml.store import Store

    store = Store(Settings(data_dir=tmp / "compaction"))
    start = 1_700_006_400.0
    frame = simulate_frame(start, hours, rows_per_hour=parts_per_hour * 20, seed=3)
    table = _to_arrow(frame, "flushy")
    t = time.monotonic()
    per = 20  # rows per flush: a busy server's one second
    for k in range(0, table.num_rows, per):
        store.predictions.write("flushy", table.slice(k, per), f"w-{k:09d}")
    files = store.predictions.files("flushy")
    print(f"wrote {table.num_rows:,} rows as {len(files):,} parts in {time.monotonic() - t:.0f} s")
    profile = profile_reference(simulate_frame(start - 86_400, 24, rows_per_hour=2000, seed=9))
    metrics = [m for m in generate_catalog(profile) if m.kind != "accuracy"]
    end = start + hours * 3600

    def one_pass() -> tuple[float, float]:
        c0, t0 = time.process_time(), time.monotonic()
        compute_windows(metrics, store.predictions, "flushy", 3600, start, end)
        return time.process_time() - c0, time.monotonic() - t0

    cpu_before, wall_before = one_pass()
    c0, t0 = time.process_time(), time.monotonic()
    done = store.predictions.compact("flushy", closed_after=0)
    cpu_c, wall_c = time.process_time() - c0, time.monotonic() - t0
    print(
        f"compacted {done.hours} hours ({done.parts:,} parts, {done.rows:,} rows) in "
        f"{cpu_c:.1f} CPU s ({wall_c:.1f} s wall); files now {len(store.predictions.files('flushy'))}"
    )
    cpu_after, wall_after = one_pass()
    print(
        f"{len(metrics)} metrics over the {hours} windows: before {cpu_before:.1f} CPU s "
        f"({wall_before:.1f} s wall), after {cpu_after:.1f} CPU s ({wall_after:.1f} s wall): "
        f"{cpu_before / cpu_after:.1f}x less CPU"
    )
    rows = len(store.predictions.frame("flushy", columns=["id"]))
    print(f"rows read after compaction: {rows:,} of {table.num_rows:,} (none lost, none twice)")


def _since(when: float | None, start: float) -> str:
    return "none" if when is None else f"{(when - start) / 3600:+.1f} h"


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--quality-child":
        seeds, kw, target = json.loads(sys.argv[2])
        print(quality_child(seeds, kw, target))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--child":
        case, ref, cur = sys.argv[2], sys.argv[3], sys.argv[4]
        out = CASES[case](ref, cur)
        print(json.dumps({**out, **_own_usage()}))
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", default="speed,quality,onepass,prune,compaction")
    parser.add_argument("--quick", action="store_true", help="Smaller sizes, fewer seeds.")
    parser.add_argument("--full-evidently", action="store_true", help="Run Evidently at 1M too.")
    parser.add_argument("--evidently-seeds", type=int, default=5)
    args = parser.parse_args()
    sections = set(args.sections.split(","))
    versions = {}
    for mod in ("duckdb", "nannyml"):
        try:
            versions[mod] = __import__(mod).__version__
        except Exception:
            versions[mod] = "not installed"
    print_machine("monitoring benchmark", versions)
    with tempfile.TemporaryDirectory(prefix="bench-monitoring-") as d:
        tmp = Path(d)
        if "speed" in sections:
            section_speed(
                tmp, [100_000] if args.quick else [100_000, 1_000_000], args.full_evidently
            )
        if "quality" in sections:
            section_quality(5 if args.quick else 20, args.evidently_seeds)
        if "onepass" in sections:
            section_one_pass(tmp, 200_000 if args.quick else 1_000_000, 10 if args.quick else 30)
        if "prune" in sections:
            section_prune(tmp, 150 if args.quick else 500)
        if "compaction" in sections:
            section_compaction(tmp, 2 if args.quick else 1, 600 if args.quick else 3600)


if __name__ == "__main__":
    main()
