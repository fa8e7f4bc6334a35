"""Web origins as a browser reports them: scheme://host[:port], nothing more."""

import ipaddress
import re
from urllib.parse import urlsplit

DEFAULT_PORTS = {"http": 80, "https": 443}
MAX_LENGTH = 255
# One DNS label: letters, digits and inner hyphens (IDNs arrive as punycode).
LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$")


class InvalidOrigin(ValueError):
    """The text is not an http(s) origin; the message says why, for a person."""


def parse_origin(text):
    """The origin in its normal form: lower-case, no default port, IDNs encoded."""
    text = text.strip()
    if not text:
        raise InvalidOrigin("Enter an origin such as https://app.example.com.")
    if len(text) > MAX_LENGTH:
        raise InvalidOrigin(f"An origin has at most {MAX_LENGTH} characters.")
    if any(char.isspace() or ord(char) < 32 for char in text):
        raise InvalidOrigin("An origin has no spaces or control characters.")

    parts = _split(text)
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise InvalidOrigin("Start with http:// or https://.")
    _refuse_extras(parts, text)

    host = _host(parts)
    port = _port(parts)
    if port is None or port == DEFAULT_PORTS[scheme]:
        return f"{scheme}://{host}"
    return f"{scheme}://{host}:{port}"


def is_loopback(origin):
    host = urlsplit(origin).hostname or ""
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _split(text):
    if "://" not in text:
        raise InvalidOrigin("Start with http:// or https://.")
    try:
        return urlsplit(text)
    except ValueError:
        raise InvalidOrigin("This is not a valid web address.") from None


def _refuse_extras(parts, text):
    if parts.path not in ("", "/"):
        raise InvalidOrigin("Leave out the path: an origin ends after the host.")
    if "?" in text or "#" in text:
        raise InvalidOrigin("Leave out the query and fragment.")
    if "@" in parts.netloc:
        raise InvalidOrigin("Leave out the user name and password.")


def _host(parts):
    host = parts.hostname
    if not host:
        raise InvalidOrigin("Add the host name, as in https://app.example.com.")
    if host.startswith("[") or ":" in host:
        return _ipv6(host)

    try:
        ascii_host = host.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise InvalidOrigin(f"“{host}” is not a valid host name.") from None
    labels = ascii_host.split(".")
    if "*" in host or not all(LABEL.match(label) for label in labels):
        raise InvalidOrigin(
            f"“{host}” is not a valid host name (wildcards are not allowed)."
        )
    if all(label.isdigit() for label in labels):
        return _ipv4(ascii_host)
    return ascii_host


def _ipv4(host):
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        raise InvalidOrigin(f"“{host}” is not a valid IPv4 address.") from None


def _ipv6(host):
    try:
        address = ipaddress.IPv6Address(host.strip("[]"))
    except ValueError:
        raise InvalidOrigin(f"“{host}” is not a valid IPv6 address.") from None
    return f"[{address.compressed}]"


def _port(parts):
    try:
        port = parts.port
    except ValueError:
        raise InvalidOrigin("The port must be a number from 1 to 65535.") from None
    if port == 0:
        raise InvalidOrigin("The port must be a number from 1 to 65535.")
    return port
