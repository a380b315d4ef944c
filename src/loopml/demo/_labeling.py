"""Demo stage 3: labeling digits under guideline v1, finding where it is ambiguous, publishing v2
with a targeted relabel, then consensus, review, label issues and a labeled snapshot.

The annotators are simulated, with the confusions real people make on these digits: under v1
(which says nothing about serifs or open tops) they split on 1/7 and 4/9 and flag those items;
v2 settles both, and only the items whose labels touch 1, 7, 4 or 9 are relabeled.
"""

from __future__ import annotations

import struct
import zlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from rich.console import Console

    from loopml.labeling import LabelingProject

__all__ = ["DATASET", "LABEL_PROJECT", "label_digits"]

DATASET = "digits"
LABEL_PROJECT = "digits-labels"
ANNOTATORS = ("ana", "ben", "chloe", "dev", "emma")
N_ITEMS = 450

GUIDE_V1 = """# Labeling handwritten digits

Label each 8x8 image with the digit it shows: press that digit's key (0-9), or move with the arrow keys and press Enter.

- Judge the shape, not the stroke thickness.
- If the image is too faint to read, flag it with a comment and skip it.
"""

GUIDE_V2 = (
    GUIDE_V1
    + """
## Hard cases (new in v2)

- A vertical stroke with a short top-left serif is a **1**; a **7** needs a horizontal top bar.
- A **4** may be closed at the top; it is a **9** only if the bottom stroke curves left.
"""
)

# Under v1, chance that an annotator turns the first digit into the second (both ways).
_V1_CONFUSIONS = {(1, 7): 0.30, (4, 9): 0.25, (3, 8): 0.06, (5, 9): 0.05}
_V2_CONFUSIONS = {(1, 7): 0.04, (4, 9): 0.04, (3, 8): 0.06, (5, 9): 0.05}
_COMMENTS = {
    1: "serif on the 1 or a short 7 bar? guideline unclear here",
    7: "serif on the 1 or a short 7 bar? guideline unclear here",
    4: "closed-top 4 or 9? guideline unclear",
    9: "closed-top 4 or 9? guideline unclear",
}


def png(pixels: np.ndarray, scale: int = 8) -> bytes:
    """A grayscale PNG of an 8x8 digit (0-16), scaled up, with no imaging library."""
    import numpy as np

    img = (255 - pixels.reshape(8, 8) * 255 / 16).astype(np.uint8)
    img = np.kron(img, np.ones((scale, scale), dtype=np.uint8))
    raw = b"".join(b"\x00" + row.tobytes() for row in img)

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    h, w = img.shape
    head = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", head)
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _digits_frame() -> Any:
    import pandas as pd
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    frame = pd.DataFrame(x / 16.0, columns=[f"p{i}" for i in range(64)])
    frame.insert(0, "id", [f"digit-{i:04d}" for i in range(len(y))])
    frame.insert(1, "image", [png(row) for row in x])
    frame["true_label"] = y.astype(str)
    return frame


class _Annotator:
    """A simulated person: right most of the time, wrong in the ways the guideline allows."""

    def __init__(self, name: str, accuracy: float, seed: int) -> None:
        import numpy as np

        self.name = name
        self.accuracy = accuracy
        self.rng = np.random.default_rng(seed)

    def label(self, truth: int, confusions: dict[tuple[int, int], float]) -> tuple[int, bool]:
        for (a, b), p in confusions.items():
            if truth in (a, b) and self.rng.random() < p:
                other = b if truth == a else a
                return other, bool(p > 0.1 and self.rng.random() < 0.4)  # unsure: flag it
        if self.rng.random() > self.accuracy:
            return int(self.rng.integers(0, 10)), False
        return truth, False


def _work_queue(
    p: LabelingProject,
    people: list[_Annotator],
    truth: dict[str, int],
    confusions: dict[tuple[int, int], float],
) -> int:
    """Every annotator works through their queue; returns the number of labels made."""
    done = 0
    for person in people:
        while batch := p.next_items(person.name, 50):
            for item in batch:
                label, flag = person.label(truth[item.item_id], confusions)
                comment = _COMMENTS.get(label) if flag else None
                p.annotate(
                    person.name,
                    item.item_id,
                    str(label),
                    seconds=float(person.rng.gamma(4, 0.8)),
                    flag=bool(comment),
                    comment=comment,
                )
                done += 1
    return done


def label_digits(console: Console, seed: int = 0) -> dict[str, Any]:
    """Run the labeling stage and print what it found; returns the key figures."""
    import numpy as np
    from rich.table import Table

    import loopml
    from loopml.labeling import project as open_project

    console.print(
        "4. labeling: guideline v1, agreement, guideline problems, v2 with a targeted relabel, consensus, label issues"
    )
    frame = _digits_frame()
    version = loopml.datasets.create(
        DATASET,
        frame,
        split={"train": 0.8, "test": 0.2},
        metadata=["true_label"],
        note="sklearn digits",
    )
    splits = ", ".join(f"{k} {n:,}" for k, n in sorted(version.splits.items()))
    console.print(f"   dataset {version}, splits: {splits}", markup=False)
    try:
        p = open_project(LABEL_PROJECT)
    except loopml.NotFoundError:
        p = loopml.labeling.create_project(
            LABEL_PROJECT,
            version,
            classes=[str(d) for d in range(10)],
            overlap=3,
            min_agreement=0.67,
        )
    if p.guidelines():
        console.print(f"   project {LABEL_PROJECT!r} exists already; showing its results")
    else:
        _label_rounds(console, p, frame, seed)
    stats = p.agreement()
    table = Table(title="agreement per guideline version", header_style="bold")
    for col in (
        "version",
        "labels",
        "items",
        "cohen κ",
        "fleiss κ",
        "kripp. α",
        "α(1)",
        "α(7)",
        "most confused",
    ):
        table.add_column(col, justify="right")
    for s in stats:
        pair = (
            f"{s.confused_pairs[0][0]}/{s.confused_pairs[0][1]} ({s.confused_pairs[0][2]})"
            if s.confused_pairs
            else ""
        )
        table.add_row(
            f"v{s.version}", str(s.n_annotations), str(s.n_items), f"{s.cohen_kappa:.3f}", f"{s.fleiss_kappa:.3f}",
            f"{s.krippendorff_alpha:.3f}", f"{s.alpha_per_class['1']:.2f}", f"{s.alpha_per_class['7']:.2f}", pair,
        )  # fmt: skip
    console.print(table)
    same = p.agreement(common_items=True)
    if len(same) > 1:
        console.print(
            f"   on the same {same[0].n_items} relabeled items: Krippendorff's alpha "
            + " -> ".join(f"v{s.version} {s.krippendorff_alpha:.3f}" for s in same)
        )
    cons = p.consensus()
    truth = dict(zip(frame["id"], frame["true_label"], strict=True))
    acc = float(
        np.mean([truth[i] == lab for i, lab in zip(cons["item_id"], cons["label"], strict=True)])
    )
    # Ties and low agreement only: label issues are counted on their own line below (a rerun
    # finds the same ones, seeded), so both counts are the same on every run of the demo.
    reviews = p.review_queue(["tie", "low_agreement"], limit=None)
    console.print(
        f"   consensus on {len(cons)} items, {acc:.1%} correct; "
        f"{len(reviews)} ties or low-agreement items open for review"
    )
    issues = p.find_label_issues(cv=True)
    hits = sum(truth[r.item_id] != r.given for r in issues.itertuples())
    console.print(
        f"   label issues (cleanlab, 5-fold CV + votes): {len(issues)} suspected, {hits} truly wrong"
    )
    snap = p.snapshot(f"{DATASET}-labeled", note="consensus after guideline v2")
    versions = snap.source.get("guideline_versions") or {}
    console.print(
        f"   snapshot {snap}: labels from "
        + ", ".join(f"guideline v{v} ({n} items)" for v, n in sorted(versions.items())),
        markup=False,
    )
    _leave_a_batch(console, p)
    return {
        "agreement": stats,
        "consensus_accuracy": acc,
        "issues": len(issues),
        "issue_hits": hits,
        "snapshot": snap.ref,
    }


def _leave_a_batch(console: Console, p: LabelingProject, n: int = 8) -> None:
    """Queue a few unlabeled items (each for ``overlap`` annotators) when every queue is empty, so
    the annotate page has work for a newcomer; a rerun adds none while some are still pending."""
    if p.queue_counts()["pending"] == 0:
        p.assign(limit=n)
    pending = {a["name"]: a["pending"] for a in p.annotators() if a["role"] == "annotator"}
    waiting = ", ".join(f"{name} {k}" for name, k in pending.items() if k)
    console.print(f"   left in the annotators' queues for you to try: {waiting}", markup=False)


def _label_rounds(console: Console, p: LabelingProject, frame: Any, seed: int) -> None:
    import numpy as np

    truth = {i: int(t) for i, t in zip(frame["id"], frame["true_label"], strict=True)}
    p.publish_guidelines(GUIDE_V1, note="first version", author="lead")
    p.add_annotators(list(ANNOTATORS))
    p.add_annotators(["rita"], role="reviewer")
    accuracies = (0.97, 0.95, 0.93, 0.96, 0.90)
    people = [
        _Annotator(n, a, seed + i)
        for i, (n, a) in enumerate(zip(ANNOTATORS, accuracies, strict=True))
    ]
    p.assign(limit=N_ITEMS)
    n1 = _work_queue(p, people, truth, _V1_CONFUSIONS)
    console.print(
        f"   v1: {n1} labels from {len(people)} annotators on {N_ITEMS} items (overlap 3)"
    )
    top = p.problems()[:3]
    for g in top:
        console.print(f"     guideline problem {g.a} vs {g.b}: {g.n_items} disputed items, {g.n_flags} flags"
                      + (f" - \"{g.comments[0]['comment']}\"" if g.comments else ""))  # fmt: skip
    g2 = p.publish_guidelines(GUIDE_V2, note="settle 1 vs 7 and 4 vs 9", author="lead")
    console.print(
        f"   v2 published (affects {', '.join(g2.affects)}): {g2.queued} relabel tasks queued, other labels kept"
    )
    n2 = _work_queue(p, people, truth, _V2_CONFUSIONS)
    console.print(f"   v2: {n2} relabels")
    p.consensus()
    reviewer = np.random.default_rng(seed + 99)
    for r in p.review_queue(limit=None):
        t = truth[r["item_id"]]
        p.adjudicate(r["item_id"], str(t if reviewer.random() < 0.95 else (t + 1) % 10), "rita")
