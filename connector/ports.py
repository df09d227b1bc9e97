"""Ports: whether one is free on an address, and which free one to recommend.

"Free" is checked by binding, never guessed; the answer can still be stale a moment
later, which is why ``serve`` reports a taken port instead of crashing: it exits with
:data:`EXIT_PORT_TAKEN`, which the desktop app reads instead of the English message.
"""

from __future__ import annotations

import socket

SCAN_SPAN = 100
# ``serve``'s exit code when its port is taken (one of the CLI's exit codes).
EXIT_PORT_TAKEN = 7


def is_port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True when ``host:port`` can be bound right now."""
    if not 0 < port < 65536:
        return False
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        if hasattr(socket, "SO_EXCLUSIVEADDRUSE"):  # Windows: refuse to share a port
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_EXCLUSIVEADDRUSE, 1)
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True


def recommend_port(start: int = 7800, host: str = "127.0.0.1") -> int:
    """The first free port from ``start`` on (within 100), else one the OS picks."""
    for port in range(max(start, 1024), min(max(start, 1024) + SCAN_SPAN, 65536)):
        if is_port_free(port, host):
            return port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])
