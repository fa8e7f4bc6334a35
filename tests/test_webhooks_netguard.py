"""Refused webhook addresses, in every spelling, at save and at send.

No test here sends traffic anywhere but 127.0.0.1: refusals are checked
without connecting, and host names are resolved by a patched lookup.
"""

import threading
import time

import pytest

from tests.webhook_receiver import Receiver
from tests.webhooks_delivery_support import (
    client_secret,
    deliver,
    make_destination,
    record_event,
)
from webhooks import netguard
from webhooks.models import Message, MessageStatus
from webhooks.netguard import UnsafeDestination, check_url


@pytest.fixture
def public_only(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    settings.WEBHOOK_ALLOW_HTTP = False


class Table(dict):
    pass


@pytest.fixture
def dns(monkeypatch):
    table = Table()
    table.asked = []

    def lookup(host, port):
        table.asked.append(host)
        if host not in table:
            raise OSError("unknown host")
        return table[host]

    monkeypatch.setattr(netguard, "lookup", lookup)
    return table


def refusal(url):
    with pytest.raises(UnsafeDestination) as refused:
        check_url(url)
    return refused.value.message


REFUSED = {
    "loopback": "https://127.0.0.1/hook",
    "loopback elsewhere in 127/8": "https://127.45.6.7/hook",
    "IPv6 loopback": "https://[::1]/hook",
    "private 10/8": "https://10.0.0.8/hook",
    "private 172.16/12": "https://172.20.1.1/hook",
    "private 192.168/16": "https://192.168.1.10/hook",
    "link-local": "https://169.254.10.10/hook",
    "cloud metadata": "https://169.254.169.254/latest/meta-data/",
    "cloud metadata over IPv6": "https://[fd00:ec2::254]/",
    "CGNAT": "https://100.64.0.1/hook",
    "unique local IPv6": "https://[fd12:3456::1]/hook",
    "link-local IPv6": "https://[fe80::1]/hook",
    "multicast": "https://224.0.0.251/hook",
    "IPv6 multicast": "https://[ff02::1]/hook",
    "unspecified": "https://0.0.0.0/hook",
    "IPv6 unspecified": "https://[::]/hook",
    "broadcast": "https://255.255.255.255/hook",
    "reserved 240/4": "https://240.0.0.1/hook",
    "IPv4-mapped IPv6": "https://[::ffff:127.0.0.1]/hook",
    "IPv4-mapped IPv6 in hex": "https://[::ffff:7f00:1]/hook",
    "IPv4-mapped public address": "https://[::ffff:8.8.8.8]/hook",
    "IPv4-compatible IPv6": "https://[::127.0.0.1]/hook",
    "NAT64 of a private address": "https://[64:ff9b::a00:1]/hook",
    "6to4 of loopback": "https://[2002:7f00:1::]/hook",
    "decimal": "https://2130706433/hook",
    "octal": "https://0177.0.0.1/hook",
    "hex": "https://0x7f000001/hook",
    "hex dotted": "https://0x7f.0x0.0x0.0x1/hook",
    "short form": "https://127.1/hook",
    "short form with zero": "https://127.0.1/hook",
    "leading zeros": "https://127.000.000.001/hook",
    "trailing dot": "https://127.0.0.1./hook",
}


@pytest.mark.parametrize("url", REFUSED.values(), ids=REFUSED.keys())
def test_internal_addresses_are_refused_in_every_spelling(public_only, dns, url):
    message = refusal(url)

    assert "webhooks go to public internet addresses only" in message or (
        "unusual form" in message
    )
    assert dns.asked == []  # decided without a lookup


def test_names_resolving_to_loopback_are_refused(public_only, dns):
    dns["hooks.example.com"] = ["127.0.0.1"]

    message = refusal("https://hooks.example.com/in")

    assert message == (
        "hooks.example.com resolves to 127.0.0.1, which is a loopback address; "
        "webhooks go to public internet addresses only."
    )


def test_a_name_with_one_internal_address_among_public_ones_is_refused(
    public_only, dns
):
    dns["mixed.example.com"] = ["93.184.215.14", "10.1.2.3"]

    assert "10.1.2.3" in refusal("https://mixed.example.com/")


def test_a_name_that_does_not_resolve_is_refused(public_only, dns):
    assert refusal("https://nowhere.example.com/") == (
        "nowhere.example.com does not resolve to an address."
    )


def test_a_lookup_that_hangs_is_given_up_after_the_connect_timeout(
    public_only, settings, monkeypatch
):
    settings.WEBHOOK_CONNECT_TIMEOUT = 0.3
    released = threading.Event()

    def stuck_resolver(host, port):
        released.wait(5)
        return ["93.184.215.14"]

    monkeypatch.setattr(netguard, "lookup", stuck_resolver)
    started = time.monotonic()
    try:
        message = refusal("https://slow-dns.example.com/")
    finally:
        released.set()

    assert time.monotonic() - started < 1
    assert message == "slow-dns.example.com did not resolve within 0.3 s."


def test_public_addresses_and_names_are_accepted(public_only, dns):
    dns["hooks.example.com"] = ["93.184.215.14", "2606:2800:21f:cb07::1"]

    check_url("https://hooks.example.com/rutter")
    check_url("https://93.184.215.14:8443/rutter")
    check_url("https://[2606:2800:21f:cb07::1]/rutter")


def test_plain_http_is_refused_unless_allowed(public_only, settings, dns):
    assert refusal("http://93.184.215.14/") == (
        "The URL must use https://, not plain http://."
    )

    settings.WEBHOOK_ALLOW_HTTP = True
    check_url("http://93.184.215.14/")


@pytest.mark.parametrize(
    "url, message",
    [
        ("ftp://93.184.215.14/", "The URL must start with https://."),
        ("https:///path", "The URL has no host name."),
        ("https://93.184.215.14:99999/", "That URL cannot be read; check it."),
        ("hooks.example.com/in", "The URL must start with https://."),
    ],
)
def test_malformed_urls_are_refused_with_a_reason(public_only, dns, url, message):
    assert refusal(url) == message


def test_private_networks_can_be_allowed_for_development(settings, dns):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    check_url("http://127.0.0.1:8401/hook")
    check_url("http://[::1]:8401/hook")
    check_url("https://10.0.0.8/hook")


@pytest.mark.parametrize(
    "url",
    [
        "https://169.254.169.254/",
        "https://[::ffff:127.0.0.1]/",
        "https://0.0.0.0/",
        "https://224.0.0.1/",
        "https://2130706433/",
    ],
)
def test_some_addresses_stay_refused_even_on_private_networks(settings, dns, url):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    refusal(url)


def test_an_address_that_turned_internal_is_refused_at_send(
    sandbox, settings, dns
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = False
    client_secret(sandbox)
    with Receiver() as receiver:
        url = f"http://rebinding.example.com:{receiver.port}/hook"
        dns["rebinding.example.com"] = ["93.184.215.14"]
        check_url(url)  # fine when saved
        make_destination(sandbox, url)
        dns["rebinding.example.com"] = ["127.0.0.1"]
        event = record_event(sandbox)

        deliver()

        assert receiver.requests == []
    message = Message.objects.get(event=event)
    assert message.status == MessageStatus.RETRYING
    assert message.attempts.get().error == (
        "Refused: rebinding.example.com resolves to 127.0.0.1, which is a "
        "loopback address; webhooks go to public internet addresses only."
    )


def test_the_request_goes_to_the_checked_address_without_a_second_lookup(
    sandbox, dns
):
    client_secret(sandbox)
    with Receiver() as receiver:
        host = "receiver.example.com"
        dns[host] = ["127.0.0.1"]
        make_destination(sandbox, f"http://{host}:{receiver.port}/hook")
        record_event(sandbox)

        deliver()

        [request] = receiver.requests
    assert request.headers["host"] == f"{host}:{receiver.port}"
    assert dns.asked == [host]
