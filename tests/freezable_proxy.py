"""A TCP proxy to PostgreSQL that can be frozen: no byte moves either way and no socket closes, which is
what a client sees of a server stopped with SIGSTOP. Used by tests/integration/test_store_faults.py and
bench/store_fault_bench.py (no pytest in here)."""

from __future__ import annotations

import contextlib
import socket
import threading


class FreezableProxy:
    """127.0.0.1:<port> -> PostgreSQL, byte for byte, until frozen."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self._upstream = upstream
        self._thawed = threading.Event()
        self._thawed.set()
        self._sockets: list[socket.socket] = []
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        threading.Thread(target=self._accept, daemon=True).start()

    def freeze(self) -> None:
        self._thawed.clear()

    def thaw(self) -> None:
        self._thawed.set()

    def close(self) -> None:
        self._thawed.set()
        for sock in [self._listener, *self._sockets]:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            self._thawed.wait()  # frozen: the connection is made (the kernel's backlog), nothing answers
            try:
                server = socket.create_connection(self._upstream)
            except OSError:
                client.close()
                continue
            self._sockets += [client, server]
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client), daemon=True).start()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._thawed.wait()  # frozen: hold the bytes, leave the sockets open
                target.sendall(data)
        except OSError:
            pass
        for sock in (source, target):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
