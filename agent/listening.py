"""A listening TCP socket, as the DNS process (53 and 853) and the dashboard open theirs."""

from __future__ import annotations

import socket


def listening_socket(host: str, port: int, backlog: int, blocking: bool = True) -> socket.socket:
    """A TCP socket listening on host:port, an IPv6 one on IPv6 only (so `[::]` and `0.0.0.0`
    can both be listened on). Raises OSError as `socket.bind` does; closes what it made."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
        sock.setblocking(blocking)
    except OSError:
        sock.close()
        raise
    return sock
