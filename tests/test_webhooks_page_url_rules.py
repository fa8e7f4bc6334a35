"""The destination form explains why an odd URL is refused, as the API does."""

import pytest
from django.urls import reverse

from tests.webhooks_page_support import safe_addresses  # noqa: F401 (autouse fixture)
from webhooks.models import Destination

FORM = {
    "description": "",
    "payload_version": "2024-08-31",
    "enabled": "on",
    "environment": "sandbox",
}


def add(client, url):
    return client.post(reverse("webhooks:create"), {**FORM, "url": url})


def url_error(response):
    return " ".join(response.context["form"].errors["url"])


@pytest.fixture
def local_rules(settings):
    """The rules `make run` gives a laptop: DEBUG allows local receivers."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_ALLOW_HTTP = True


@pytest.mark.parametrize(
    ("url", "explained"),
    [
        ("https://2130706433/h", "2130706433 is an address in an unusual form"),
        ("https://0x7f.1/h", "0x7f.1 is an address in an unusual form"),
        ("https://0177.0.0.1/h", "0177.0.0.1 is an address in an unusual form"),
        ("https://localhost./h", "is a loopback address"),
        ("http://0x7f.1/h", "The URL must use https://, not plain http://."),
    ],
)
def test_the_form_explains_what_netguard_refuses(developer_client, url, explained):
    response = add(developer_client, url)

    assert response.status_code == 200
    assert explained in url_error(response)
    assert "Enter a valid URL." not in url_error(response)
    assert explained in response.content.decode()
    assert not Destination.objects.exists()


@pytest.mark.parametrize(
    "url", ["http://2130706433/h", "http://0x7f.1/h", "http://127.1/h"]
)
def test_odd_numeric_hosts_are_explained_even_with_local_rules(
    developer_client, local_rules, url
):
    response = add(developer_client, url)

    assert "is an address in an unusual form" in url_error(response)
    assert not Destination.objects.exists()


def test_a_fully_qualified_localhost_is_accepted_with_local_rules(
    developer_client, local_rules
):
    response = add(developer_client, "http://localhost./h")

    assert response.status_code == 302
    assert Destination.objects.get().url == "http://localhost./h"


def test_a_url_nothing_can_read_still_says_enter_a_valid_url(developer_client):
    response = add(developer_client, "not a url")

    assert url_error(response) == "Enter a valid URL."
    assert not Destination.objects.exists()


def test_another_scheme_names_both_allowed_ones_when_http_is_allowed(
    developer_client, local_rules
):
    response = add(developer_client, "ftp://x")

    assert url_error(response) == "The URL must start with http:// or https://."
    assert not Destination.objects.exists()


def test_another_scheme_names_https_only_when_http_is_refused(developer_client):
    response = add(developer_client, "ftp://hooks.example.com/x")

    assert url_error(response) == "The URL must start with https://."


@pytest.mark.parametrize("length", [2001, 3000])
def test_a_long_url_says_the_limit_and_keeps_the_input(developer_client, length):
    url = "https://hooks.example.com/" + "a" * (length - 26)

    response = add(developer_client, url)

    assert url_error(response) == (
        f"A URL can be at most 2000 characters; this one has {length}."
    )
    assert url in response.content.decode()
    assert not Destination.objects.exists()
