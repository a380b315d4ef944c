"""Static files: content-hashed URLs, gzip, and cache headers that let a browser keep them.

Pages link ``asset("app.js")``, which is ``/static/<hash>/app.js``: the hash is of the file's
content, so the browser may keep it for a year without asking again (``immutable``), and an
edited file gets a new URL. Each file is gzip-compressed once and kept in memory (Plotly's bundle
goes over the wire at about a third of its size). The plain ``/static/<name>`` URLs still work,
with revalidation (``no-cache`` and an ETag) instead of the long cache.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.responses import Response

from loopml._errors import LoopmlError, NotFoundError

__all__ = ["IMMUTABLE", "PLOTLY", "asset_url", "load", "plotly_js_path", "router"]

router = APIRouter(include_in_schema=False)

STATIC_DIR = Path(__file__).parent / "static"
PLOTLY = "plotly.min.js"
IMMUTABLE = "public, max-age=31536000, immutable"
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


def plotly_js_path() -> Path:
    """The Plotly.js bundle the pages load: the partial one shipped in ``static/`` (scatter,
    bar, heatmap and parcoords only; see ``static/plotly.README.md``), else the full bundle of the
    installed ``plotly`` package. Never fetched online."""
    vendored = STATIC_DIR / "plotly-loopml.min.js"
    if vendored.is_file():
        return vendored
    import plotly

    path = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise LoopmlError(
            f"plotly.min.js is missing from the plotly package at {path}; reinstall it: "
            "pip install --force-reinstall plotly"
        )
    return path


@dataclass(frozen=True)
class Asset:
    """One static file: its bytes, gzip-compressed bytes, content hash and media type."""

    body: bytes
    gzipped: bytes
    digest: str
    media_type: str


_cache: dict[str, tuple[int, Asset]] = {}
_lock = threading.Lock()


def _path(name: str) -> Path:
    if name == PLOTLY:
        return plotly_js_path()
    path = STATIC_DIR / name
    # Only plain files directly in static/ with a known type: no ``..``, no folders.
    if "/" in name or "\\" in name or name.startswith(".") or path.suffix not in _TYPES:
        raise NotFoundError(f"no static file {name!r}")
    if not path.is_file():
        raise NotFoundError(f"no static file {name!r}")
    return path


def load(name: str) -> Asset:
    """The static file ``name`` (read and compressed once, again only when the file changes)."""
    path = _path(name)
    mtime = path.stat().st_mtime_ns
    with _lock:
        hit = _cache.get(name)
        if hit is not None and hit[0] == mtime:
            return hit[1]
        body = path.read_bytes()
        asset = Asset(
            body=body,
            gzipped=gzip.compress(body, compresslevel=6, mtime=0),
            digest=hashlib.sha256(body).hexdigest()[:12],
            media_type=_TYPES.get(Path(name).suffix, "application/octet-stream"),
        )
        _cache[name] = (mtime, asset)
        return asset


def asset_url(name: str) -> str:
    """The content-hashed URL of static file ``name`` (``/static/<hash>/<name>``)."""
    return f"/static/{load(name).digest}/{name}"


def _respond(request: Request, asset: Asset, cache_control: str) -> Response:
    etag = f'"{asset.digest}"'
    headers = {"Cache-Control": cache_control, "ETag": etag, "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.get("/static/{digest}/{name}")
def hashed_file(request: Request, digest: str, name: str) -> Response:
    """A static file by content hash: cached for a year when the hash is the current one."""
    asset = load(name)
    # A page cached before the file changed asks for the old hash: serve the current file, but
    # do not let the browser keep it under that URL.
    return _respond(request, asset, IMMUTABLE if digest == asset.digest else "no-cache")


@router.get("/static/{name}")
def plain_file(request: Request, name: str) -> Response:
    """A static file by its plain name, revalidated on each use (ETag)."""
    return _respond(request, load(name), "no-cache")
