"""Agreement per guideline version: Cohen, Fleiss, Krippendorff, per class, confusions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from loopml.labeling._votes import annotation_arrays, annotator_names

if TYPE_CHECKING:
    import numpy as np

    from loopml.labeling._agreement import AgreementStats
    from loopml.labeling._handle import ProjectHandle

__all__ = ["agreement_by_version"]


def agreement_by_version(
    p: ProjectHandle, arrays: dict[str, np.ndarray] | None = None, common_items: bool = False
) -> list[AgreementStats]:
    """Agreement statistics for each guideline version that has annotations, oldest first.

    ``common_items`` restricts every version to the items labeled twice or more under each of
    them: after a targeted relabel, the fair before/after comparison on the same (hard) items.
    """
    import numpy as np

    from loopml.labeling._agreement import agreement

    arr = annotation_arrays(p) if arrays is None else arrays
    names = annotator_names(p) if arrays is None else {}
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
