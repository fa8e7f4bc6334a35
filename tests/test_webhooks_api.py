"""/versioned/configs/webhooks: Rutter's 2024-08-31 webhook configs API."""

import uuid

import pytest

from rutterdash.environments import Environment
from tests.api_support import client_for
from tests.factories import OrganisationFactory
from tests.webhooks_page_support import (  # noqa: F401 (autouse fixture)
    destination_in,
    safe_addresses,
)
from webhooks import services
from webhooks.models import Destination

CONFIGS = "/versioned/configs/webhooks"
URL = "https://hooks.example.com/rutter"


@pytest.fixture
def api(organisation):
    return client_for(organisation, Environment.SANDBOX)


def _post(client, body):
    return client.post(CONFIGS, body, content_type="application/json")


def _patch(client, webhook_id, body):
    path = f"{CONFIGS}/{webhook_id}"
    return client.patch(path, body, content_type="application/json")


def _error(response, status, code):
    body = response.json()
    assert response.status_code == status, body
    assert set(body) == {"error_type", "error_code", "error_message"}
    assert body["error_code"] == code
    return body["error_message"]


# Create


def test_creating_answers_the_new_config(api, sandbox):
    body = {"url": URL, "allow_list": {"allowedTypes": ["INITIAL_UPDATE"]}}

    response = _post(api, body)

    destination = Destination.objects.get()
    assert response.status_code == 200
    assert response.json() == {
        "webhook": {
            "id": str(destination.pk),
            "url": URL,
            "disabled": False,
            "allow_list": {"allowedTypes": ["INITIAL_UPDATE"]},
        }
    }
    assert destination.organisation == sandbox.organisation
    assert destination.environment == Environment.SANDBOX
    assert destination.event_types == ["INITIAL_UPDATE"]
    assert destination.secret_encrypted


def test_no_allow_list_means_every_type(api):
    response = _post(api, {"url": URL})

    assert response.json()["webhook"]["allow_list"] is None
    assert Destination.objects.get().event_types == []


def test_a_config_can_be_created_disabled(api):
    response = _post(api, {"url": URL, "disabled": True})

    destination = Destination.objects.get()
    assert response.json()["webhook"]["disabled"] is True
    assert not destination.enabled
    assert destination.disabled_reason == "Disabled through the API."


def test_the_key_decides_the_environment(organisation):
    production_api = client_for(organisation, Environment.PRODUCTION)

    _post(production_api, {"url": URL})

    assert Destination.objects.get().environment == Environment.PRODUCTION


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://127.0.0.1/hook", "127.0.0.1 is a loopback address"),
        ("https://[::ffff:10.0.0.1]/hook", "an IPv4-mapped IPv6 address"),
        ("https://0177.0.0.1/hook", "an address in an unusual form"),
        ("https://2130706433/hook", "an address in an unusual form"),
        ("https://sneaky.example.com/hook", "resolves to 127.0.0.1"),
        ("https://169.254.169.254/latest", "the cloud metadata service"),
        ("http://hooks.example.com/hook", "must use https://"),
        ("ftp://hooks.example.com/hook", "must start with https://"),
        ("not a url", "must start with https://"),
        ("https://nowhere.example.com/", "does not resolve"),
    ],
)
def test_an_address_we_must_not_call_is_refused_with_the_reason(api, url, problem):
    response = _post(api, {"url": url})

    message = _error(response, 400, "INVALID_FIELD")
    assert message.startswith("url: ")
    assert problem in message
    assert not Destination.objects.exists()


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({}, "MISSING_REQUIRED_FIELD", "url"),
        ({"url": ""}, "INVALID_FIELD", "url"),
        ({"url": URL + "x" * 2000}, "INVALID_FIELD", "url"),
        ({"url": URL + "\x00"}, "INVALID_FIELD", "url"),
        ({"url": 7}, "INVALID_FIELD", "url"),
        ({"url": URL, "disabled": "maybe"}, "INVALID_FIELD", "disabled"),
        ({"url": URL, "allow_list": {}}, "MISSING_REQUIRED_FIELD", "allow_list"),
        (
            {"url": URL, "allow_list": {"allowedTypes": []}},
            "INVALID_FIELD",
            "allow_list.allowedTypes",
        ),
        (
            {"url": URL, "allow_list": {"allowedTypes": ["ORDER_EATEN"]}},
            "INVALID_FIELD",
            "allow_list.allowedTypes",
        ),
        (
            {"url": URL, "platform_data_config": {}},
            "INVALID_FIELD",
            "platform_data_config",
        ),
    ],
)
def test_a_bad_body_is_refused_and_saves_nothing(api, body, code, field):
    response = _post(api, body)

    message = _error(response, 400, code)
    assert message.startswith(field)
    assert not Destination.objects.exists()


def test_an_unknown_type_names_the_known_ones(api):
    body = {"url": URL, "allow_list": {"allowedTypes": ["ORDER_EATEN"]}}

    message = _error(_post(api, body), 400, "INVALID_FIELD")

    assert "'ORDER_EATEN'" in message
    assert "INITIAL_UPDATE" in message


def test_repeated_types_are_kept_once(api):
    types = ["INITIAL_UPDATE", "INITIAL_UPDATE", "INVOICE_CREATED"]

    _post(api, {"url": URL, "allow_list": {"allowedTypes": types}})

    assert Destination.objects.get().event_types == [
        "INITIAL_UPDATE",
        "INVOICE_CREATED",
    ]


# List


def test_the_list_holds_the_keys_environment_only(api, sandbox, production):
    mine = destination_in(sandbox, event_types=["CONNECTION_DISABLED"])
    destination_in(production)
    destination_in(_other_organisation_scope())

    response = api.get(CONFIGS)

    assert response.status_code == 200
    assert response.json() == {
        "webhooks": [
            {
                "id": str(mine.pk),
                "url": mine.url,
                "disabled": False,
                "allow_list": {"allowedTypes": ["CONNECTION_DISABLED"]},
            }
        ]
    }


def _other_organisation_scope():
    from rutterdash.scoping import Scope

    return Scope(OrganisationFactory(), Environment.SANDBOX)


def test_a_destination_added_on_the_page_is_listed_disabled_as_it_is(api, sandbox):
    destination = destination_in(sandbox)
    services.destination_disable(destination, "Receiver down")

    listed = api.get(CONFIGS).json()["webhooks"]

    assert listed[0]["disabled"] is True


# Update


def test_patch_changes_only_what_it_sends(api, sandbox):
    destination = destination_in(
        sandbox, event_types=["INITIAL_UPDATE"], description="Keep me"
    )

    response = _patch(api, destination.pk, {"url": "https://other.example.com/new"})

    destination.refresh_from_db()
    assert response.status_code == 200
    assert response.json()["webhook"]["url"] == "https://other.example.com/new"
    assert destination.url == "https://other.example.com/new"
    assert destination.event_types == ["INITIAL_UPDATE"]
    assert destination.description == "Keep me"


def test_patch_sets_and_clears_the_allow_list(api, sandbox):
    destination = destination_in(sandbox)

    _patch(api, destination.pk, {"allow_list": {"allowedTypes": ["BILL_CREATED"]}})
    destination.refresh_from_db()
    assert destination.event_types == ["BILL_CREATED"]

    response = _patch(api, destination.pk, {"allow_list": None})
    destination.refresh_from_db()
    assert destination.event_types == []
    assert response.json()["webhook"]["allow_list"] is None


def test_patch_disables_and_enables(api, sandbox):
    destination = destination_in(sandbox)

    _patch(api, destination.pk, {"disabled": True})
    destination.refresh_from_db()
    assert not destination.enabled
    assert destination.disabled_reason == "Disabled through the API."

    _patch(api, destination.pk, {"disabled": False})
    destination.refresh_from_db()
    assert destination.enabled
    assert destination.disabled_reason == ""


def test_patch_to_an_unsafe_url_changes_nothing(api, sandbox):
    destination = destination_in(sandbox)

    body = {"url": "https://internal.example.com/x", "disabled": True}
    response = _patch(api, destination.pk, body)

    destination.refresh_from_db()
    assert "a private network address" in _error(response, 400, "INVALID_FIELD")
    assert destination.url == URL
    assert destination.enabled


def test_patch_refuses_a_null_url(api, sandbox):
    destination = destination_in(sandbox)

    response = _patch(api, destination.pk, {"url": None})

    destination.refresh_from_db()
    assert _error(response, 400, "INVALID_FIELD").startswith("url")
    assert destination.url == URL


# Delete


def test_delete_removes_the_config(api, sandbox):
    destination = destination_in(sandbox)

    response = api.delete(f"{CONFIGS}/{destination.pk}")

    assert response.status_code == 200
    assert response.json() == {"success": True}
    assert not Destination.objects.exists()


# Someone else's config


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_another_organisations_config_is_not_found(api, method):
    theirs = destination_in(_other_organisation_scope())

    response = _call(api, method, theirs.pk)

    assert _error(response, 404, "NOT_FOUND")
    assert Destination.objects.get().url == URL


@pytest.mark.parametrize("method", ["patch", "delete"])
def test_the_other_environments_config_is_not_found(api, production, method):
    elsewhere = destination_in(production)

    response = _call(api, method, elsewhere.pk)

    assert _error(response, 404, "NOT_FOUND")
    assert Destination.objects.filter(pk=elsewhere.pk, enabled=True).exists()


@pytest.mark.parametrize("webhook_id", [uuid.uuid4(), "webhook_config_123"])
def test_an_unknown_id_is_not_found(api, webhook_id):
    assert _error(_call(api, "delete", webhook_id), 404, "NOT_FOUND")


def _call(api, method, webhook_id):
    if method == "patch":
        return _patch(api, webhook_id, {"disabled": True})
    return api.delete(f"{CONFIGS}/{webhook_id}")


def test_without_credentials_nothing_is_listed(sandbox, client):
    destination_in(sandbox)

    response = client.get(CONFIGS, headers={"X-Rutter-Version": "2024-08-31"})

    assert _error(response, 401, "INVALID_CREDENTIALS")


def test_a_wrong_method_answers_the_error_object(api):
    assert _error(api.put(CONFIGS), 405, "METHOD_NOT_ALLOWED")


def test_the_document_describes_the_configs_api(api):
    paths = api.get("/versioned/openapi.json").json()["paths"]

    assert set(paths[CONFIGS]) == {"get", "post"}
    assert set(paths[CONFIGS + "/{webhook_id}"]) == {"patch", "delete"}


def test_a_retried_create_with_the_same_idempotency_key_adds_one_config(api):
    headers = {"Idempotency-Key": "create-hook-1"}
    body = {"url": URL}

    first = api.post(CONFIGS, body, content_type="application/json", headers=headers)
    again = api.post(CONFIGS, body, content_type="application/json", headers=headers)

    assert first.status_code == again.status_code == 200
    assert again.json() == first.json()
    assert Destination.objects.count() == 1


def test_a_config_created_through_the_api_shows_on_the_page(api, admin_client):
    webhook_id = _post(api, {"url": URL}).json()["webhook"]["id"]

    page = admin_client.get(f"/webhooks/destinations/{webhook_id}/")

    assert page.status_code == 200
    assert URL in page.content.decode()
