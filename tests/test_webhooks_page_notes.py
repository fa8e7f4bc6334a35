"""Webhook pages warn when the server accepts private or plain-HTTP destinations."""

import pytest
from django.urls import reverse

from tests.webhooks_page_support import safe_addresses  # noqa: F401 (autouse fixture)

PRIVATE_NOTE = (
    "private and loopback addresses (<code>WEBHOOK_ALLOW_PRIVATE_NETWORKS</code>)"
)
HTTP_NOTE = "plain http:// URLs (<code>WEBHOOK_ALLOW_HTTP</code>)"
TURN_OFF = "Production deployments should turn"


@pytest.fixture
def local_rules(settings):
    """The rules `make run` gives a laptop: DEBUG allows local receivers."""
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True
    settings.WEBHOOK_ALLOW_HTTP = True


@pytest.mark.parametrize("page", ["webhooks:index", "webhooks:create"])
def test_pages_warn_when_the_server_accepts_local_and_plain_http_urls(
    developer_client, local_rules, page
):
    response = developer_client.get(reverse(page))

    html = response.content.decode()
    assert PRIVATE_NOTE in html
    assert HTTP_NOTE in html
    assert f"{TURN_OFF} them off." in html


def test_the_warning_names_only_the_switch_that_is_on(developer_client, settings):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    html = developer_client.get(reverse("webhooks:index")).content.decode()

    assert PRIVATE_NOTE in html
    assert HTTP_NOTE not in html
    assert f"{TURN_OFF} it off." in html


@pytest.mark.parametrize("page", ["webhooks:index", "webhooks:create"])
def test_no_warning_when_the_server_keeps_to_public_https(developer_client, page):
    response = developer_client.get(reverse(page))

    assert response.status_code == 200
    assert "WEBHOOK_ALLOW" not in response.content.decode()
    assert TURN_OFF not in response.content.decode()


def test_the_warning_stays_on_a_form_that_failed(developer_client, local_rules):
    form = {"url": "http://2130706433/h", "environment": "sandbox"}
    response = developer_client.post(reverse("webhooks:create"), form)

    assert response.status_code == 200

    assert PRIVATE_NOTE in response.content.decode()
