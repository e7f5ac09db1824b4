"""The service as an importable factory, for uvicorn workers (``hukou serve --workers N``)."""

from __future__ import annotations

import os
import socket
import sys

from fastapi import FastAPI

from hukou.registry.db import SchemaError, check_schema, make_engine, session_factory
from hukou.registry.service import Registry
from hukou.service.app import create_app


def _server_socket(sock: socket.socket) -> bool:
    """A TCP socket bound to a port, with no peer: listening, or about to (uvicorn's workers
    get it bound and call ``listen`` themselves, after the app is made)."""
    if sock.family not in (socket.AF_INET, socket.AF_INET6) or sock.type != socket.SOCK_STREAM:
        return False
    try:
        sock.getpeername()
    except OSError:
        return bool(sock.getsockname()[1])
    return False


def no_delay_on_inherited_listeners() -> int:
    """Turn Nagle's algorithm off on the listening TCP sockets this process holds.

    With ``--workers N`` uvicorn binds the socket itself, with protocol 0, and asyncio turns
    Nagle's algorithm off only on connections whose protocol says TCP. A response is two
    writes (head, body); with Nagle on, the body waits for the client's delayed ACK — 40 ms
    a response. Linux copies TCP_NODELAY from a listening socket to the connections it
    accepts, so it is set there, once, in each worker. Returns how many sockets it set."""
    done = 0
    for name in os.listdir("/proc/self/fd") if os.path.isdir("/proc/self/fd") else ():
        try:
            sock = socket.socket(fileno=os.dup(int(name)))
        except OSError:
            continue  # not a socket, or already closed
        try:
            if _server_socket(sock):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                done += 1
        finally:
            sock.close()  # the duplicate only
    return done


def app_factory() -> FastAPI:
    """The app on the register that ``HUKOU_DATABASE_URL`` names. A register whose schema
    is not the newest (never migrated, or older) is refused — exit status 2, naming the
    command to run — rather than served to answer 500 at the first query."""
    try:
        check_schema()
    except SchemaError as exc:
        sys.stderr.write(f"hukou: {exc.zh}\nhukou: {exc.en}\n")
        raise SystemExit(2) from None
    no_delay_on_inherited_listeners()
    # audit records are sealed by a thread of each worker, not in the request's time
    return create_app(Registry(session_factory(make_engine()), background_seal=True))
