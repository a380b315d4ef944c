"""Where a server may listen: the loopback check and the early port check every server shares
(the dashboard, the team server and the model server). Below every layer, like ``_errors``."""

from __future__ import annotations

import ipaddress
import socket

from loopml._errors import LoopmlError

__all__ = ["check_port", "is_loopback"]


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
