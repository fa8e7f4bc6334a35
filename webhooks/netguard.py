"""Which webhook URLs may be called: no internal addresses, however written.

A URL is checked when a destination is saved and again before every send.
The name is resolved once, every address it resolves to is checked, and the
request then connects to the checked address (see webhooks.http), so a
second lookup cannot swap in an internal one.

Refused always: unspecified, multicast, reserved and cloud metadata
addresses, IPv4 written as IPv6 (mapped or compatible), and host names
made only of numbers that are not a plain dotted quad (``2130706433``,
``0177.0.0.1``, ``0x7f.1``, ``127.1``): resolvers read those differently.
Refused unless WEBHOOK_ALLOW_PRIVATE_NETWORKS: loopback, private,
link-local, CGNAT and every other address that is not public.
"""

import ipaddress
import re
import socket
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings

METADATA = frozenset(
    ipaddress.ip_address(address)
    for address in (
        "169.254.169.254",  # AWS, GCP, Azure, DigitalOcean, ...
        "169.254.170.2",  # AWS ECS task metadata
        "100.100.100.200",  # Alibaba Cloud
        "fd00:ec2::254",  # AWS over IPv6
    )
)
CGNAT = ipaddress.ip_network("100.64.0.0/10")
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NUMERIC_LABEL = re.compile(r"^(0x[0-9a-f]*|[0-9]+)$", re.IGNORECASE)
OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
DOTTED_QUAD = re.compile(rf"^{OCTET}(\.{OCTET}){{3}}$")


class UnsafeDestination(ValueError):
    """A URL webhooks must not be sent to; the message says why, for people."""

    def __init__(self, message):
        super().__init__(message)
        self.message = message


class Unresolved(UnsafeDestination):
    """The host name resolves to no address."""


@dataclass(frozen=True)
class Target:
    """Where a checked URL's request goes: its host name, and the address to dial."""

    scheme: str
    host: str
    port: int
    address: str


def check_url(url):
    """Refuse a URL that is malformed or reaches a refused address."""
    resolve(url)


def resolve(url):
    """Check the URL and pick the address to connect to (the first one resolved)."""
    scheme, host, port = _parts(url)
    addresses = _addresses(host, port)
    for address in addresses:
        reason = refusal(address)
        if reason:
            raise UnsafeDestination(_refusal_message(host, address, reason))
    return Target(scheme, host, port, str(addresses[0]))


def refusal(address):
    """Why an address is refused, as a phrase ("a loopback address"), or None."""
    if address in METADATA:
        return "the cloud metadata service"
    if address.version == 6:
        written_as_ipv6 = _ipv4_written_as_ipv6(address)
        if written_as_ipv6:
            return written_as_ipv6
        embedded = _embedded_ipv4(address)
        if embedded is not None:
            return refusal(embedded)
    always = _always_refused(address)
    if always or settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS:
        return always
    return _private_kind(address)


def _refusal_message(host, address, reason):
    literal = _literal(host) is not None
    where = host if literal else f"{host} resolves to {address}, which"
    return f"{where} is {reason}; webhooks go to public internet addresses only."


def lookup(host, port):
    """Every address a host name resolves to (patched in tests: no real DNS)."""
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [info[4][0] for info in infos]


# The system resolver cannot be interrupted, so a lookup runs here and the
# caller stops waiting after WEBHOOK_CONNECT_TIMEOUT; a stuck resolver then
# holds at most these threads, and later lookups fail fast behind them.
_resolver = ThreadPoolExecutor(max_workers=8, thread_name_prefix="webhook-dns")


def _lookup_in_time(host, port):
    seconds = settings.WEBHOOK_CONNECT_TIMEOUT
    pending = _resolver.submit(lambda: lookup(host, port))
    try:
        return pending.result(timeout=seconds)
    except FutureTimeout:
        pending.cancel()
        raise Unresolved(f"{host} did not resolve within {seconds:g} s.") from None


def _parts(url):
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise UnsafeDestination("That URL cannot be read; check it.") from None

    if parts.scheme not in ("http", "https"):
        allowed = "http:// or https://" if settings.WEBHOOK_ALLOW_HTTP else "https://"
        raise UnsafeDestination(f"The URL must start with {allowed}.")
    if parts.scheme == "http" and not settings.WEBHOOK_ALLOW_HTTP:
        raise UnsafeDestination("The URL must use https://, not plain http://.")
    host = (parts.hostname or "").rstrip(".")
    if not host:
        raise UnsafeDestination("The URL has no host name.")
    _refuse_odd_numbers(host)
    default_port = 443 if parts.scheme == "https" else 80
    return parts.scheme, host, port or default_port


def _refuse_odd_numbers(host):
    labels = host.split(".")
    all_numeric = all(NUMERIC_LABEL.match(label) for label in labels)
    if all_numeric and not DOTTED_QUAD.match(host):
        raise UnsafeDestination(
            f"{host} is an address in an unusual form; write it as four "
            "decimal numbers, such as 203.0.113.7, or use a host name."
        )


def _literal(host):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _addresses(host, port):
    literal = _literal(host)
    if literal is not None:
        return [literal]
    try:
        found = _lookup_in_time(host, port)
    except (OSError, UnicodeError):
        raise Unresolved(f"{host} does not resolve to an address.") from None
    if not found:
        raise Unresolved(f"{host} does not resolve to an address.")
    return [ipaddress.ip_address(address.split("%")[0]) for address in found]


def _ipv4_written_as_ipv6(address):
    if address.ipv4_mapped is not None:
        return "an IPv4-mapped IPv6 address"
    as_int = int(address)
    if 1 < as_int < 2**32:
        return "an IPv4-compatible IPv6 address"
    return None


def _embedded_ipv4(address):
    if address in NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def _always_refused(address):
    if address.is_loopback:
        return None  # ::1 counts as reserved too, but is plain loopback
    if address.is_unspecified:
        return "the unspecified address"
    if address.is_multicast:
        return "a multicast address"
    if address.version == 4 and address == ipaddress.IPv4Address("255.255.255.255"):
        return "the broadcast address"
    if address.is_reserved:
        return "a reserved address"
    return None


def _private_kind(address):
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address"
    if address.version == 4 and address in CGNAT:
        return "a shared (carrier-grade NAT) address"
    if address.is_private:
        return "a private network address"
    if not address.is_global:
        return "not a public internet address"
    return None
