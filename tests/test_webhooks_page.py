"""The Webhooks page: destinations, who may do what, and every form error."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from rutterdash import crypto
from rutterdash.environments import Environment
from tests.conftest import signed_in_client
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    attempt_on,
    destination_in,
    message_to,
    safe_addresses,
)
from webhooks import services
from webhooks.models import Attempt, Destination, Message

VALID = {
    "url": "https://hooks.example.com/rutter",
    "description": "Ledger sync worker",
    "event_types": ["INITIAL_UPDATE", "CONNECTION_DISABLED"],
    "payload_version": "2024-08-31",
    "enabled": "on",
    "environment": "sandbox",
}


@pytest.fixture
def destination(sandbox):
    return destination_in(sandbox, description="Main hook")


def _url(name, destination=None):
    args = [destination.pk] if destination else []
    return reverse(f"webhooks:{name}", args=args)


# The list


def test_the_list_shows_this_environments_destinations(
    admin_client, sandbox, production
):
    destination_in(sandbox, "https://hooks.example.com/sandbox")
    destination_in(production, "https://hooks.example.com/production")

    response = admin_client.get(_url("index"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "https://hooks.example.com/sandbox" in page
    assert "https://hooks.example.com/production" not in page


def test_the_list_follows_the_environment_switch(admin, sandbox, production):
    destination_in(production, "https://hooks.example.com/production")
    client = signed_in_client(admin, Environment.PRODUCTION)

    page = client.get(_url("index")).content.decode()

    assert "https://hooks.example.com/production" in page


def test_the_list_hides_other_organisations_destinations(outsider_client, destination):
    page = outsider_client.get(_url("index")).content.decode()

    assert destination.url not in page
    assert "No destinations in this environment yet" in page


def test_the_list_shows_status_and_the_days_success_rate(admin_client, destination):
    message = message_to(destination)
    attempt_on(message, 500, number=1)
    attempt_on(message, 200, number=2)
    services.destination_disable(destination, "Receiver moved")

    page = admin_client.get(_url("index")).content.decode()

    assert "Disabled" in page
    assert "Receiver moved" in page
    assert "50% of 2 attempts succeeded" in page


def test_a_failing_destination_says_since_when(admin_client, destination):
    destination.failing_since = timezone.now() - timedelta(hours=3)
    destination.save()

    page = admin_client.get(_url("index")).content.decode()

    assert "Failing" in page
    assert "Deliveries failing since" in page


def test_anonymous_visitors_are_sent_to_sign_in(client, destination):
    for url in (_url("index"), _url("destination", destination)):
        response = client.get(url)
        assert response.status_code == 302
        assert "/login" in response["Location"]


# Adding and editing


def test_a_developer_adds_a_destination(developer_client, sandbox):
    response = developer_client.post(_url("create"), VALID)

    destination = Destination.objects.get()
    assert response.status_code == 302
    assert response["Location"] == _url("destination", destination)
    assert destination.organisation == sandbox.organisation
    assert destination.environment == Environment.SANDBOX
    assert destination.event_types == ["INITIAL_UPDATE", "CONNECTION_DISABLED"]
    assert destination.payload_version == "2024-08-31"
    assert destination.description == "Ledger sync worker"
    assert destination.enabled


def test_a_new_destination_gets_its_own_signing_secret(developer_client):
    developer_client.post(_url("create"), VALID)

    secret = crypto.decrypt(Destination.objects.get().secret_encrypted)
    assert secret.startswith("whsec_")


def test_no_event_types_ticked_means_every_type(developer_client):
    developer_client.post(_url("create"), {**VALID, "event_types": []})

    assert Destination.objects.get().event_types == []


def test_a_destination_is_added_to_the_current_environment(admin):
    client = signed_in_client(admin, Environment.PRODUCTION)

    client.post(_url("create"), {**VALID, "environment": "production"})

    assert Destination.objects.get().environment == Environment.PRODUCTION


def test_a_form_opened_before_an_environment_switch_saves_nothing(admin):
    client = signed_in_client(admin, Environment.PRODUCTION)

    response = client.post(_url("create"), VALID)

    page = response.content.decode()
    assert response.status_code == 200
    assert "This page was opened in Sandbox" in page
    assert 'value="Ledger sync worker"' in page
    assert not Destination.objects.exists()


@pytest.mark.parametrize("environment", [None, "staging"])
def test_a_form_without_its_environment_is_a_bad_request(developer_client, environment):
    data = {**VALID, "environment": environment}
    if environment is None:
        del data["environment"]

    response = developer_client.post(_url("create"), data)

    assert response.status_code == 400
    assert not Destination.objects.exists()


@pytest.mark.parametrize(
    ("change", "field", "error"),
    [
        ({"url": ""}, "url", "This field is required."),
        ({"url": "not a url"}, "url", "Enter a valid URL."),
        (
            {"url": "ftp://hooks.example.com/x"},
            "url",
            "The URL must start with https://.",
        ),
        (
            {"url": "http://hooks.example.com/x"},
            "url",
            "The URL must use https://, not plain http://.",
        ),
        (
            {"url": "https://127.0.0.1/x"},
            "url",
            "127.0.0.1 is a loopback address",
        ),
        (
            {"url": "https://sneaky.example.com/x"},
            "url",
            "sneaky.example.com resolves to 127.0.0.1, which is a loopback address",
        ),
        (
            {"url": "https://internal.example.com/x"},
            "url",
            "is a private network address",
        ),
        (
            {"url": "https://2130706433/x"},
            "url",
            "2130706433 is an address in an unusual form",
        ),
        (
            {"url": "https://[::ffff:127.0.0.1]/x"},
            "url",
            "is an IPv4-mapped IPv6 address",
        ),
        (
            {"url": "https://nowhere.example.com/x"},
            "url",
            "nowhere.example.com does not resolve to an address.",
        ),
        (
            {"url": "https://hooks.example.com/" + "x" * 2000},
            "url",
            "A URL can be at most 2000 characters",
        ),
        ({"description": "d" * 201}, "description", "at most 200 characters"),
        ({"event_types": ["NOT_A_TYPE"]}, "event_types", "Select a valid choice."),
        (
            {"payload_version": "1999-01-01"},
            "payload_version",
            "Select a valid choice.",
        ),
    ],
)
def test_each_bad_input_re_renders_the_form_with_its_error(
    developer_client, change, field, error
):
    data = {**VALID, **change}

    response = developer_client.post(_url("create"), data)

    page = response.content.decode()
    assert response.status_code == 200
    assert error in str(response.context["form"].errors[field])
    assert "has-error" in page
    assert Destination.objects.count() == 0


def test_a_refused_form_keeps_everything_typed(developer_client):
    data = {**VALID, "url": "https://internal.example.com/x"}

    response = developer_client.post(_url("create"), data)

    page = response.content.decode()
    assert 'value="https://internal.example.com/x"' in page
    assert 'value="Ledger sync worker"' in page
    assert 'value="CONNECTION_DISABLED" id="id_event_types_4" checked' in page


def test_plain_http_is_allowed_when_the_setting_says_so(developer_client, settings):
    settings.WEBHOOK_ALLOW_HTTP = True

    developer_client.post(
        _url("create"), {**VALID, "url": "http://hooks.example.com/x"}
    )

    assert Destination.objects.get().url == "http://hooks.example.com/x"


def test_private_networks_are_allowed_when_the_setting_says_so(
    developer_client, settings
):
    settings.WEBHOOK_ALLOW_PRIVATE_NETWORKS = True

    developer_client.post(_url("create"), {**VALID, "url": "https://127.0.0.1:9/x"})

    assert Destination.objects.get().url == "https://127.0.0.1:9/x"


def test_the_edit_form_starts_from_the_saved_values(developer_client, destination):
    response = developer_client.get(_url("edit", destination))

    assert response.status_code == 200
    assert response.context["form"].initial["url"] == destination.url


def test_a_developer_edits_a_destination(developer_client, destination):
    data = {**VALID, "url": "https://other.example.com/new", "event_types": []}

    response = developer_client.post(_url("edit", destination), data)

    destination.refresh_from_db()
    assert response.status_code == 302
    assert destination.url == "https://other.example.com/new"
    assert destination.event_types == []


def test_an_edit_to_an_unsafe_url_saves_nothing(developer_client, destination):
    data = {**VALID, "url": "https://sneaky.example.com/x", "description": "new"}

    response = developer_client.post(_url("edit", destination), data)

    destination.refresh_from_db()
    assert response.status_code == 200
    assert "loopback" in str(response.context["form"].errors["url"])
    assert destination.url == "https://hooks.example.com/rutter"
    assert destination.description == "Main hook"


def test_unticking_enabled_in_the_form_disables_with_a_reason(
    developer_client, destination
):
    data = {key: value for key, value in VALID.items() if key != "enabled"}

    developer_client.post(_url("edit", destination), data)

    destination.refresh_from_db()
    assert not destination.enabled
    assert destination.disabled_reason == "Disabled by a team member."


# Someone else's destination


@pytest.mark.parametrize("name", ["destination", "edit", "replay"])
def test_another_organisations_destination_is_not_found(
    outsider_client, destination, name
):
    assert outsider_client.get(_url(name, destination)).status_code == 404


@pytest.mark.parametrize(
    "name",
    ["edit", "disable", "enable", "delete", "test", "rotate", "secret", "replay"],
)
def test_another_organisations_destination_cannot_be_changed(
    outsider_client, destination, name
):
    response = outsider_client.post(
        _url(name, destination), {"since": "2020-01-01T00:00"}
    )

    destination.refresh_from_db()
    assert response.status_code == 404
    assert destination.enabled


def test_the_other_environments_destination_is_not_found(admin, destination):
    client = signed_in_client(admin, Environment.PRODUCTION)

    assert client.get(_url("destination", destination)).status_code == 404


# Disable, enable, delete


def test_a_developer_disables_with_a_reason(developer_client, destination):
    response = developer_client.post(
        _url("disable", destination), {"reason": "Maintenance window"}
    )

    destination.refresh_from_db()
    assert response.status_code == 302
    assert not destination.enabled
    assert destination.disabled_reason == "Maintenance window"


def test_a_reason_too_long_for_the_column_is_refused(developer_client, destination):
    response = developer_client.post(
        _url("disable", destination), {"reason": "r" * 301}
    )

    destination.refresh_from_db()
    assert response.status_code == 400
    assert destination.enabled


def test_enabling_clears_the_reason_and_the_failure_clock(
    developer_client, destination
):
    destination.failing_since = timezone.now()
    services.destination_disable(destination, "Failing for five days")

    developer_client.post(_url("enable", destination))

    destination.refresh_from_db()
    assert destination.enabled
    assert destination.disabled_reason == ""
    assert destination.failing_since is None


def test_an_admin_deletes_a_destination_and_its_history(
    admin_client, destination, sandbox
):
    attempt_on(message_to(destination), 500)
    kept = destination_in(sandbox, "https://other.example.com/kept")
    kept_attempt = attempt_on(message_to(kept), 200)

    response = admin_client.post(_url("delete", destination))

    assert response.status_code == 302
    assert response["Location"] == _url("index")
    assert list(Destination.objects.all()) == [kept]
    assert list(Message.objects.all()) == [kept_attempt.message]
    assert list(Attempt.objects.all()) == [kept_attempt]


def test_a_developer_may_not_delete(developer_client, destination):
    response = developer_client.post(_url("delete", destination))

    assert response.status_code == 403
    assert Destination.objects.filter(pk=destination.pk).exists()


@pytest.mark.parametrize(
    "name", ["disable", "enable", "delete", "test", "rotate", "secret"]
)
def test_changes_need_a_post(admin_client, destination, name):
    assert admin_client.get(_url(name, destination)).status_code == 405


# Signing secrets


def test_an_admin_reveals_the_secret(admin_client, destination):
    response = admin_client.post(_url("secret", destination))

    secret = crypto.decrypt(destination.secret_encrypted)
    assert response.status_code == 200
    assert secret in response.content.decode()
    assert "no-store" in response["Cache-Control"]


def test_a_developer_may_not_reveal_the_secret(developer_client, destination):
    response = developer_client.post(_url("secret", destination))

    secret = crypto.decrypt(destination.secret_encrypted)
    assert response.status_code == 403
    assert secret not in response.content.decode()


def test_the_detail_page_never_shows_the_secret(admin_client, destination):
    page = admin_client.get(_url("destination", destination)).content.decode()

    assert crypto.decrypt(destination.secret_encrypted) not in page
    assert "Reveal secret" in page


def test_an_admin_rotates_with_the_chosen_overlap(admin_client, destination):
    old_secret = crypto.decrypt(destination.secret_encrypted)

    response = admin_client.post(_url("rotate", destination), {"overlap": "3600"})

    destination.refresh_from_db()
    expires = destination.previous_secret_expires_at
    assert response.status_code == 302
    assert crypto.decrypt(destination.previous_secret_encrypted) == old_secret
    assert crypto.decrypt(destination.secret_encrypted) != old_secret
    assert timedelta(minutes=59) < expires - timezone.now() <= timedelta(hours=1)


def test_rotating_without_overlap_drops_the_old_secret(admin_client, destination):
    admin_client.post(_url("rotate", destination), {"overlap": "0"})

    destination.refresh_from_db()
    assert destination.previous_secret_encrypted == ""
    assert destination.previous_secret_expires_at is None


def test_an_overlap_not_offered_is_refused(admin_client, destination):
    old = destination.secret_encrypted

    response = admin_client.post(_url("rotate", destination), {"overlap": "99999999"})

    destination.refresh_from_db()
    assert response.status_code == 400
    assert destination.secret_encrypted == old


def test_a_developer_may_not_rotate(developer_client, destination):
    old = destination.secret_encrypted

    response = developer_client.post(_url("rotate", destination), {"overlap": "0"})

    destination.refresh_from_db()
    assert response.status_code == 403
    assert destination.secret_encrypted == old


def test_the_page_says_when_the_old_secret_stops_signing(admin_client, destination):
    services.rotate_secret(destination, timedelta(hours=24))

    page = admin_client.get(_url("destination", destination)).content.decode()

    assert "The previous secret also signs every request until" in page


# Test events


def test_a_developer_sends_a_test_event(developer_client, destination):
    response = developer_client.post(_url("test", destination))

    message = Message.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("webhooks:message", args=[message.pk])
    assert message.is_test
    assert message.destination == destination
    assert message.event.type == "TEST_EVENT"


def test_no_test_event_goes_to_a_disabled_destination(developer_client, destination):
    services.destination_disable(destination)

    response = developer_client.post(_url("test", destination), follow=True)

    assert "Enable this destination before sending" in response.content.decode()
    assert not Message.objects.exists()
