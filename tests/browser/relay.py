"""Small TCP servers for the browser tests' proxies: a listener on a free loopback port that
hands each connection to its own thread, and a byte pump between two sockets."""

from __future__ import annotations

import socket
import threading


class Listener:
    """Accepts connections on 127.0.0.1 (``port``) and calls ``handle(client)`` for each in a
    thread of its own. Subclasses set their attributes before calling ``__init__``."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            threading.Thread(target=self.handle, args=(client,), daemon=True).start()

    def handle(self, client: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.listener.close()


def pump(source: socket.socket, sink: socket.socket, *, close_both: bool = False) -> None:
    """Copy ``source`` to ``sink`` until ``source`` ends, then shut ``sink`` for writing (or,
    with ``close_both``, both sockets for good, which also ends the opposite pump)."""
    try:
        while data := source.recv(65536):
            sink.sendall(data)
    except OSError:
        pass
    finally:
        if close_both:
            ends = [(source, socket.SHUT_RDWR), (sink, socket.SHUT_RDWR)]
        else:
            ends = [(sink, socket.SHUT_WR)]
        for end, how in ends:
            try:
                end.shutdown(how)
            except OSError:
                pass
