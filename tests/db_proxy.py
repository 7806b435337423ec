"""A TCP proxy between a replica and its database that a test can cut and restore.

The PostgreSQL server is shared (by other tests, other checkouts, benchmarks), so a test
never stops it: a replica whose --db goes through this proxy loses its database when the
proxy cuts every connection and refuses new ones, as a network partition or a database
restart looks from the replica's side.

    with DatabaseProxy("127.0.0.1", 5432) as proxy:
        url = proxy.url_for(db_url)     # the same database, through the proxy
        proxy.cut()                     # connections dropped, new ones refused
        proxy.restore()
        proxy.freeze()                  # connections kept open, nothing passes (a stalled network)
        proxy.thaw()
"""

from __future__ import annotations

import contextlib
import socket
import threading
from types import TracebackType

from sqlalchemy.engine import make_url


class DatabaseProxy:
    def __init__(self, host: str, port: int) -> None:
        self.upstream = (host, port)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._listener.getsockname()[1])
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._down = False
        self._closed = False
        self._flowing = threading.Event()
        self._flowing.set()
        threading.Thread(target=self._accept, name="db-proxy", daemon=True).start()

    @classmethod
    def of(cls, db_url: str) -> DatabaseProxy:
        url = make_url(db_url)
        return cls(url.host or "127.0.0.1", url.port or 5432)

    def url_for(self, db_url: str) -> str:
        """``db_url`` with its host and port replaced by the proxy's."""
        return make_url(db_url).set(host="127.0.0.1", port=self.port).render_as_string(hide_password=False)

    def cut(self) -> None:
        """Drop every connection through the proxy; refuse new ones until :meth:`restore`."""
        with self._lock:
            self._down = True
            for sock in self._sockets:
                _shut(sock)
            self._sockets.clear()

    def restore(self) -> None:
        with self._lock:
            self._down = False

    def freeze(self) -> None:
        """Pass nothing on, in either direction, keeping every connection open."""
        self._flowing.clear()

    def thaw(self) -> None:
        self._flowing.set()

    def close(self) -> None:
        self._closed = True
        self.thaw()
        self.cut()
        self._listener.close()

    def __enter__(self) -> DatabaseProxy:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.close()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            with self._lock:
                down = self._down
            if down:
                _shut(client)
                continue
            try:
                server = socket.create_connection(self.upstream, timeout=5)
                server.settimeout(None)
            except OSError:
                _shut(client)
                continue
            with self._lock:
                self._sockets.update((client, server))
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(source, target), daemon=True).start()

    def _pipe(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                self._flowing.wait()
                target.sendall(data)
        except OSError:
            pass
        finally:
            _shut(source)
            _shut(target)
            with self._lock:
                self._sockets.discard(source)
                self._sockets.discard(target)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()
