"""Local servers for network-input tests, on 127.0.0.1 only, started and stopped by the test.

:func:`serve_folder` is an HTTP server for a folder; :func:`tcp_feeder` sends the same bytes
to every TCP client, with a hook that lets a test act at the moment a client connects (and
hold the client there: vsr then sits inside that job, deterministically, for as long as
the test needs) and one after the bytes were sent (to hold a client that has half a file).
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import socket
import threading
from pathlib import Path
from typing import Callable, Iterator

__all__ = ["serve_folder", "tcp_feeder"]


@contextlib.contextmanager
def serve_folder(folder: Path, requests: list[tuple[str, str]] | None = None) -> Iterator[str]:
    """Serve ``folder`` over HTTP on 127.0.0.1 (a free port) while the ``with`` block runs.

    Args:
        requests: if given, ``(path, User-Agent)`` of every request is appended to it.

    Yields:
        The base URL, ``http://127.0.0.1:PORT`` (no trailing slash).
    """

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args, **kwargs) -> None:
            if requests is not None:
                requests.append((self.path, self.headers.get("User-Agent", "")))

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@contextlib.contextmanager
def tcp_feeder(data: bytes, before_send: Callable[[int], bytes | None] = lambda i: None,
               after_send: Callable[[int], None] = lambda i: None) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that writes ``data`` to each client, then closes the connection.

    Args:
        before_send: called with the connection's index (0, 1, ...) once a client has
            connected and before anything is sent; it may block (the client then waits),
            and it may return bytes to send to this client instead of ``data``.
        after_send: called with the connection's index after the bytes were sent, before the
            connection closes; it may block (the client has part of a file and waits for more).

    Yields:
        ``tcp://127.0.0.1:PORT``.
    """
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    srv.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        index = 0
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except socket.timeout:
                continue
            except OSError:  # closed: the test is over
                return
            conn.settimeout(None)
            with conn:
                payload = before_send(index)
                with contextlib.suppress(OSError):  # a prober may hang up after the first frame
                    conn.sendall(data if payload is None else payload)
                after_send(index)
                index += 1

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        srv.close()
        thread.join(timeout=10)
