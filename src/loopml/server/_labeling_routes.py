"""Labeling pages: the annotator's keyboard-driven queue and the manager's pages (agreement per
guideline version, confusion heatmap, guideline problems, guideline history with diffs, the
review queue and the label-issue queue).

Every page is server-rendered with autoescaping; actions are small HTML form POSTs answered with
a redirect, so the keyboard page works with any browser and a reload never repeats an action.
"""

from __future__ import annotations

import base64
import difflib
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup

from loopml._errors import ConflictError, ValidationError
from loopml.server._deps import get_store, render, script_json
from loopml.store import Store

if TYPE_CHECKING:
    from loopml.labeling import LabelingProject

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
StoreDep = Annotated[Store, Depends(get_store)]
# The review page lists ties and low agreement; the label-issues page lists suspected errors.
_REVIEW_KINDS = ("tie", "low_agreement")
_ISSUE_KINDS = ("label_issue",)
_IMAGE_MAGIC = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}


def _project(store: Store, name: str) -> LabelingProject:
    from loopml.labeling import project

    return project(name, store=store)


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def _item_view(p: LabelingProject, item_id: str) -> dict[str, Any]:
    """What to show of an item: an image, a text, or the table row of its inputs."""
    row = p.item(item_id)
    image = None
    for value in row.values():
        if isinstance(value, bytes):
            kind = next((t for m, t in _IMAGE_MAGIC.items() if value.startswith(m)), None)
            if kind:
                image = f"data:{kind};base64,{base64.b64encode(value).decode()}"
                break
    text = row.get("text") if isinstance(row.get("text"), str) else None
    fields = [
        (k, v)
        for k, v in row.items()
        if k in p.dataset.inputs and not isinstance(v, bytes) and k != "text"
    ]
    return {"image": image, "text": text, "fields": fields[:24], "more": max(0, len(fields) - 24)}


def _inline_markdown(text: str) -> Markup:
    """Bold, italics, code and links of one Markdown line; raw HTML is escaped, never passed on."""
    from markdown_it import MarkdownIt  # installed with rich

    md = MarkdownIt("commonmark", {"html": False})
    return Markup(md.renderInline(text))


def _guideline_lines(p: LabelingProject) -> tuple[int, list[dict[str, Any]]]:
    """The latest guideline as lines, each marked when new or changed since the previous version."""
    g = p.guideline()
    changed = p.changed_lines(g.version)
    out = []
    for i, line in enumerate(g.text.splitlines()):
        kind = (
            "h"
            if line.lstrip().startswith("#")
            else ("li" if line.lstrip().startswith(("- ", "* ")) else "p")
        )
        body = (
            line.lstrip("#").strip()
            if kind == "h"
            else (line.strip()[2:] if kind == "li" else line)
        )
        out.append({"kind": kind, "html": _inline_markdown(body), "changed": i in changed})
    return g.version, out


@router.get("/labeling", response_class=HTMLResponse)
def projects_page(request: Request, store: StoreDep) -> HTMLResponse:
    """Every labeling project."""
    from loopml.labeling import list_projects

    return render(
        request,
        "labeling/projects.html",
        {"nav": "labeling", "title": "Labeling", "projects": list_projects(store=store)},
    )


@router.get("/labeling/{name}", response_class=HTMLResponse)
def overview_page(request: Request, store: StoreDep, name: str, same: bool = False) -> HTMLResponse:
    """A project: status, agreement per guideline version side by side, confusion heatmaps.

    ``same=1`` compares the versions on the same items only (those labeled under each).
    """
    p = _project(store, name)
    stats = p.agreement(common_items=same)
    heat = [{"version": s.version, "z": s.confusion} for s in stats if s.confusion]
    return render(
        request,
        "labeling/overview.html",
        {
            "nav": "labeling",
            "title": f"Labeling · {p.name}",
            "p": p,
            "status": p.status(),
            # Each count links to the page that lists exactly those entries.
            "to_review": len(p.review_queue(list(_REVIEW_KINDS), limit=None)),
            "to_check": len(p.review_queue(list(_ISSUE_KINDS), limit=None)),
            "stats": stats,
            "same": same,
            "annotators": p.annotators(),
            "page_data": script_json({"classes": list(p.classes), "heat": heat}),
        },
    )


@router.get("/labeling/{name}/annotate", response_class=HTMLResponse)
def annotate_page(
    request: Request,
    store: StoreDep,
    name: str,
    annotator: str | None = None,
    error: str | None = None,
    undone: str | None = None,
) -> HTMLResponse:
    """The annotator's queue: one item beside the guideline, driven by the keyboard.

    ``undone`` (set by the undo action) is the item whose label was taken back, empty when there
    was nothing to undo; the page says which.
    """
    p = _project(store, name)
    people = [a for a in p.annotators() if a["role"] == "annotator"]
    ctx: dict[str, Any] = {
        "nav": "labeling",
        "title": f"Annotate · {p.name}",
        "p": p,
        "annotator": annotator,
        "people": people,
        "error": error,
        "undone": undone,
    }
    if annotator:
        p._annotator(annotator)  # unknown annotator: a clear 404
        item = p.next_item(annotator)
        ctx["item"] = item
        ctx["counts"] = p.queue_counts(annotator)
        if p.guidelines():
            ctx["version"], ctx["guideline"] = _guideline_lines(p)
        if item is not None:
            ctx["view"] = _item_view(p, item.item_id)
            ctx["others"] = (
                [
                    r
                    for r in p.item_annotations(item.item_id, viewer=annotator)
                    if r["annotator"] != annotator
                ]
                if p.show_others
                else []
            )
    return render(request, "labeling/annotate.html", ctx)


async def _posted(
    request: Request, name: str, handle: Callable[[Store, str, dict[str, str]], RedirectResponse]
) -> RedirectResponse:
    """Parse the posted form, then run ``handle(store, name, form)`` off the event loop.

    The form is URL-encoded and parsed here, so no multipart library is needed; the handler
    writes to the store, which blocks, so it runs in the thread pool.
    """
    from urllib.parse import parse_qsl

    from starlette.concurrency import run_in_threadpool

    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    return await run_in_threadpool(handle, get_store(request), name, form)


def _number(text: str | None, kind: type) -> Any:
    try:
        return kind(text) if text not in (None, "") else None
    except ValueError:
        raise ValidationError(f"{text!r} is not a number") from None


@router.post("/labeling/{name}/annotate")
async def annotate_action(request: Request, name: str) -> RedirectResponse:
    """Label, skip or undo, then show the next item."""
    return await _posted(request, name, _annotate)


def _annotate(store: Store, name: str, form: dict[str, str]) -> RedirectResponse:
    from urllib.parse import quote, urlencode

    p = _project(store, name)
    annotator, action, item_id = (
        form.get("annotator", ""),
        form.get("action", ""),
        form.get("item_id", ""),
    )
    comment = form.get("comment", "").strip()
    error = None
    undone: str | None = None
    try:
        if action == "label":
            p.annotate(
                annotator,
                item_id,
                form.get("label") or None,
                seconds=_number(form.get("seconds"), float),
                flag=bool(comment),
                comment=comment or None,
                guideline_version=_number(form.get("version"), int),
            )
        elif action == "skip":
            p.skip(annotator, item_id)
        elif action == "undo":
            # Say what was taken back (the page shows it): the item id, or "" for nothing.
            undone = p.undo(annotator) or ""
        else:
            raise ValidationError(f"unknown action {action!r}; use label, skip or undo")
    except (ValidationError, ConflictError) as exc:
        error = str(exc)
    query = {"annotator": annotator, **({"error": error} if error else {})}
    if undone is not None and not error:
        query["undone"] = undone
    return _see(f"/labeling/{quote(p.name)}/annotate?{urlencode(query)}")


@router.get("/labeling/{name}/problems", response_class=HTMLResponse)
def problems_page(
    request: Request, store: StoreDep, name: str, version: int | None = None
) -> HTMLResponse:
    """Where the guideline is ambiguous: disagreements and flags by class pair."""
    p = _project(store, name)
    versions = [s.version for s in p.agreement()]
    groups = p.problems(version) if versions else []
    chosen = version or (versions[-1] if versions else None)
    return render(
        request,
        "labeling/problems.html",
        {
            "nav": "labeling",
            "title": f"Guideline problems · {p.name}",
            "p": p,
            "groups": groups,
            "versions": versions,
            "version": chosen,
        },
    )


@router.get("/labeling/{name}/guidelines", response_class=HTMLResponse)
def guidelines_page(request: Request, store: StoreDep, name: str) -> HTMLResponse:
    """Every guideline version, newest first, each with its diff from the one before."""
    p = _project(store, name)
    versions = p.guidelines()
    history = []
    for i, g in enumerate(versions):
        prev = versions[i - 1].text.splitlines() if i else []
        diff = (
            list(
                difflib.unified_diff(
                    prev,
                    g.text.splitlines(),
                    f"v{g.version - 1}",
                    f"v{g.version}",
                    lineterm="",
                    n=2,
                )
            )[2:]
            if i
            else []
        )
        history.append({"g": g, "diff": [{"kind": d[:1], "text": d} for d in diff]})
    return render(
        request,
        "labeling/guidelines.html",
        {"nav": "labeling", "title": f"Guidelines · {p.name}", "p": p, "history": history[::-1]},
    )


def _queue_page(
    request: Request,
    p: LabelingProject,
    kinds: list[str],
    title: str,
    which: str,
    consensus: int | None = None,
) -> HTMLResponse:
    entries = p.review_queue(kinds, limit=200)
    reviewers = [a["name"] for a in p.annotators() if a["role"] == "reviewer"]
    for e in entries:
        e["labels"] = p.item_annotations(e["item_id"])
    return render(
        request,
        "labeling/review.html",
        {
            "nav": "labeling",
            "title": f"{title} · {p.name}",
            "p": p,
            "entries": entries,
            "reviewers": reviewers,
            "which": which,
            "consensus": consensus,
        },
    )


@router.get("/labeling/{name}/review", response_class=HTMLResponse)
def review_page(
    request: Request, store: StoreDep, name: str, consensus: int | None = None
) -> HTMLResponse:
    """The adjudication queue: ties and low agreement, most disputed first.

    ``consensus`` (set after recomputing it) is the number of items it was computed on.
    """
    return _queue_page(
        request, _project(store, name), list(_REVIEW_KINDS), "Review queue", "review", consensus
    )


@router.get("/labeling/{name}/issues", response_class=HTMLResponse)
def issues_page(request: Request, store: StoreDep, name: str) -> HTMLResponse:
    """Suspected label errors (cleanlab), most suspicious first, with the reason recorded."""
    return _queue_page(request, _project(store, name), list(_ISSUE_KINDS), "Label issues", "issues")


@router.post("/labeling/{name}/adjudicate")
async def adjudicate_action(request: Request, name: str) -> RedirectResponse:
    """A reviewer's decision (an empty label dismisses the entry)."""
    return await _posted(request, name, _adjudicate)


def _adjudicate(store: Store, name: str, form: dict[str, str]) -> RedirectResponse:
    from urllib.parse import quote

    p = _project(store, name)
    p.adjudicate(form.get("item_id", ""), form.get("label") or None, form.get("reviewer", ""))
    return _see(
        f"/labeling/{quote(p.name)}/{'issues' if form.get('back') == 'issues' else 'review'}"
    )


@router.post("/labeling/{name}/consensus")
def consensus_action(store: StoreDep, name: str) -> RedirectResponse:
    """Recompute consensus (refreshes the tie and low-agreement entries of the review queue);
    the review page then says on how many items."""
    from urllib.parse import quote

    p = _project(store, name)
    n = len(p.consensus())
    return _see(f"/labeling/{quote(p.name)}/review?consensus={n}")
