"""A real webhook receiver on loopback whose answers a test scripts.

    with Receiver() as receiver:
        receiver.will(Answer(500), Answer(200))
        ... deliver to receiver.url ...
        receiver.requests  # what arrived: headers and exact body bytes

It listens on 127.0.0.1 only, on the first free port of PORTS.
"""

import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

PORTS = range(8401, 8420)


@dataclass
class Answer:
    """Reply with this status, body and headers, after `delay` seconds."""

    status: int = 200
    body: bytes = b"ok"
    headers: dict = field(default_factory=dict)
    delay: float = 0


@dataclass
class Trickle:
    """Send the status line and headers, then the body one byte per `every` s."""

    every: float = 0.2
    body: bytes = b"x" * 100


@dataclass
class TrickleHead:
    """Send even the status line one byte per `every` s (headers never finish)."""

    every: float = 0.2


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes
    at: float


class Receiver:
    """`tls`: (certificate file, key file) to answer over HTTPS as `localhost`."""

    def __init__(self, tls=None):
        self.tls = tls
        self.requests = []
        self._answers = []
        self._sockets = []
        self._lock = threading.Lock()
        self._server = None

    def will(self, *answers):
        """Queue answers; once used up, every request gets Answer(200)."""
        with self._lock:
            self._answers.extend(answers)

    @property
    def port(self):
        return self._server.server_address[1]

    @property
    def url(self):
        if self.tls:
            return f"https://localhost:{self.port}/hook"
        return f"http://127.0.0.1:{self.port}/hook"

    @property
    def connections(self):
        """How many connections senders opened to this receiver."""
        with self._lock:
            return len(self._sockets)

    def drop_connections(self):
        """Close every open connection, as a receiver ending idle keep-alives does."""
        with self._lock:
            sockets = list(self._sockets)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def __enter__(self):
        self._server = _bind(self)
        if self.tls:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(*self.tls)
            self._server.socket = context.wrap_socket(
                self._server.socket, server_side=True
            )
        thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        thread.start()
        return self

    def __exit__(self, *exc):
        self._server.shutdown()
        self._server.server_close()
        # Keep-alive connections outlive the server; close them so a client's
        # pooled connection cannot reach this receiver after it has stopped.
        self.drop_connections()

    def next_answer(self):
        with self._lock:
            return self._answers.pop(0) if self._answers else Answer()

    def opened(self, sock):
        with self._lock:
            self._sockets.append(sock)

    def keep(self, received):
        with self._lock:
            self.requests.append(received)


class _Server(ThreadingHTTPServer):
    # The default backlog of 5 drops connections a sender opens at once.
    request_queue_size = 64


def _bind(receiver):
    handler = type("Handler", (_Handler,), {"receiver": receiver})
    for port in PORTS:
        try:
            server = _Server(("127.0.0.1", port), handler)
        except OSError:
            continue
        server.daemon_threads = True
        return server
    raise RuntimeError(f"No free port in {PORTS.start}-{PORTS.stop - 1}")


class _Handler(BaseHTTPRequestHandler):
    receiver = None
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        # Headers and body go in two writes: without this the body waits for
        # the sender's delayed ACK (40 ms), as behind a naive real receiver.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.receiver.opened(self.connection)

    def log_message(self, *args):
        pass

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        self.receiver.keep(Received(self.path, headers, body, time.monotonic()))
        answer = self.receiver.next_answer()
        try:
            _ANSWERS[type(answer)](self, answer)
        except (TimeoutError, BrokenPipeError, ConnectionResetError):
            pass  # the sender gave up first, as a deadline should make it

    def answer(self, answer):
        time.sleep(answer.delay)
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.write(answer.body)

    def trickle(self, answer):
        self.send_response(200)
        self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.flush()
        for byte in answer.body:
            time.sleep(answer.every)
            self.wfile.write(bytes([byte]))
            self.wfile.flush()

    def trickle_head(self, answer):
        for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"y" * 200:
            time.sleep(answer.every)
            self.wfile.write(bytes([byte]))
            self.wfile.flush()
        self.close_connection = True


_ANSWERS = {
    Answer: _Handler.answer,
    Trickle: _Handler.trickle,
    TrickleHead: _Handler.trickle_head,
}
