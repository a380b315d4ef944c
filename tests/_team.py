"""A team server for tests: ``create_team_app`` on a store, served by uvicorn in a thread."""

from __future__ import annotations

import socket
import threading
import time
from typing import Any

from loopml.server import create_team_app
from loopml.store import Store


class ServerThread:
    """uvicorn serving ``app`` on a free loopback port until ``stop()``."""

    def __init__(self, app: Any, port: int = 0) -> None:
        import uvicorn

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="error", lifespan="off")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the test server did not start")
            time.sleep(0.01)

    def stop(self) -> None:
        """Stop serving and wait for the thread."""
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.sock.close()


class TeamServer:
    """A team server over ``store`` with an admin user and token."""

    def __init__(self, store: Store, max_body: int = 64 * 1024 * 1024) -> None:
        self.store = store
        self.app = create_team_app(store, max_body=max_body)
        if "admin" not in {u.name for u in store.users.list_users()}:
            store.users.add("admin", "admin")  # token only: argon2 is slow on purpose
        self.admin_token = store.users.create_token("admin", "tests")
        self.thread = ServerThread(self.app)
        self.url = self.thread.url

    def stop(self) -> None:
        """Stop the server."""
        self.thread.stop()

    def restart(self) -> None:
        """Serve again on the same port (after ``stop``)."""
        self.thread = ServerThread(self.app, self.thread.port)
