"""The one HTTP client webhooks are sent with.

Every request goes to an address netguard has checked: the client's
network backend ignores the host name it is given and dials the checked
address of the request in progress, so no second DNS lookup happens, while
the Host header, TLS SNI and certificate check still use the host name.

Every socket operation (connect, TLS handshake, each read and write) is
given at most what is left of the request's total deadline, so a receiver
that trickles its status line or body one byte at a time still releases the
worker on time. Redirects are not followed, proxies from the environment are
ignored, and at most RESPONSE_LIMIT bytes of the body are read.
"""

import contextvars
import functools
import time
from dataclasses import dataclass, field

import httpcore
import httpx
from django.conf import settings

USER_AGENT = "Rutterdash-Webhooks/1.0"
USER_AGENT_BYTES = USER_AGENT.encode()
RESPONSE_LIMIT = 16 * 1024
MAX_RESPONSE_HEADERS = 50
HEADER_VALUE_LIMIT = 300


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


@dataclass(frozen=True)
class _Pin:
    address: str
    port: int
    deadline: float


_current = contextvars.ContextVar("webhook_request", default=None)


def post(target, url, body, headers):
    """POST body to url, connecting to target.address; never raises for the network."""
    started = time.monotonic()
    deadline = started + settings.WEBHOOK_TOTAL_TIMEOUT
    token = _current.set(_Pin(target.address, target.port, deadline))
    reply = Reply()
    try:
        _exchange(url, body, headers, reply)
    except httpcore.TimeoutException as error:
        reply.error = _timeout_message(error)
    except _FAILURES as error:
        reply.error = _failure_message(error)
    finally:
        _current.reset(token)
        reply.duration_ms = int((time.monotonic() - started) * 1000)
    return reply


# What httpx would raise as httpx.HTTPError (or InvalidURL), seen from httpcore.
_FAILURES = (
    httpcore.NetworkError,
    httpcore.ProtocolError,
    httpcore.UnsupportedProtocol,
    httpx.InvalidURL,
)


def _exchange(url, body, headers, reply):
    """One request on the shared httpcore pool, which follows no redirects.

    httpx's Client is left out: its request and response layers cost more
    CPU than the request itself against a nearby receiver.
    """
    target, host = _parsed(url)
    timeout = {
        "connect": settings.WEBHOOK_CONNECT_TIMEOUT,
        "read": settings.WEBHOOK_TOTAL_TIMEOUT,
        "write": settings.WEBHOOK_TOTAL_TIMEOUT,
        "pool": settings.WEBHOOK_TOTAL_TIMEOUT,
    }
    with client().stream(
        "POST",
        target,
        headers=_request_headers(host, body, headers),
        content=body,
        extensions={"timeout": timeout},
    ) as response:
        reply.status_code = response.status
        reply.headers = _kept_headers(response.headers)
        try:
            _read_some(response, reply)
        except httpcore.TimeoutException:
            reply.error = "The response body was still arriving at the deadline."


@functools.lru_cache(maxsize=1024)
def _parsed(url):
    """The request target and Host header of a URL, normalised as httpx does."""
    parsed = httpx.URL(url)
    target = httpcore.URL(
        scheme=parsed.raw_scheme,
        host=parsed.raw_host,
        port=parsed.port,
        target=parsed.raw_path,
    )
    return target, parsed.netloc


_FIXED_HEADERS = frozenset(
    {"host", "accept", "accept-encoding", "connection", "user-agent", "content-length"}
)


def _request_headers(host, body, headers):
    fixed = [
        (b"Host", host),
        (b"Accept", b"*/*"),
        (b"Accept-Encoding", b"identity"),
        (b"Connection", b"keep-alive"),
        (b"User-Agent", USER_AGENT_BYTES),
        (b"Content-Length", str(len(body)).encode()),
    ]
    chosen = [
        (name, value) for name, value in headers.items()
        if name.lower() not in _FIXED_HEADERS
    ]
    return fixed + chosen


def _read_some(response, reply):
    """Read into reply.body up to RESPONSE_LIMIT; what arrived stays if cut off."""
    for chunk in response.iter_stream():
        reply.body = (reply.body + chunk)[:RESPONSE_LIMIT]
        if len(reply.body) >= RESPONSE_LIMIT:
            return


def _kept_headers(raw):
    """Response headers by lower-case name, repeated ones joined as httpx does."""
    kept = {}
    for name, value in raw:
        name = name.decode("latin-1").lower()
        value = value.decode("utf-8", errors="replace")
        kept[name] = f"{kept[name]}, {value}" if name in kept else value
    items = list(kept.items())[:MAX_RESPONSE_HEADERS]
    return {name: value[:HEADER_VALUE_LIMIT] for name, value in items}


def _timeout_message(error):
    if isinstance(error, httpcore.ConnectTimeout):
        return f"Timed out connecting after {settings.WEBHOOK_CONNECT_TIMEOUT:g} s."
    return f"No complete response within {settings.WEBHOOK_TOTAL_TIMEOUT:g} s."


def _failure_message(error):
    reason = str(error) or type(error).__name__
    if isinstance(error, httpcore.ConnectError):
        return f"Could not connect: {reason}"
    return f"Request failed: {reason}"


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the request's deadline."""

    def __init__(self, stream):
        self._stream = stream

    def read(self, max_bytes, timeout=None):
        limit = _remaining(timeout, httpcore.ReadTimeout)
        return self._stream.read(max_bytes, limit)

    def write(self, buffer, timeout=None):
        limit = _remaining(timeout, httpcore.WriteTimeout)
        self._stream.write(buffer, limit)

    def close(self):
        self._stream.close()

    def start_tls(self, ssl_context, server_hostname=None, timeout=None):
        limit = _remaining(timeout, httpcore.ConnectTimeout)
        secure = self._stream.start_tls(ssl_context, server_hostname, limit)
        return _DeadlineStream(secure)

    def get_extra_info(self, info):
        return self._stream.get_extra_info(info)


def _remaining(timeout, error):
    pin = _current.get()
    if pin is None:
        return timeout
    left = pin.deadline - time.monotonic()
    if left <= 0:
        raise error("The request's deadline has passed.")
    return left if timeout is None else min(timeout, left)


class _PinnedBackend(httpcore.NetworkBackend):
    """Dials the checked address of the request in progress, never a name."""

    def __init__(self):
        self._backend = httpcore.SyncBackend()

    def connect_tcp(
        self, host, port, timeout=None, local_address=None, socket_options=None
    ):
        pin = _current.get()
        if pin is None or port != pin.port:
            raise httpcore.ConnectError("No checked address for this request.")
        limit = _remaining(timeout, httpcore.ConnectTimeout)
        stream = self._backend.connect_tcp(
            pin.address, port, limit, local_address, socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds):
        time.sleep(seconds)


_client = None


def client():
    """The process's shared connection pool, for every destination.

    httpcore reads no proxy settings from the environment and follows no
    redirects; connections dial through the pinned backend.
    """
    global _client
    if _client is None:
        _client = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=200,
            max_keepalive_connections=50,
            keepalive_expiry=5.0,
            network_backend=_PinnedBackend(),
        )
    return _client
