"""Browser-test fixtures: a real uvicorn server on a free loopback port, headless Chromium.

Reusable by any capability's pages (labeling, registry...):

- ``live_server``: ``LiveServer(url, store)`` serving ``create_app(store)`` from a thread; the
  store is seeded once per module (override ``seed_store`` in your test module to seed yours).
- ``page``: a fresh 1280x800 page. The test fails on any console error, uncaught page error,
  JavaScript dialog (``alert`` from injected HTML) or request that leaves loopback, and a
  screenshot is saved to ``test-artifacts/browser/<test>.png`` when the test fails.
- ``doc_shot(page, name)``: with ``LOOPML_SCREENSHOTS=<dir>`` set, saves a screenshot for the
  docs (``LOOPML_SCREENSHOTS=docs/screenshots pytest -m browser``); otherwise does nothing.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
VIEWPORT = {"width": 1280, "height": 800}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "browser_tests" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[Any]) -> Iterator[None]:
    # Keep each phase's report on the item so fixtures can tell whether the test failed.
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"report_{report.when}", report)


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class LiveServer:
    """A dashboard served by uvicorn on ``url``, over ``store``."""

    url: str
    store: Any
    session: Any
    seeded: Any = None


@pytest.fixture(scope="module")
def seed_store() -> Callable[[Path], Any]:
    """What to log into the server's store (module-wide); returns whatever tests need."""
    from tests.server_tests._seed import seed

    return seed


@pytest.fixture(scope="module")
def live_server(
    tmp_path_factory: pytest.TempPathFactory, seed_store: Callable[[Path], Any]
) -> Iterator[LiveServer]:
    """uvicorn serving the dashboard from a thread, on a seeded store of its own."""
    import uvicorn

    from loopml._config import Settings
    from loopml.server import create_app
    from loopml.tracking import Session, set_default_session

    tmp = tmp_path_factory.mktemp("live")
    session = Session(Settings(data_dir=tmp / "data", flush_interval=0.05))
    set_default_session(session)
    try:
        seeded = seed_store(tmp)
    finally:
        set_default_session(None)
    port = free_port()
    app = create_app(session.store, allowed_hosts=["127.0.0.1", "localhost"])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the dashboard server did not start")
        time.sleep(0.02)
    yield LiveServer(f"http://127.0.0.1:{port}", session.store, session, seeded)
    server.should_exit = True
    thread.join(timeout=10)
    session.shutdown()
    session.store.close()


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium driven by Playwright (no browser download)."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer, request: pytest.FixtureRequest) -> Iterator[Any]:
    """A fresh page; the test fails on console errors, page errors, dialogs or off-host requests."""
    context = browser.new_context(viewport=VIEWPORT, base_url=live_server.url)
    pg = context.new_page()
    problems: list[str] = []

    def on_console(msg: Any) -> None:
        if msg.type == "error":
            problems.append(f"console error: {msg.text}")

    def on_route(route: Any) -> None:
        host = urlparse(route.request.url).hostname
        if host not in ("127.0.0.1", "localhost") and not route.request.url.startswith("data:"):
            problems.append(f"request left loopback: {route.request.url}")
            route.abort()
        else:
            route.continue_()

    pg.on("console", on_console)
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on("dialog", lambda d: (problems.append(f"dialog opened: {d.message}"), d.dismiss()))
    pg.route("**/*", on_route)
    pg.set_default_timeout(15_000)
    yield pg
    failed = getattr(request.node, "report_call", None)
    if (failed is not None and failed.failed) or problems:
        out = Path(request.config.rootpath) / "test-artifacts" / "browser"
        out.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(out / f"{request.node.name}.png"), full_page=True)
    context.close()
    if problems:
        pytest.fail("\n".join(problems), pytrace=False)


@pytest.fixture
def doc_shot(request: pytest.FixtureRequest) -> Callable[[Any, str], None]:
    """``doc_shot(page, name)`` saves ``<LOOPML_SCREENSHOTS>/<name>.png`` when that is set.

    A relative folder is taken from the repository root (tests run in a temporary folder).
    """
    target = os.environ.get("LOOPML_SCREENSHOTS")
    folder = Path(request.config.rootpath) / target if target else None

    def shoot(pg: Any, name: str) -> None:
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            pg.screenshot(path=str(folder / f"{name}.png"))

    return shoot
