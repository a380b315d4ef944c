"""The analyses of a labeling project: agreement per version, guideline problems, consensus,
the review queue, label issues, active learning and label snapshots.

Each reads the annotations once as numpy arrays (``store._labeling.annotation_arrays``) and
computes in numpy; only the small results go back to the store.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from loopml._errors import NotFoundError, ValidationError

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

    from loopml.datasets import DatasetVersion
    from loopml.labeling._agreement import AgreementStats
    from loopml.labeling._consensus import Consensus
    from loopml.labeling._problems import ProblemGroup
    from loopml.labeling._project import LabelingProject

__all__ = [
    "adjudicate",
    "agreement_by_version",
    "consensus",
    "label_issues",
    "problems",
    "review_queue",
    "snapshot",
    "suggest",
]

_STATUS = {"open": 0, "resolved": 1, "dismissed": 2}
_REVIEW_KINDS = ("tie", "low_agreement", "label_issue")


def _arrays(p: LabelingProject, kind: int = 0) -> dict[str, np.ndarray]:
    from loopml.store._labeling import annotation_arrays

    return annotation_arrays(p.store, p.id, kind)


def _annotator_names(p: LabelingProject) -> dict[int, str]:
    from loopml.store._labeling import annotator_names

    return {k: name for k, (name, _) in annotator_names(p.store, p.id).items()}


def _role(p: LabelingProject, name: str) -> str | None:
    from loopml.store._labeling import annotator_names

    return next((r for n, r in annotator_names(p.store, p.id).values() if n == name), None)


# -- agreement -----------------------------------------------------------------------------------
def agreement_by_version(
    p: LabelingProject, arrays: dict[str, np.ndarray] | None = None, common_items: bool = False
) -> list[AgreementStats]:
    """Agreement statistics for each guideline version that has annotations, oldest first.

    ``common_items`` restricts every version to the items labeled twice or more under each of
    them: after a targeted relabel, the fair before/after comparison on the same (hard) items.
    """
    import numpy as np

    from loopml.labeling._agreement import agreement

    arr = _arrays(p) if arrays is None else arrays
    names = _annotator_names(p) if arrays is None else {}
    versions = np.unique(arr["version"])
    keep = np.ones(len(arr["item"]), dtype=bool)
    if common_items and len(versions) > 1:
        common = None
        for v in versions:
            its, n = np.unique(arr["item"][arr["version"] == v], return_counts=True)
            its = its[n >= 2]
            common = its if common is None else np.intersect1d(common, its)
        keep = np.isin(arr["item"], common if common is not None else [])
    out = []
    for v in versions:
        m = (arr["version"] == v) & keep
        item, ann, lab = arr["item"][m], arr["annotator"][m], arr["label"][m]
        if p.schema.multi_label:
            out.append(_multi_label_agreement(item, ann, lab, p.classes, int(v)))
            continue
        s = agreement(item, ann, lab, p.classes, version=int(v))
        pairs = [(names.get(int(a), a), names.get(int(b), b), n, k) for a, b, n, k in s.pair_kappas]
        out.append(type(s)(**{**s.__dict__, "pair_kappas": pairs}))
    return out


def _multi_label_agreement(
    item: np.ndarray, ann: np.ndarray, lab: np.ndarray, classes: tuple[str, ...], version: int
) -> AgreementStats:
    """Multi-label: each class is a yes/no question; overall figures are the mean over classes."""
    import numpy as np

    from loopml.labeling._agreement import AgreementStats, agreement

    per = [
        agreement(item, ann, (lab >> c) & 1, ("no", "yes"), version) for c in range(len(classes))
    ]

    def mean(attr: str) -> float:
        vals = [getattr(s, attr) for s in per if np.isfinite(getattr(s, attr))]
        return float(np.mean(vals)) if vals else float("nan")

    return AgreementStats(
        version=version,
        n_annotations=len(item),
        n_items=per[0].n_items,
        percent_agreement=mean("percent_agreement"),
        cohen_kappa=mean("cohen_kappa"),
        fleiss_kappa=mean("fleiss_kappa"),
        krippendorff_alpha=mean("krippendorff_alpha"),
        alpha_per_class={c: s.krippendorff_alpha for c, s in zip(classes, per, strict=False)},
        confused_pairs=[],
        confusion=[],
    )


# -- guideline problems --------------------------------------------------------------------------
def problems(p: LabelingProject, version: int | None = None) -> list[ProblemGroup]:
    """Disagreements and flags by class pair under one guideline version (default: the latest labeled)."""
    from loopml.labeling._problems import problem_groups
    from loopml.store._labeling import flagged

    if p.schema.multi_label:
        raise ValidationError("the guideline problems report is for single-label projects")
    arr = _arrays(p)
    if version is None:
        version = int(arr["version"].max()) if len(arr["version"]) else 1
    m = arr["version"] == version
    flags = [f for f in flagged(p.store, p.id) if f["guideline_version"] == version]
    for f in flags:
        f["label"] = p.schema.decode(f["label"])
    groups = problem_groups(arr["item"][m], arr["label"][m], p.classes, flags)
    idxs = {int(x) for g in groups for x in g.examples} | {
        int(c["item"]) for g in groups for c in g.comments
    }
    names = p._ids(sorted(idxs))
    for g in groups:
        g.examples = [names.get(int(x), str(x)) for x in g.examples]
        for c in g.comments:
            c["item"] = names.get(int(c["item"]), str(c["item"]))
    return groups


# -- consensus and the review queue --------------------------------------------------------------
def _consensus(
    p: LabelingProject, method: str
) -> tuple[Consensus, dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Consensus over current labels; returns it, the current labels, each item's guideline
    version (newest among the votes for the consensus label) and the source per item."""
    import numpy as np

    from loopml.labeling._consensus import current_labels, dawid_skene, majority_vote

    if method not in ("majority", "dawid_skene"):
        raise ValidationError(
            f"consensus method {method!r} is unknown; use 'majority' or 'dawid_skene'"
        )
    cur = current_labels(_arrays(p))
    k = len(p.classes)
    if p.schema.multi_label:
        cons = _multi_label_majority(cur["item"], cur["label"], k)
    elif method == "majority":
        cons = majority_vote(cur["item"], cur["label"], k)
    else:
        cons = dawid_skene(cur["item"], cur["annotator"], cur["label"], k)
    pos = np.searchsorted(cons.items, cur["item"])
    agree = cur["label"] == cons.label[pos]
    version = np.zeros(len(cons.items), dtype=np.int64)
    np.maximum.at(version, pos[agree], cur["version"][agree])
    source = np.full(len(cons.items), method, dtype=object)
    # A reviewer's decision (their newest per item) overrides the vote.
    rev = current_labels(_arrays(p, kind=1))
    if len(rev["item"]):
        order = np.lexsort((rev["id"], rev["item"]))
        item, lab, ver = rev["item"][order], rev["label"][order], rev["version"][order]
        last = np.r_[item[1:] != item[:-1], True]
        item, lab, ver = item[last], lab[last], ver[last]
        all_items = np.union1d(cons.items, item)
        cons, version, source = _reindex(cons, version, source, all_items)
        rpos = np.searchsorted(all_items, item)
        cons.label[rpos], version[rpos], source[rpos] = lab, ver, "review"
        cons.tie[rpos] = False
    return cons, cur, version, source


def _reindex(
    cons: Consensus, version: np.ndarray, source: np.ndarray, items: np.ndarray
) -> tuple[Consensus, np.ndarray, np.ndarray]:
    import numpy as np

    from loopml.labeling._consensus import Consensus

    pos = np.searchsorted(items, cons.items)
    n, k = len(items), cons.probs.shape[1]

    def grow(a: np.ndarray, fill: Any) -> np.ndarray:
        out = np.full((n, *a.shape[1:]), fill, dtype=a.dtype)
        out[pos] = a
        return out

    new = Consensus(
        items,
        grow(cons.label, 0),
        grow(cons.agreement, 1.0),
        grow(cons.n_votes, 0),
        grow(cons.tie, False),
        grow(cons.probs, 1.0 / k),
    )
    return new, grow(version, 0), grow(source, "review")


def _multi_label_majority(item: np.ndarray, label: np.ndarray, k: int) -> Consensus:
    """Multi-label: a class is in the consensus set when at least half the votes include it."""
    import numpy as np

    from loopml.labeling._consensus import Consensus

    items, inv = np.unique(item, return_inverse=True)
    n = np.bincount(inv, minlength=len(items)).astype(float)
    share = (
        np.stack(
            [np.bincount(inv, weights=(label >> c) & 1, minlength=len(items)) for c in range(k)], 1
        )
        / n[:, None]
    )
    mask = (share >= 0.5) @ (1 << np.arange(k))
    agreement = np.maximum(share, 1 - share).mean(1)
    tie = (np.isclose(share, 0.5)).any(1) & (n > 1)
    return Consensus(items, mask.astype(np.int64), agreement, n.astype(int), tie, share)


def consensus(p: LabelingProject, method: str = "majority", *, queue: bool = True) -> pd.DataFrame:
    """Consensus label per labeled item; with ``queue``, ties and items under the project's
    ``min_agreement`` replace the open ``tie``/``low_agreement`` entries of the review queue."""
    import numpy as np
    import pandas as pd

    from loopml.store._labeling import replace_open_reviews

    cons, _, version, source = _consensus(p, method)
    names = p._ids(cons.items.tolist())
    frame = pd.DataFrame(
        {
            "item_id": [names[int(i)] for i in cons.items],
            "label": [p.schema.decode(int(v)) for v in cons.label],
            "agreement": cons.agreement,
            "votes": cons.n_votes,
            "tie": cons.tie,
            "guideline_version": version,
            "source": source,
        }
    )
    if queue:
        open_ = (
            (source != "review")
            & (cons.n_votes >= 2)
            & (cons.tie | (cons.agreement < p.min_agreement))
        )
        rows = []
        for i in np.nonzero(open_)[0]:
            votes = {
                c: round(float(s * cons.n_votes[i]), 2)
                for c, s in zip(p.classes, cons.probs[i], strict=False)
                if s > 0
            }
            kind = "tie" if cons.tie[i] else "low_agreement"
            top = ", ".join(f"{c}: {n:g}" for c, n in sorted(votes.items(), key=lambda kv: -kv[1]))
            reason = (
                f"{'tied vote' if cons.tie[i] else f'only {cons.agreement[i]:.0%} agree'} ({top})"
            )
            rows.append(
                {
                    "item_idx": int(cons.items[i]),
                    "kind": kind,
                    "score": float(1 - cons.agreement[i]),
                    "detail": {"reason": reason, "votes": votes},
                }
            )
        replace_open_reviews(p.store, p.id, ["tie", "low_agreement"], rows)
    return frame


def review_queue(
    p: LabelingProject, kind: str | Sequence[str] | None, status: str, limit: int | None
) -> list[dict[str, Any]]:
    """Review entries, most urgent first, with item ids and decoded labels."""
    from loopml.store._labeling import list_reviews

    kinds = [kind] if isinstance(kind, str) else (list(kind) if kind is not None else None)
    for k in kinds or []:
        if k not in _REVIEW_KINDS:
            raise ValidationError(
                f"review kind {k!r} is unknown; use one of {', '.join(_REVIEW_KINDS)}"
            )
    if status not in _STATUS and status != "all":
        raise ValidationError(
            f"review status {status!r} is unknown; use open, resolved, dismissed or all"
        )
    rows = list_reviews(p.store, p.id, kinds, None if status == "all" else _STATUS[status], limit)
    for r in rows:
        r["status"] = {v: k for k, v in _STATUS.items()}[r["status"]]
        r["resolution"] = p.schema.decode(r["resolution"])
    return rows


def adjudicate(p: LabelingProject, item_id: str, label: Any, reviewer: str) -> int:
    """Record a reviewer's decision and close the item's open review entries."""
    from loopml.store._engine import read
    from loopml.store._labeling import latest_guideline_version, resolve_reviews

    role = _role(p, reviewer)
    if role is None:
        raise NotFoundError(
            f"no reviewer {reviewer!r}; add them with project.add_annotators([{reviewer!r}], role='reviewer')"
        )
    if role != "reviewer":
        raise ValidationError(
            f"{reviewer!r} is an annotator; only reviewers adjudicate (add them with role='reviewer')"
        )
    value = None if label is None else p.schema.encode(label)
    with read(p.store.engine) as conn:
        version = latest_guideline_version(conn, p.id)
    return resolve_reviews(
        p.store, p.id, p._index(item_id), p._annotator(reviewer), reviewer, value, max(version, 1)
    )


# -- label issues and active learning ------------------------------------------------------------
def _load_probs(p: LabelingProject, pred_probs: Any, run: str | None, artifact: str) -> np.ndarray:
    import numpy as np

    from loopml.labeling._issues import check_probs

    if (pred_probs is None) == (run is None):
        raise ValidationError("give exactly one of pred_probs=, run= or cv=True")
    if run is not None:
        path = p.store.runs.artifact_file(p.store.runs.resolve_id(run), artifact)
        try:
            pred_probs = np.load(path, allow_pickle=False)
        except ValueError as exc:
            raise ValidationError(
                f"artifact {artifact!r} of run {run} is not a numpy .npy array: {exc}"
            ) from None
    return check_probs(pred_probs, p.dataset.n_items, len(p.classes))


def _features(dataset: DatasetVersion) -> np.ndarray:
    import numpy as np

    frame = dataset.to_pandas(columns=dataset.inputs)
    numeric = frame.select_dtypes("number")
    if numeric.shape[1] == 0:
        raise ValidationError(
            f"{dataset.ref} has no numeric input columns to cross-validate on; compute out-of-sample "
            "probabilities with your own model and pass pred_probs= (or log them as a run artifact)"
        )
    return np.nan_to_num(numeric.to_numpy(dtype=np.float64))


def label_issues(
    p: LabelingProject,
    pred_probs: Any = None,
    *,
    run: str | None = None,
    artifact: str = "pred_probs.npy",
    cv: bool = False,
    model: Any = None,
    use_votes: bool = True,
    queue: bool = True,
) -> pd.DataFrame:
    """Suspected label errors among consensus labels, most suspicious first; into the review queue."""
    import numpy as np
    import pandas as pd

    from loopml.labeling._issues import find_label_issues, out_of_sample_probs
    from loopml.store._labeling import replace_open_reviews

    if p.schema.multi_label:
        raise ValidationError("label issues are found for single-label projects")
    cons, cur, _, _ = _consensus(p, "majority")
    rows = cons.items
    labels = cons.label
    if cv:
        if pred_probs is not None or run is not None:
            raise ValidationError("give exactly one of pred_probs=, run= or cv=True")
        probs = out_of_sample_probs(_features(p.dataset)[rows], labels, len(p.classes), model)
        origin = "5-fold cross-validated model"
    else:
        probs = _load_probs(p, pred_probs, run, artifact)[rows]
        origin = f"run {run}" if run else "model"
    votes = None
    if use_votes:
        votes = (np.searchsorted(rows, cur["item"]), cur["annotator"], cur["label"])
    found = find_label_issues(labels, probs, votes)
    names = p._ids(rows[found.indices].tolist())
    out = []
    for i in found.indices:
        given, better = p.classes[labels[i]], p.classes[found.suggested[i]]
        q, qb = float(found.quality[i]), float(found.probs[i, found.suggested[i]])
        reason = f"labeled {given!r}, but the {origin}{' and the votes' if votes else ''} give it p={q:.2f}; {better!r} is more likely (p={qb:.2f})"
        out.append(
            {
                "item_idx": int(rows[i]),
                "item_id": names[int(rows[i])],
                "given": given,
                "suggested": better,
                "quality": q,
                "reason": reason,
            }
        )
    if queue:
        replace_open_reviews(
            p.store, p.id, ["label_issue"],
            [{"item_idx": r["item_idx"], "kind": "label_issue", "score": 1 - r["quality"], "detail": {k: r[k] for k in ("reason", "given", "suggested", "quality")}} for r in out],
        )  # fmt: skip
    return pd.DataFrame(out, columns=["item_id", "given", "suggested", "quality", "reason"])


def suggest(
    p: LabelingProject, pred_probs: Any, *, method: str, limit: int, queue_for: Sequence[str] | None
) -> pd.DataFrame:
    """Items to label next, most informative first; optionally queued for annotators."""
    import numpy as np
    import pandas as pd

    from loopml.labeling._active import METHODS, activelab_scores, uncertainty
    from loopml.labeling._consensus import current_labels
    from loopml.labeling._issues import check_probs
    from loopml.store._labeling import assigned_items

    if method not in METHODS:
        raise ValidationError(f"unknown method {method!r}; use one of {', '.join(METHODS)}")
    probs = check_probs(pred_probs, p.dataset.n_items, len(p.classes))
    busy = assigned_items(p.store, p.id)
    candidates = np.setdiff1d(np.arange(p.dataset.n_items), busy)
    cur = current_labels(_arrays(p))
    if method == "activelab" and len(cur["item"]):
        labeled, inv = np.unique(cur["item"], return_inverse=True)
        anns, ainv = np.unique(cur["annotator"], return_inverse=True)
        multi = np.full((len(labeled), len(anns)), np.nan)
        multi[inv, ainv] = cur["label"]
        s_lab, s_unl = activelab_scores(multi, probs[labeled], probs[candidates])
        idx = np.concatenate([labeled, candidates])
        score = np.concatenate([s_lab, s_unl])
        # A labeled item is worth another label only if it is not already queued again.
        keep = np.r_[~np.isin(labeled, np.setdiff1d(busy, labeled)), np.ones(len(candidates), bool)]
        idx, score = idx[keep], score[keep]
    else:
        idx = candidates
        score = uncertainty(probs[candidates], "entropy" if method == "activelab" else method)
    top = np.argsort(-score, kind="stable")[:limit]
    names = p._ids(idx[top].tolist())
    frame = pd.DataFrame({"item_id": [names[int(i)] for i in idx[top]], "score": score[top]})
    if queue_for and len(frame):
        p.assign(
            list(queue_for),
            overlap=min(p.overlap, len(queue_for)),
            items=frame["item_id"].tolist(),
            reason="active",
        )
    return frame


# -- snapshots -----------------------------------------------------------------------------------
def snapshot(
    p: LabelingProject, name: str, *, method: str = "majority", note: str | None = None
) -> DatasetVersion:
    """A new dataset version: the project's items with consensus labels and where each came from."""
    import numpy as np
    import pyarrow as pa

    from loopml.datasets import create_from_table

    cons, _, version, source = _consensus(p, method)
    if len(cons.items) == 0:
        raise ValidationError(f"project {p.name!r} has no labels yet; nothing to snapshot")
    ds = p.dataset
    table = ds.to_arrow()
    n = table.num_rows
    labels: list[Any] = [None] * n
    for i, v in zip(cons.items.tolist(), cons.label.tolist(), strict=False):
        labels[i] = p.schema.decode(v)
    gv = np.zeros(n, dtype=np.int64)
    agree = np.full(n, np.nan)
    votes = np.zeros(n, dtype=np.int64)
    src: list[str | None] = [None] * n
    gv[cons.items], agree[cons.items], votes[cons.items] = version, cons.agreement, cons.n_votes
    for i, s in zip(cons.items.tolist(), source.tolist(), strict=False):
        src[i] = s
    has = np.zeros(n, dtype=bool)
    has[cons.items] = True
    if "label" in table.column_names:
        table = table.rename_columns(
            ["previous_label" if c == "label" else c for c in table.column_names]
        )
    extra = {
        "label": pa.array(labels),
        "label_guideline_version": pa.array(gv, mask=~has),
        "label_agreement": pa.array(agree, mask=~has),
        "label_votes": pa.array(votes, mask=~has),
        "label_source": pa.array(src, type=pa.string()),
    }
    cols = {c: table[c] for c in table.column_names[:2]}
    cols.update(extra)
    cols.update({c: table[c] for c in table.column_names[2:]})
    new = pa.table(cols)
    meta = [
        *ds.metadata,
        *(["previous_label"] if ds.label else []),
        *[c for c in extra if c != "label"],
    ]
    roles = {
        "id": "id",
        "label": "label",
        "inputs": ds.inputs,
        "metadata": meta,
        "types": {f.name: str(f.type) for f in new.schema},
    }
    counts = np.bincount(version, minlength=1)
    source_info = {
        "kind": "label_snapshot",
        "project": p.name,
        "from": ds.digest,
        "method": method,
        "guideline_versions": {str(v): int(c) for v, c in enumerate(counts) if c and v},
    }
    return create_from_table(name, new, roles, source_info, note=note, store=p.store)
