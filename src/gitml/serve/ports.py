"""Is the port free? Asked before the model is loaded, so a clash is one clear line at once.

uvicorn finds out only when it binds, after the model has been verified and loaded, and then
exits with its own code 3 and a log line. The check binds the address the way uvicorn will
(SO_REUSEADDR, as uvicorn sets it) and lets it go; a server that takes the port in between is
still reported by uvicorn.
"""

from __future__ import annotations

import socket

from gitml.errors import UnavailableError


def check_port(host: str, port: int) -> None:
    """UnavailableError (exit 3) naming the address and the fix when `host:port` is taken."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)
    except socket.gaierror as exc:
        raise UnavailableError(f"--host {host}: cannot listen there ({exc.strerror})") from None
    family, kind, proto, _, address = infos[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise UnavailableError(
                f"port {port} on {host} is in use ({exc.strerror}): another server (an earlier "
                f"`gitml serve`?) is listening there; stop it, or pass --port with a free port"
            ) from None
