"""No page and no API call shows one organisation's or environment's data to
another. Four connections, one per (organisation, environment); each viewer
must see exactly its own on every page and through every endpoint."""

import pytest

from accounts.models import Role
from rutterdash.environments import Environment
from tests.api_support import add_chart, client_for
from tests.conftest import signed_in_client
from tests.factories import ConnectionFactory, MembershipFactory, OrganisationFactory

ENVIRONMENTS = [Environment.SANDBOX, Environment.PRODUCTION]


@pytest.fixture
def world(db):
    """Two organisations, each with one booked connection per environment."""
    connections = {}
    for org_name in ("Acme", "Bravo"):
        organisation = OrganisationFactory(name=org_name)
        for environment in ENVIRONMENTS:
            connection = ConnectionFactory(
                organisation=organisation,
                environment=environment,
                store_name=f"{org_name} {environment} store",
            )
            add_chart(connection)
            connections[org_name, environment] = connection
    return connections


def _others(world, mine):
    return [connection for key, connection in world.items() if key != mine]


def _member_client(organisation, environment):
    user = MembershipFactory(organisation=organisation, role=Role.ADMIN).user
    return signed_in_client(user, environment)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_dashboard_pages_show_only_the_viewers_scope(world, environment):
    mine = world["Acme", environment]
    client = _member_client(mine.organisation, environment)

    for path in ("/", "/connections/", f"/connections/{mine.pk}/", "/settings/"):
        page = client.get(path).content.decode()
        for other in _others(world, ("Acme", environment)):
            assert other.store_name not in page, path
            assert str(other.pk) not in page, path

    assert mine.store_name in client.get("/connections/").content.decode()


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize("suffix", ["", "export/", "report/"])
def test_foreign_connection_urls_answer_404(world, environment, suffix):
    mine = world["Acme", environment]
    client = _member_client(mine.organisation, environment)

    for other in _others(world, ("Acme", environment)):
        response = client.get(f"/connections/{other.pk}/{suffix}")
        assert response.status_code == 404


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_foreign_connections_cannot_be_changed(world, environment):
    mine = world["Acme", environment]
    client = _member_client(mine.organisation, environment)

    for other in _others(world, ("Acme", environment)):
        for action in ("resync", "disable", "delete"):
            response = client.post(f"/connections/{other.pk}/{action}/")
            assert response.status_code == 404
        other.refresh_from_db()
        assert not other.disabled


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_api_lists_only_the_keys_scope(world, environment):
    mine = world["Acme", environment]
    api = client_for(mine.organisation, environment)

    listed = api.get("/versioned/connections").json()["connections"]

    assert [row["id"] for row in listed] == [str(mine.pk)]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
@pytest.mark.parametrize(
    "path",
    [
        "/versioned/connections/access_token",
        "/versioned/connections/status",
        "/versioned/accounting/accounts",
        "/versioned/accounting/invoices",
    ],
)
def test_api_treats_foreign_tokens_as_unknown(world, environment, path):
    mine = world["Acme", environment]
    api = client_for(mine.organisation, environment)

    assert api.get(path, {"access_token": mine.access_token()}).status_code == 200
    for other in _others(world, ("Acme", environment)):
        response = api.get(path, {"access_token": other.access_token()})
        assert response.status_code == 401
        assert response.json()["error_code"] == "INVALID_CREDENTIALS"
