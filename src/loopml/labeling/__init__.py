"""Labeling with versioned guidelines: agreement per version, guideline problems, targeted
relabeling, consensus and review, label issues (cleanlab), active learning and label snapshots.

    import loopml
    p = loopml.labeling.create_project("digits-labels", "digits@1", classes=list("0123456789"), overlap=3)
    p.publish_guidelines(open("guide.md").read(), note="first version")
    p.add_annotators(["ann", "bo", "cy"])
    p.assign(limit=300)
    item = p.next_item("ann"); p.annotate("ann", item.item_id, "7", seconds=2.1)
    p.agreement_frame()          # kappa / alpha per guideline version, side by side
"""

from loopml.labeling._agreement import AgreementStats, agreement, fleiss_kappa, krippendorff_alpha
from loopml.labeling._api import create_project, list_projects, project
from loopml.labeling._consensus import Consensus, dawid_skene, majority_vote
from loopml.labeling._issues import (
    LabelIssues,
    combine_with_votes,
    find_label_issues,
    out_of_sample_probs,
)
from loopml.labeling._problems import ProblemGroup
from loopml.labeling._project import Guideline, LabelingProject, QueueItem
from loopml.labeling._schema import LabelSchema

__all__ = [
    "AgreementStats",
    "Consensus",
    "Guideline",
    "LabelIssues",
    "LabelSchema",
    "LabelingProject",
    "ProblemGroup",
    "QueueItem",
    "agreement",
    "combine_with_votes",
    "create_project",
    "dawid_skene",
    "find_label_issues",
    "fleiss_kappa",
    "krippendorff_alpha",
    "list_projects",
    "majority_vote",
    "out_of_sample_probs",
    "project",
]
