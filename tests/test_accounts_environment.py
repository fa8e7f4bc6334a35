import pytest

from accounts.services import api_key_create
from rutterdash.environments import Environment
from tests.factories import ConnectionFactory

SWITCH_URL = "/environment/"
PAGES = ["/", "/settings/", "/connections/"]


@pytest.fixture
def keys(organisation):
    return {env: api_key_create(organisation, env)[0] for env in Environment}


def test_switching_to_production_is_remembered_and_follows_next(
    admin_client, keys
):
    response = admin_client.post(
        SWITCH_URL, {"environment": "production", "next": "/settings/"}
    )

    assert response.status_code == 302
    assert response.url == "/settings/"
    assert admin_client.session["environment"] == "production"


def test_the_switch_reaches_home(developer_client, keys):
    developer_client.post(SWITCH_URL, {"environment": "production"})
    production = developer_client.get("/")
    developer_client.post(SWITCH_URL, {"environment": "sandbox"})
    sandbox = developer_client.get("/")

    assert production.context["api_key"] == keys[Environment.PRODUCTION]
    assert sandbox.context["api_key"] == keys[Environment.SANDBOX]


@pytest.mark.parametrize("path", PAGES)
def test_every_page_shows_the_chosen_environment(admin_client, keys, path):
    admin_client.post(SWITCH_URL, {"environment": "production"})

    response = admin_client.get(path)

    assert response.status_code == 200
    assert response.context["scope"].environment == "production"
    assert b'data-environment="production"' in response.content
    assert b"env-production" in response.content


@pytest.mark.parametrize("path", PAGES)
def test_every_page_shows_sandbox_unmistakably(admin_client, keys, path):
    response = admin_client.get(path)

    assert b'data-environment="sandbox"' in response.content
    assert b'<body class="env-sandbox">' in response.content


def test_an_unknown_environment_is_a_bad_request(admin_client, keys):
    response = admin_client.post(SWITCH_URL, {"environment": "staging"})

    assert response.status_code == 400
    assert admin_client.session["environment"] == "sandbox"


@pytest.mark.parametrize(
    "unsafe",
    [
        "https://evil.example/",
        "//evil.example/",
        "javascript:alert(1)",
        "",
    ],
)
def test_an_unsafe_next_url_goes_home_instead(admin_client, keys, unsafe):
    response = admin_client.post(
        SWITCH_URL, {"environment": "production", "next": unsafe}
    )

    assert response.status_code == 302
    assert response.url == "/"
    assert admin_client.session["environment"] == "production"


def test_the_switch_refuses_get(admin_client):
    response = admin_client.get(SWITCH_URL, {"environment": "production"})

    assert response.status_code == 405
    assert admin_client.session["environment"] == "sandbox"


def test_anonymous_switch_is_sent_to_sign_in(client, db):
    response = client.post(SWITCH_URL, {"environment": "sandbox"})

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert "environment" not in client.session


def test_switching_on_a_connection_page_lands_on_the_list(
    admin_client, organisation
):
    connection = ConnectionFactory(organisation=organisation)
    page = f"/connections/{connection.pk}/"

    response = admin_client.post(
        SWITCH_URL, {"environment": "production", "next": page}
    )

    assert response.status_code == 302
    assert response.url == "/connections/"
    assert admin_client.get(response.url).status_code == 200
