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
import time
from dataclasses import dataclass, field

import httpcore
import httpx
from django.conf import settings

USER_AGENT = "Rutterdash-Webhooks/1.0"
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
    except httpx.TimeoutException as error:
        reply.error = _timeout_message(error)
    except httpx.HTTPError as error:
        reply.error = _failure_message(error)
    finally:
        _current.reset(token)
        reply.duration_ms = int((time.monotonic() - started) * 1000)
    return reply


def _exchange(url, body, headers, reply):
    timeout = httpx.Timeout(
        settings.WEBHOOK_TOTAL_TIMEOUT, connect=settings.WEBHOOK_CONNECT_TIMEOUT
    )
    with client().stream(
        "POST", url, content=body, headers=headers, timeout=timeout
    ) as response:
        reply.status_code = response.status_code
        reply.headers = _kept_headers(response.headers)
        try:
            _read_some(response, reply)
        except httpx.TimeoutException:
            reply.error = "The response body was still arriving at the deadline."


def _read_some(response, reply):
    """Read into reply.body up to RESPONSE_LIMIT; what arrived stays if cut off."""
    for chunk in response.iter_raw():
        reply.body = (reply.body + chunk)[:RESPONSE_LIMIT]
        if len(reply.body) >= RESPONSE_LIMIT:
            return


def _kept_headers(headers):
    kept = list(headers.items())[:MAX_RESPONSE_HEADERS]
    return {name: value[:HEADER_VALUE_LIMIT] for name, value in kept}


def _timeout_message(error):
    if isinstance(error, httpx.ConnectTimeout):
        return f"Timed out connecting after {settings.WEBHOOK_CONNECT_TIMEOUT:g} s."
    return f"No complete response within {settings.WEBHOOK_TOTAL_TIMEOUT:g} s."


def _failure_message(error):
    reason = str(error) or type(error).__name__
    if isinstance(error, httpx.ConnectError):
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


class _PinnedTransport(httpx.HTTPTransport):
    def __init__(self, limits):
        super().__init__(trust_env=False, limits=limits)
        # httpx offers no network backend option, so the pool it built is
        # swapped for one using ours; the rest of the transport is unchanged.
        self._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=_PinnedBackend(),
        )


_client = None


def client():
    """The process's shared client: one connection pool for every destination."""
    global _client
    if _client is None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        _client = httpx.Client(
            transport=_PinnedTransport(limits),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT, "Accept-Encoding": "identity"},
        )
    return _client
