"""The worker factory: Nagle's algorithm off on the sockets uvicorn's workers inherit."""

from __future__ import annotations

import socket

from hukou.service.main import no_delay_on_inherited_listeners


def _nodelay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_bound_and_listening_sockets_get_tcp_nodelay_and_pass_it_on() -> None:
    bound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # protocol 0, as uvicorn's
    bound.bind(("127.0.0.1", 0))  # bound, not yet listening: as a worker receives it
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    client = socket.create_connection(listening.getsockname())
    accepted, _ = listening.accept()
    unbound = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        assert _nodelay(bound) == 0 and _nodelay(listening) == 0 and _nodelay(client) == 0
        assert no_delay_on_inherited_listeners() >= 2
        assert _nodelay(bound) and _nodelay(listening)
        assert _nodelay(client) == 0 and _nodelay(unbound) == 0  # connections: left alone
        bound.listen()
        other = socket.create_connection(bound.getsockname())
        served, _ = bound.accept()
        assert _nodelay(served)  # Linux copies it to the accepted connection
        for s in (other, served):
            s.close()
    finally:
        for s in (bound, listening, client, accepted, unbound):
            s.close()
