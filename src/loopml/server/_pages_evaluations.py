"""Evaluation pages: the overview a team decides from (metrics with intervals, the ceiling table,
discovered slices, the confusion matrix with drill-down to each cell's examples and their
labeling history) and the keyboard-driven error-tagging page.

Routes only call ``loopml.analysis`` and format what it returns; actions are form POSTs answered
with a redirect, so a reload never repeats one.
"""

from __future__ import annotations

import base64
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from loopml._errors import LoopmlError
from loopml.server._auth import can_see
from loopml.server._deps import get_store, render
from loopml.store import Store

if TYPE_CHECKING:
    from loopml.analysis import Evaluation

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
StoreDep = Annotated[Store, Depends(get_store)]
_IMAGE_MAGIC = {b"\x89PNG": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}
_SHOWN_COLUMNS = 12


def _evaluation(store: Store, ref: str) -> Evaluation:
    from loopml.analysis import get_evaluation

    return get_evaluation(ref, store=store)


def _view(ev: Evaluation, item_id: str) -> dict[str, Any]:
    """An example rendered as what it is: an image, a text, or its table row."""
    ex = ev.example(item_id)
    image = None
    text = None
    for value in ex["item"].values():
        if isinstance(value, bytes):
            kind = next((t for m, t in _IMAGE_MAGIC.items() if value.startswith(m)), None)
            if kind:
                image = f"data:{kind};base64,{base64.b64encode(value).decode()}"
                break
    if isinstance(ex["item"].get("text"), str):
        text = ex["item"]["text"]
    own = ("id", "truth", "prediction", "correct", "confidence", "loss", "error")
    fields = [(k, v) for k, v in ex["row"].items() if k not in own]
    return {
        "id": item_id,
        "row": ex["row"],
        "tags": ex["tags"],
        "image": image,
        "text": text,
        "fields": fields[:_SHOWN_COLUMNS],
        "more": max(0, len(fields) - _SHOWN_COLUMNS),
    }


@router.get("/evaluations", response_class=HTMLResponse)
def evaluations_page(request: Request, store: StoreDep) -> HTMLResponse:
    """Every evaluation, newest first."""
    from loopml.analysis import list_evaluations

    return render(
        request,
        "evaluations.html",
        {
            "nav": "evaluations",
            "title": "Evaluations",
            "evaluations": [
                e for e in list_evaluations(store=store) if can_see(request, run_id=e.record.run_id)
            ],
        },
    )


@router.get("/evaluations/{ref}", response_class=HTMLResponse)
def evaluation_page(
    request: Request,
    store: StoreDep,
    ref: str,
    sent: str | None = None,
    error: str | None = None,
    metric: str | None = None,
) -> HTMLResponse:
    """Metrics, ceiling table (in any of the evaluation's metrics: ``?metric=log_loss``),
    discovered slices and the confusion matrix of one evaluation."""
    from loopml.analysis import LOWER_IS_BETTER

    ev = _evaluation(store, ref)
    classification = ev.record.task == "classification"
    choices = ev.ceiling_metrics
    if metric not in choices:
        if metric:
            error = f"the ceiling table has no metric {metric!r}; choose one of {list(choices)}"
        metric = choices[0]
    slices = ev.discover_slices(k=5) if classification else None
    ceiling_tags = ev.ceiling(by="tags", metric=metric) if ev.tags() else None
    ceiling_slices = (
        ev.ceiling(by="slices", slices=list(slices["slice"]), metric=metric)
        if slices is not None and not slices.empty
        else None
    )
    confusion = ev.confusion() if classification and len(ev.record.classes) <= 30 else None
    return render(
        request,
        "evaluation.html",
        {
            "nav": "evaluations",
            "title": f"Evaluation · {ev.record.name}",
            "ev": ev,
            "dataset": ev.dataset,
            "slices": slices,
            "ceiling_tags": ceiling_tags,
            "ceiling_slices": ceiling_slices,
            "metric": metric,
            "metric_choices": choices,
            "lower_is_better": metric in LOWER_IS_BETTER,
            "error_threshold": (
                ceiling_tags.attrs.get("error_threshold") if ceiling_tags is not None else None
            ),
            "confusion": confusion,
            "max_cell": int(confusion.to_numpy().max()) if confusion is not None else 0,
            "requests": ev.labeling_requests(),
            "sent": sent,
            "error": error,
        },
    )


@router.get("/evaluations/{ref}/cell", response_class=HTMLResponse)
def cell_page(
    request: Request, store: StoreDep, ref: str, truth: str, prediction: str
) -> HTMLResponse:
    """The examples of one confusion cell, each linking to its labeling history."""
    ev = _evaluation(store, ref)
    rows = ev.cell(truth, prediction, limit=200)
    views = [_view(ev, i) for i in rows["id"].tolist()[:60]]
    return render(
        request,
        "evaluation_cell.html",
        {
            "nav": "evaluations",
            "title": f"truth {truth} · predicted {prediction}",
            "ev": ev,
            "truth": truth,
            "prediction": prediction,
            "total": len(rows),
            "views": views,
        },
    )


@router.get("/evaluations/{ref}/examples/{item_id}", response_class=HTMLResponse)
def example_page(request: Request, store: StoreDep, ref: str, item_id: str) -> HTMLResponse:
    """One example with its tags and its labeling history (who, which guideline version, votes)."""
    ev = _evaluation(store, ref)
    return render(
        request,
        "evaluation_example.html",
        {
            "nav": "evaluations",
            "title": f"Example {item_id}",
            "ev": ev,
            "view": _view(ev, item_id),
            "history": ev.labeling_history(item_id),
        },
    )


@router.get("/evaluations/{ref}/tag", response_class=HTMLResponse)
def tag_page(
    request: Request, store: StoreDep, ref: str, i: int = 0, error: str | None = None
) -> HTMLResponse:
    """The keyboard tagging page: one error at a time; 1-9 apply a tag (of any kind: by hand,
    by rule, automatic), n new tag, u undo, j/k move."""
    from loopml.analysis import AUTO_TAGS

    ev = _evaluation(store, ref)
    total = ev.n_errors
    i = max(0, min(i, max(total - 1, 0)))
    page = ev.errors(limit=1, offset=i)
    view = _view(ev, str(page["id"].iloc[0])) if not page.empty else None
    all_tags = ev.tags()
    # Hand tags first (the ones made on this page), then rule tags, then automatic ones.
    order = {"hand": 0, "rule": 1, "auto": 2}
    tags = sorted(all_tags, key=lambda t: (order.get(t.kind, 3), t.name))[:9]
    kinds = {t.name: t.kind for t in all_tags}
    have = set(kinds)
    can_auto = ev.record.task == "classification" and "probabilities" in ev.record.columns
    missing_auto = [a for a in AUTO_TAGS if a not in have] if can_auto else []
    return render(
        request,
        "evaluation_tag.html",
        {
            "nav": "evaluations",
            "title": f"Tag errors · {ev.record.name}",
            "ev": ev,
            "i": i,
            "total": total,
            "view": view,
            "tags": tags,
            "more_tags": max(0, len(all_tags) - len(tags)),
            "kinds": kinds,
            "missing_auto": missing_auto,
            "error": error,
        },
    )


@router.post("/evaluations/{ref}/tag")
async def tag_action(request: Request, ref: str) -> RedirectResponse:
    """Apply one action of the tagging page, then show the next error (or the same, on error).

    The URL-encoded form is parsed here (no multipart library); the store write runs in the
    thread pool, off the event loop.
    """
    from urllib.parse import parse_qsl

    from starlette.concurrency import run_in_threadpool

    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    return await run_in_threadpool(_tag_action, get_store(request), ref, form)


def _tag_action(store: Store, ref: str, form: dict[str, str]) -> RedirectResponse:
    from urllib.parse import quote

    ev = _evaluation(store, ref)
    base = f"/evaluations/{quote(ev.id)}/tag"
    try:
        i = int(form.get("i") or 0)
    except ValueError:
        i = 0
    action = form.get("action", "")
    try:
        if action == "tag":
            ev.tag(form.get("name", ""), [form.get("item_id", "")])
            return RedirectResponse(f"{base}?i={i + 1}", status_code=303)
        if action == "undo":
            ev.undo_tag()
            return RedirectResponse(f"{base}?i={max(i - 1, 0)}", status_code=303)
        if action == "auto":
            ev.auto_tag(form.get("name", ""))
            return RedirectResponse(f"{base}?i={i}", status_code=303)
        raise LoopmlError(f"unknown action {action!r}; the page sends 'tag', 'undo' or 'auto'")
    except LoopmlError as exc:
        return RedirectResponse(f"{base}?i={i}&error={quote(str(exc))}", status_code=303)


@router.post("/evaluations/{ref}/send")
async def send_action(request: Request, ref: str) -> RedirectResponse:
    """Send a tag, a slice or a confusion cell to labeling (the loop's edge), then come back."""
    from urllib.parse import parse_qsl

    from starlette.concurrency import run_in_threadpool

    body = (await request.body()).decode("utf-8", errors="replace")
    form = dict(parse_qsl(body, keep_blank_values=True))
    return await run_in_threadpool(_send_action, get_store(request), ref, form)


def _send_action(store: Store, ref: str, form: dict[str, str]) -> RedirectResponse:
    from urllib.parse import quote

    ev = _evaluation(store, ref)
    base = f"/evaluations/{quote(ev.id)}"
    kind, name = form.get("kind", ""), form.get("name", "")
    try:
        if kind == "tag":
            req = ev.send_to_labeling(tag=name)
        elif kind == "slice":
            req = ev.send_to_labeling(slice=name)
        elif kind == "cell":
            req = ev.send_to_labeling(cell=(form.get("truth", ""), form.get("prediction", "")))
        else:
            raise LoopmlError(f"unknown group kind {kind!r}; the page sends tag, slice or cell")
    except LoopmlError as exc:
        return RedirectResponse(f"{base}?error={quote(str(exc))}#requests", status_code=303)
    note = f"{len(req.item_ids)} items queued in {req.project} batch {req.batch}"
    return RedirectResponse(f"{base}?sent={quote(note)}#requests", status_code=303)
