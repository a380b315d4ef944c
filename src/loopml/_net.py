"""Where a server may listen: the loopback check and the early port check every server shares
(the dashboard, the team server and the model server), and the socket a server's worker
processes each listen on. Below every layer, like ``_errors``."""

from __future__ import annotations

import ipaddress
import socket
import sys
from typing import Any

from loopml._errors import LoopmlError

__all__ = ["check_port", "is_loopback", "worker_socket"]

# uvicorn's exit status for a worker that failed before serving: its supervisor then stops
# instead of restarting a worker that would fail the same way.
_STARTUP_FAILURE = 3


def is_loopback(host: str) -> bool:
    """True when ``host`` names this machine only (127.0.0.0/8, ::1, localhost)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int, *, reuse_address: bool = False) -> int:
    """``port`` if it can be bound on ``host`` (a free one for 0); a readable error if not.

    ``reuse_address`` binds as uvicorn does (SO_REUSEADDR), so a restart right after a crash is
    not refused for the old connections still in TIME_WAIT.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        if reuse_address:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            raise LoopmlError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); another program may be "
                "using it: pick another port with --port N (or --port 0 for any free one)"
            ) from None
        return int(s.getsockname()[1])


def worker_socket(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port`` (not listening) to hand to a server's worker processes.

    Workers that share one listening socket do not share its connections: the worker whose
    event loop wakes first accepts every connection waiting (asyncio and uvloop accept all of
    them in one go), so 32 keep-alive clients that connect at once can all land on one worker
    and leave the others idle for as long as they stay connected. On Linux this socket is
    bound with SO_REUSEPORT and, handed to a worker process the way uvicorn does it
    (pickled into a spawned process), arrives there as a new socket of that worker's own on
    the same address; the worker listens on it once it is ready, and the kernel spreads new
    connections over the ready workers' sockets by a hash of the client's address and port.
    This one stays bound in the parent and never listens (so it gets no connections): it
    holds the port while workers restart, and a port of 0 becomes a fixed one for all. On
    other systems (where SO_REUSEPORT does not spread connections) the workers share it.

    SO_REUSEPORT lets another socket of the same user bind the same port too, so check first
    that the port is free with :func:`check_port` (without ``reuse_address``), as ``serve`` does.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    spread = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
    sock = (_PortHolder if spread else socket.socket)(family, socket.SOCK_STREAM)
    try:
        _bind(sock, (host, port), reuse_port=spread)
    except OSError as exc:
        sock.close()
        raise LoopmlError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); another program may be "
            "using it: pick another port with --port N (or --port 0 for any free one)"
        ) from None
    sock.set_inheritable(True)
    return sock


def _bind(sock: socket.socket, address: Any, *, reuse_port: bool) -> None:
    # SO_REUSEADDR as uvicorn binds: a restart right after a crash is not refused for the old
    # connections still in TIME_WAIT.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)


class _PortHolder(socket.socket):
    """The parent's socket from :func:`worker_socket`: pickled, it becomes the worker's own."""

    def __reduce__(self) -> tuple[Any, ...]:
        # By value, not the file descriptor (which multiprocessing would duplicate for a
        # plain socket): the unpickling worker binds its own socket on the same address.
        return (_own_socket, (int(self.family), self.getsockname()))


def _own_socket(family: int, address: Any) -> socket.socket:
    """In a worker process: its own SO_REUSEPORT socket on the parent's address (not listening:
    its server listens once its app has started)."""
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        _bind(sock, address, reuse_port=True)
    except OSError as exc:
        sock.close()
        # The parent holds the port with SO_REUSEPORT, so only another user's program could
        # be in the way: say so, and stop rather than be restarted over and over.
        print(f"loopml: a worker cannot listen on {address}: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(_STARTUP_FAILURE) from None
    sock.set_inheritable(True)
    return sock
