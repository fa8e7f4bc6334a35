"""The one HTTP client webhooks are sent with.

Every request goes to an address netguard has checked: the connection dials
that address, never the host name, so no second DNS lookup happens, while
the Host header, TLS SNI and certificate check still use the host name.

Every socket operation (connect, TLS handshake, each read and write) is
given at most what is left of the request's total deadline, so a receiver
that trickles its status line or body one byte at a time still releases the
worker on time. Redirects are not followed, proxies from the environment are
ignored, at most RESPONSE_LIMIT bytes of the body are read and at most
HEAD_LIMIT bytes of status line and headers.

It is the standard library's http.client over sockets this module opens:
against a nearby receiver, httpx (and httpcore beneath it) spent two to
three times the CPU per request that http.client does, and one worker's
delivery rate is bounded by its CPU (bench/README.md). Connections are kept
alive per checked address and reused by one request at a time.
"""

import http.client
import ipaddress
import select
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import quote, urlsplit

import certifi
import idna
from django.conf import settings

USER_AGENT = "Rutterdash-Webhooks/1.0"
RESPONSE_LIMIT = 16 * 1024
# Status line and headers; http.client alone would accept 100 lines of 64 KB.
HEAD_LIMIT = 64 * 1024
# http.client's own limit on header lines (it has no setting for it).
HEAD_LINES_LIMIT = 100
MAX_RESPONSE_HEADERS = 50
HEADER_VALUE_LIMIT = 300
# An idle kept-alive connection older than this is closed, not reused.
KEEPALIVE_SECONDS = 5.0
IDLE_PER_ADDRESS = 16


@dataclass
class Reply:
    """What came back from one request; status_code is None if nothing did."""

    status_code: int | None = None
    headers: dict = field(default_factory=dict)
    body: bytes = b""
    error: str = ""
    duration_ms: int = 0

    @property
    def succeeded(self):
        return self.status_code is not None and 200 <= self.status_code < 300


class _Deadline(Exception):
    """The request's total deadline passed (or its connect timeout, if connecting)."""


class _HeadTooLarge(Exception):
    pass


def post(target, url, body, headers):
    """POST body to url, connecting to target.address; never raises for the network."""
    started = time.monotonic()
    deadline = started + settings.WEBHOOK_TOTAL_TIMEOUT
    reply = Reply()
    try:
        _exchange(target, url, body, headers, deadline, reply)
    except _ConnectTimeout:
        reply.error = (
            f"Timed out connecting after {settings.WEBHOOK_CONNECT_TIMEOUT:g} s."
        )
    except (_Deadline, TimeoutError):
        reply.error = (
            f"No complete response within {settings.WEBHOOK_TOTAL_TIMEOUT:g} s."
        )
    except _ConnectFailed as error:
        reply.error = _sentence(f"Could not connect: {error.__cause__ or error}")
    except _HeadTooLarge:
        reply.error = (
            "The response's headers were too long "
            f"(over {HEAD_LIMIT // 1024} KB or {HEAD_LINES_LIMIT} lines)."
        )
    except (OSError, http.client.HTTPException, ValueError) as error:
        reply.error = _sentence(f"Request failed: {_reason(error)}")
    finally:
        reply.duration_ms = int((time.monotonic() - started) * 1000)
    return reply


def _exchange(target, url, body, headers, deadline, reply):
    connection, reused = _pool.take(target, deadline)
    # http.client lets go of the socket when the answer says it will close.
    sock = connection.sock
    try:
        try:
            response = _send(connection, target, url, body, headers)
        except _STALE:
            if not reused:
                raise
            # Most likely the receiver closed the idle connection as we
            # reused it; send once more on a fresh one (at worst a
            # duplicate, which at-least-once delivery allows).
            connection.close()
            connection = _pool.open(target, deadline)
            sock = connection.sock
            response = _send(connection, target, url, body, headers)
        reply.status_code = response.status
        reply.headers = _kept_headers(response.msg)
        sock.head_done()
        reusable = _read_some(response, reply)
    except BaseException:
        connection.close()
        raise
    if reusable:
        _pool.give_back(connection)
    else:
        response.close()
        connection.close()


_STALE = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


def _send(connection, target, url, body, headers):
    connection.putrequest("POST", _path(url), skip_host=True, skip_accept_encoding=True)
    fixed = {
        "Host": _host_header(target),
        "Accept": "*/*",
        "Accept-Encoding": "identity",
        "Connection": "keep-alive",
        "User-Agent": USER_AGENT,
        "Content-Length": str(len(body)),
    }
    for name, value in fixed.items():
        connection.putheader(name, value)
    for name, value in headers.items():
        if name.lower() not in _FIXED_HEADERS:
            connection.putheader(name, value)
    # Headers and body leave in one write (no delayed-ACK stall between them).
    connection.endheaders(body)
    try:
        return connection.getresponse()
    except http.client.HTTPException as error:
        if _head_too_long(error):
            raise _HeadTooLarge() from error
        raise


def _head_too_long(error):
    """Whether http.client gave up on the head: a line over 64 KB, or 100 lines."""
    # Both are told apart only by their text; a long chunk-size line is not one.
    if isinstance(error, http.client.LineTooLong):
        return str(error).endswith(("header line", "status line"))
    bare = type(error) is http.client.HTTPException
    return bare and str(error).endswith(" headers")


_FIXED_HEADERS = frozenset(
    {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}
)


def _read_some(response, reply):
    """Read into reply.body up to RESPONSE_LIMIT; True if the connection may be reused.

    What arrived stays in reply.body when the deadline cuts the body off.
    """
    body = bytearray()
    try:
        while len(body) < RESPONSE_LIMIT:
            chunk = response.read1(RESPONSE_LIMIT - len(body))
            if not chunk:
                break
            body += chunk
    except (_Deadline, TimeoutError):
        reply.error = "The response body was still arriving at the deadline."
        return False
    except http.client.IncompleteRead:
        return False
    finally:
        reply.body = bytes(body)
    if response.length == 0:
        response.close()  # all of it read: what read() would do at the end
    return response.isclosed() and not response.will_close


def _kept_headers(message):
    """Response headers by lower-case name, repeated ones joined with commas."""
    kept = {}
    for name, value in message.items():
        name = name.lower()
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    items = list(kept.items())[:MAX_RESPONSE_HEADERS]
    return {name: value[:HEADER_VALUE_LIMIT] for name, value in items}


def _path(url):
    """The request target, with characters outside ASCII percent-encoded."""
    parts = urlsplit(url.strip())
    path = quote(parts.path or "/", safe=_URL_SAFE)
    return f"{path}?{quote(parts.query, safe=_URL_SAFE)}" if parts.query else path


# Reserved characters and escapes already present stay as written.
_URL_SAFE = "/%:@!$&'()*+,;=?~"


def _host_header(target):
    host = _ascii_host(target.host)
    if ":" in host:
        host = f"[{host}]"
    default_port = 443 if target.scheme == "https" else 80
    return host if target.port == default_port else f"{host}:{target.port}"


def _ascii_host(host):
    try:
        return host.encode("ascii").decode()
    except UnicodeEncodeError:
        return idna.encode(host, uts46=True).decode()


def _reason(error):
    return str(error) or type(error).__name__


def _sentence(text):
    """The text ending in a full stop: callers append more sentences after it."""
    return text if text.endswith((".", "!", "?")) else f"{text}."


# Connections.


class _ConnectTimeout(Exception):
    pass


class _ConnectFailed(Exception):
    pass


class _Connection(http.client.HTTPConnection):
    """One kept-alive connection to a checked address; dials it, not the name."""

    def __init__(self, target):
        super().__init__(_ascii_host(target.host), target.port)
        self.target = target
        self.idle_since = None

    def open(self, deadline):
        """Connect (and shake hands over TLS) by the connect timeout and deadline."""
        address = ipaddress.ip_address(self.target.address)
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = _DeadlineSocket(family, socket.SOCK_STREAM)
        connect_by = min(deadline, time.monotonic() + settings.WEBHOOK_CONNECT_TIMEOUT)
        sock.deadline = connect_by
        try:
            sock.arm()
            sock.connect((str(address), self.target.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.target.scheme == "https":
                sock.arm()
                sock = _tls_context().wrap_socket(sock, server_hostname=self.host)
        except (TimeoutError, _Deadline):
            sock.close()
            raise _ConnectTimeout() from None
        except OSError as error:  # refused, unreachable, TLS handshake or certificate
            sock.close()
            raise _ConnectFailed() from error
        self.sock = sock

    def connect(self):
        # http.client reconnects by itself when a kept-alive connection was
        # closed; here every connection is opened by open() and no other way.
        raise http.client.NotConnected("The connection was closed.")

    def start(self, deadline):
        self.sock.deadline = deadline
        self.sock.arrived_head = 0

    def worn_out(self, now):
        """Whether an idle connection must not be reused: too old, or the peer spoke."""
        if now - self.idle_since > KEEPALIVE_SECONDS:
            return True
        # Readable while idle means closed by the peer (or unasked-for bytes).
        readable, _, _ = select.select([self.sock], [], [], 0)
        return bool(readable)


class _Arming:
    """Each socket operation gets what is left of the deadline, and no more."""

    deadline = None
    arrived_head = 0
    head_read = False

    def arm(self):
        if self.deadline is None:
            return
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Deadline()
        self.settimeout(left)

    def head_done(self):
        self.head_read = True

    def count(self, received):
        if not self.head_read:
            self.arrived_head += received
            if self.arrived_head > HEAD_LIMIT + RESPONSE_LIMIT:
                raise _HeadTooLarge()
        return received

    # Arguments pass through untouched: socket and SSLSocket default differently.
    def recv_into(self, *args, **kwargs):
        self.arm()
        return self.count(super().recv_into(*args, **kwargs))

    def recv(self, *args, **kwargs):
        self.arm()
        data = super().recv(*args, **kwargs)
        self.count(len(data))
        return data

    def sendall(self, *args, **kwargs):
        self.arm()
        return super().sendall(*args, **kwargs)


class _DeadlineSocket(_Arming, socket.socket):
    pass


class _DeadlineTLSSocket(_Arming, ssl.SSLSocket):
    pass


_tls = None


def new_tls_context(cafile=None):
    """Certificates checked against certifi's roots (or `cafile`), hostnames too."""
    context = ssl.create_default_context(cafile=cafile or certifi.where())
    context.sslsocket_class = _DeadlineTLSSocket
    return context


def _tls_context():
    global _tls
    if _tls is None:
        _tls = new_tls_context()
    return _tls


class _Pool:
    """Idle kept-alive connections by checked address, one request on each at a time."""

    def __init__(self):
        self._idle = {}
        self._lock = threading.Lock()

    def take(self, target, deadline):
        """A connection for one request, and whether an earlier one left it open."""
        key = _key(target)
        now = time.monotonic()
        while True:
            with self._lock:
                idle = self._idle.get(key)
                connection = idle.pop() if idle else None
            if connection is None:
                return self.open(target, deadline), False
            if connection.worn_out(now):
                connection.close()
                continue
            connection.start(deadline)
            return connection, True

    def open(self, target, deadline):
        connection = _Connection(target)
        connection.open(deadline)
        connection.start(deadline)
        return connection

    def give_back(self, connection):
        connection.idle_since = time.monotonic()
        connection.sock.deadline = None
        connection.sock.head_read = False
        with self._lock:
            idle = self._idle.setdefault(_key(connection.target), [])
            if len(idle) < IDLE_PER_ADDRESS:
                idle.append(connection)
                return
        connection.close()

    def close_all(self):
        with self._lock:
            idle, self._idle = self._idle, {}
        for connections in idle.values():
            for connection in connections:
                connection.close()


def _key(target):
    return (target.scheme, target.host, target.port, target.address)


_pool = _Pool()
