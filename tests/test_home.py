import base64
import html
import re
import shlex

import pytest

from accounts.models import ApiKey
from accounts.services import api_key_create
from connections.models import Connection
from rutterdash.environments import Environment
from tests.factories import OrganisationFactory

ROTATE_URL = "/api-keys/rotate/"


@pytest.fixture
def sandbox_key(organisation):
    return api_key_create(organisation, Environment.SANDBOX)


@pytest.fixture
def production_key(organisation):
    return api_key_create(organisation, Environment.PRODUCTION)


def curl_arguments(response):
    """The getting-started snippet, split as a shell would split it."""
    page = response.content.decode()
    found = re.search(r'data-testid="getting-started">(.*?)</code>', page, re.S)
    command = html.unescape(found.group(1)).replace("\\\n", " ")
    return shlex.split(command)


def option(arguments, flag):
    return [arguments[i + 1] for i, arg in enumerate(arguments) if arg == flag]


def test_anonymous_visitor_is_sent_to_sign_in(client, db):
    response = client.get("/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_home_shows_the_sandbox_key_when_sandbox_is_selected(
    admin_client, sandbox_key, production_key
):
    response = admin_client.get("/")

    key, _secret = sandbox_key
    assert response.status_code == 200
    assert response.context["api_key"] == key
    assert str(key.client_id).encode() in response.content
    assert key.public_key.encode() in response.content
    assert str(production_key[0].client_id).encode() not in response.content


def test_home_shows_the_production_key_otherwise(
    admin_client, sandbox_key, production_key
):
    session = admin_client.session
    del session["environment"]
    session.save()

    response = admin_client.get("/")

    key, _secret = production_key
    assert response.context["api_key"] == key
    assert str(key.client_id).encode() in response.content
    assert str(sandbox_key[0].client_id).encode() not in response.content


def test_home_shows_only_the_start_of_an_existing_secret(
    developer_client, sandbox_key
):
    response = developer_client.get("/")

    key, secret = sandbox_key
    assert secret.encode() not in response.content
    assert key.secret_hint.encode() in response.content
    assert secret.startswith("sk_test_")


def test_home_creates_a_missing_key_and_shows_its_secret_once(
    admin_client, organisation
):
    first = admin_client.get("/")
    second = admin_client.get("/")

    key = ApiKey.objects.get(
        organisation=organisation, environment=Environment.SANDBOX
    )
    assert key.check_secret(first.context["secret"])
    assert first.context["secret"].encode() in first.content
    assert second.context["secret"] is None


def test_home_is_never_cached(admin_client, sandbox_key):
    response = admin_client.get("/")

    assert "no-store" in response["Cache-Control"]


def test_getting_started_curl_creates_a_sandbox_quickbooks_connection(
    admin_client, sandbox_key
):
    response = admin_client.get("/")

    arguments = curl_arguments(response)
    assert arguments[0] == "curl"
    assert option(arguments, "-X") == ["POST"]
    assert "http://testserver/versioned/connections/create" in arguments
    assert "X-Rutter-Version: 2023-03-14" in option(arguments, "-H")
    assert "Content-Type: application/json" in option(arguments, "-H")
    assert option(arguments, "-d") == ['{"platform":"QUICKBOOKS"}']


def test_getting_started_curl_carries_a_new_secret_that_opens_the_key(
    admin_client, organisation
):
    response = admin_client.get("/")

    client_id, secret = option(curl_arguments(response), "-u")[0].split(":")
    key = ApiKey.objects.get(client_id=client_id)
    assert key.organisation == organisation
    assert key.environment == Environment.SANDBOX
    assert key.check_secret(secret)


def test_replaying_the_getting_started_curl_creates_a_connection(
    admin_client, client, organisation
):
    arguments = curl_arguments(admin_client.get("/"))

    credentials = option(arguments, "-u")[0].encode()
    headers = dict(h.split(": ", 1) for h in option(arguments, "-H"))
    path = next(a for a in arguments if a.startswith("http://testserver/"))
    response = client.generic(
        option(arguments, "-X")[0],
        path.removeprefix("http://testserver"),
        option(arguments, "-d")[0],
        content_type=headers["Content-Type"],
        headers={
            "Authorization": "Basic " + base64.b64encode(credentials).decode(),
            "X-Rutter-Version": headers["X-Rutter-Version"],
        },
    )

    created = Connection.objects.get(organisation=organisation)
    assert response.status_code == 200
    assert response.json()["connection"]["id"] == str(created.id)
    assert created.environment == Environment.SANDBOX
    assert created.platform == "QUICKBOOKS"


def test_getting_started_curl_has_a_placeholder_once_the_secret_was_shown(
    admin_client, sandbox_key
):
    response = admin_client.get("/")

    credentials = option(curl_arguments(response), "-u")[0]
    assert credentials == f"{sandbox_key[0].client_id}:YOUR_CLIENT_SECRET"


def test_admin_sees_the_rotate_button_and_developer_does_not(
    admin_client, developer_client, sandbox_key
):
    as_admin = admin_client.get("/")
    as_developer = developer_client.get("/")

    assert ROTATE_URL.encode() in as_admin.content
    assert ROTATE_URL.encode() not in as_developer.content


def test_admin_rotates_the_secret_and_sees_the_new_one_once(
    admin_client, sandbox_key
):
    key, old_secret = sandbox_key

    response = admin_client.post(ROTATE_URL, {"environment": "sandbox"})
    shown = admin_client.get("/")
    again = admin_client.get("/")

    key.refresh_from_db()
    new_secret = shown.context["secret"]
    assert response.status_code == 302
    assert response.url == "/"
    assert key.check_secret(new_secret)
    assert not key.check_secret(old_secret)
    assert key.secret() == new_secret
    assert again.context["secret"] is None


def test_rotating_keeps_the_client_id_and_public_key(admin_client, sandbox_key):
    key, _secret = sandbox_key

    admin_client.post(ROTATE_URL, {"environment": "sandbox"})

    rotated = ApiKey.objects.get(pk=key.pk)
    assert rotated.client_id == key.client_id
    assert rotated.public_key == key.public_key


def test_rotating_the_other_environment_leaves_this_one_alone(
    admin_client, sandbox_key, production_key
):
    admin_client.post(ROTATE_URL, {"environment": "production"})

    sandbox, sandbox_secret = sandbox_key
    production, production_secret = production_key
    sandbox.refresh_from_db()
    production.refresh_from_db()
    assert sandbox.check_secret(sandbox_secret)
    assert not production.check_secret(production_secret)
    assert admin_client.session["environment"] == "production"


def test_rotating_an_unknown_environment_is_a_bad_request(
    admin_client, sandbox_key
):
    key, secret = sandbox_key

    response = admin_client.post(ROTATE_URL, {"environment": "staging"})

    key.refresh_from_db()
    assert response.status_code == 400
    assert key.check_secret(secret)


def test_developer_may_not_rotate(developer_client, sandbox_key):
    key, secret = sandbox_key

    response = developer_client.post(ROTATE_URL, {"environment": "sandbox"})

    key.refresh_from_db()
    assert response.status_code == 403
    assert key.check_secret(secret)


def test_outsider_rotates_only_their_own_organisations_key(
    outsider_client, sandbox_key
):
    key, secret = sandbox_key

    outsider_client.post(ROTATE_URL, {"environment": "sandbox"})

    key.refresh_from_db()
    assert key.check_secret(secret)
    assert ApiKey.objects.exclude(organisation=key.organisation).count() == 1


def test_anonymous_rotate_is_sent_to_sign_in(client, sandbox_key):
    key, secret = sandbox_key

    response = client.post(ROTATE_URL, {"environment": "sandbox"})

    key.refresh_from_db()
    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert key.check_secret(secret)


def test_rotate_refuses_get(admin_client, sandbox_key):
    response = admin_client.get(ROTATE_URL)

    assert response.status_code == 405


def test_api_key_secrets_and_public_keys_carry_readable_prefixes(db):
    organisation = OrganisationFactory()

    sandbox, sandbox_secret = api_key_create(organisation, Environment.SANDBOX)
    live, live_secret = api_key_create(organisation, Environment.PRODUCTION)

    assert sandbox_secret.startswith("sk_test_")
    assert live_secret.startswith("sk_live_")
    assert sandbox.public_key.startswith("pk_test_")
    assert live.public_key.startswith("pk_live_")
    assert sandbox_secret not in (sandbox.secret_hash, sandbox.secret_encrypted)
    assert sandbox.secret() == sandbox_secret
