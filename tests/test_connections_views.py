"""The connections list: status tabs, search, pagination and sandbox creation."""

import re
import uuid

import pytest
from django_tasks_db.models import DBTaskResult

from connections.models import ENTITIES, Connection, EntitySync
from rutterdash import crypto
from rutterdash.environments import Environment
from tests.conftest import signed_in_client
from tests.factories import ConnectionFactory

LIST_URL = "/connections/"
CREATE_URL = "/connections/create/"


@pytest.fixture
def juniper(organisation):
    return ConnectionFactory(
        organisation=organisation,
        platform="QUICKBOOKS",
        store_name="Juniper Coffee Roasters",
    )


@pytest.fixture
def harbour(organisation):
    return ConnectionFactory(
        organisation=organisation,
        platform="XERO",
        store_name="Harbour Lane Bikes",
    )


def listed(response):
    return {connection.pk for connection in response.context["connections"]}


def search(client, text, **params):
    return client.get(LIST_URL, {"q": text, **params})


def test_anonymous_visitor_is_sent_to_sign_in(client, juniper):
    response = client.get(LIST_URL)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_outsider_sees_none_of_another_organisations_connections(
    outsider_client, juniper
):
    response = outsider_client.get(LIST_URL)

    assert response.status_code == 200
    assert listed(response) == set()
    assert b"Juniper" not in response.content


@pytest.mark.parametrize("persona", ["developer_client", "admin_client"])
def test_members_see_their_connections_with_a_link_to_each(
    request, persona, juniper
):
    response = request.getfixturevalue(persona).get(LIST_URL)

    assert response.status_code == 200
    assert listed(response) == {juniper.pk}
    assert f'href="/connections/{juniper.pk}/"'.encode() in response.content


def test_list_shows_the_token_prefix_but_never_the_full_token(
    developer_client, juniper
):
    response = developer_client.get(LIST_URL)

    assert juniper.access_token_prefix.encode() in response.content
    assert juniper.access_token().encode() not in response.content


def test_production_connection_is_invisible_in_sandbox(
    developer_client, organisation, juniper
):
    live = ConnectionFactory(
        organisation=organisation,
        environment=Environment.PRODUCTION,
        store_name="Juniper Live",
    )

    response = search(developer_client, "Juniper")

    assert listed(response) == {juniper.pk}
    assert live.pk not in listed(response)


def test_production_list_shows_only_production_connections(
    developer, organisation, juniper
):
    live = ConnectionFactory(
        organisation=organisation, environment=Environment.PRODUCTION
    )

    response = signed_in_client(developer, Environment.PRODUCTION).get(LIST_URL)

    assert listed(response) == {live.pk}


def test_search_matches_platform_code(developer_client, juniper, harbour):
    response = search(developer_client, "xero")

    assert listed(response) == {harbour.pk}


def test_search_matches_platform_display_name(developer_client, juniper, harbour):
    response = search(developer_client, "QuickBooks Online")

    assert listed(response) == {juniper.pk}


def test_search_matches_store_name_case_insensitively(
    developer_client, juniper, harbour
):
    response = search(developer_client, "  coffee ROAST ")

    assert listed(response) == {juniper.pk}


def test_search_matches_an_id_prefix_of_eight_characters(
    developer_client, juniper, harbour
):
    response = search(developer_client, str(harbour.pk)[:8])

    assert listed(response) == {harbour.pk}


def test_search_matches_an_id_prefix_with_hyphens_and_capitals(
    developer_client, juniper, harbour
):
    response = search(developer_client, str(harbour.pk)[:14].upper())

    assert listed(response) == {harbour.pk}


def test_search_matches_the_full_id(developer_client, juniper, harbour):
    response = search(developer_client, str(juniper.pk))

    assert listed(response) == {juniper.pk}


def test_search_ignores_an_id_prefix_shorter_than_eight(
    developer_client, juniper, harbour
):
    response = search(developer_client, str(harbour.pk)[:7])

    assert listed(response) == set()


def test_id_prefix_matches_the_whole_range_and_nothing_beside_it(
    developer_client, organisation
):
    ids = {
        "lowest": "0badcafe-0000-4000-8000-000000000000",
        "highest": "0badcafe-ffff-4fff-bfff-ffffffffffff",
        "below": "0badcafd-ffff-4fff-bfff-ffffffffffff",
        "above": "0badcaff-0000-4000-8000-000000000000",
    }
    for value in ids.values():
        ConnectionFactory(organisation=organisation, id=uuid.UUID(value))

    response = search(developer_client, "0BADCAFE")

    expected = {uuid.UUID(ids["lowest"]), uuid.UUID(ids["highest"])}
    assert listed(response) == expected


def test_search_matches_the_full_access_token(developer_client, juniper, harbour):
    response = search(developer_client, harbour.access_token())

    assert listed(response) == {harbour.pk}


def test_search_with_a_wrong_token_matches_nothing(
    developer_client, juniper, harbour
):
    wrong = "access-sandbox-00000000-0000-4000-8000-000000000000"

    response = search(developer_client, wrong)

    assert listed(response) == set()
    assert b"No connections match" in response.content


def test_search_with_a_token_prefix_matches_nothing(developer_client, juniper):
    response = search(developer_client, juniper.access_token_prefix)

    assert listed(response) == set()


def test_search_cannot_find_another_organisations_token(developer_client):
    elsewhere = ConnectionFactory()

    response = search(developer_client, elsewhere.access_token())

    assert listed(response) == set()


@pytest.fixture
def one_of_each_status(organisation):
    return {
        "active": ConnectionFactory(organisation=organisation),
        "syncing": ConnectionFactory(
            organisation=organisation, is_ready=False, sync_status="running"
        ),
        "needs_maintenance": ConnectionFactory(
            organisation=organisation, disabled=True
        ),
    }


def tab_counts(response):
    return {tab["label"]: tab["count"] for tab in response.context["tabs"]}


def test_tabs_count_connections_in_each_status(
    developer_client, one_of_each_status
):
    response = developer_client.get(LIST_URL)

    assert tab_counts(response) == {
        "All": 3,
        "Active": 1,
        "Needs maintenance": 1,
        "Syncing": 1,
    }
    assert re.search(rb"Syncing <span class=\"count\">1</span>", response.content)


@pytest.mark.parametrize("status", ["active", "syncing", "needs_maintenance"])
def test_status_filter_lists_only_that_status(
    developer_client, one_of_each_status, status
):
    response = developer_client.get(LIST_URL, {"status": status})

    assert listed(response) == {one_of_each_status[status].pk}


def test_tab_counts_follow_the_search(developer_client, organisation):
    ConnectionFactory(organisation=organisation, store_name="Bluebell Bakery")
    ConnectionFactory(
        organisation=organisation, store_name="Bluebell Two", disabled=True
    )
    ConnectionFactory(organisation=organisation, store_name="Atlas Outdoor")

    response = search(developer_client, "bluebell")

    assert tab_counts(response)["All"] == 2
    assert tab_counts(response)["Needs maintenance"] == 1


def test_unknown_status_is_treated_as_all(developer_client, one_of_each_status):
    response = developer_client.get(LIST_URL, {"status": "bogus", "page": "x"})

    assert response.status_code == 200
    assert len(listed(response)) == 3
    assert response.context["filters"]["status"] == ""


def test_pagination_links_keep_the_filter_and_search(
    developer_client, organisation, settings
):
    settings.CONNECTIONS_PER_PAGE = 2
    for number in range(3):
        ConnectionFactory(organisation=organisation, store_name=f"Oak {number}")
    ConnectionFactory(organisation=organisation, store_name="Elm")

    first = developer_client.get(LIST_URL, {"status": "active", "q": "oak"})
    second = developer_client.get(
        LIST_URL, {"status": "active", "q": "oak", "page": 2}
    )

    assert b'href="/connections/?status=active&amp;q=oak&amp;page=2"' in (
        first.content
    )
    assert len(listed(first)) == 2
    assert len(listed(second)) == 1
    assert b"?status=active&amp;q=oak&amp;page=1" in second.content


def test_tab_links_keep_the_search_and_drop_the_page(
    developer_client, juniper
):
    response = developer_client.get(LIST_URL, {"q": "oak", "page": 3})

    assert b'href="/connections/?q=oak&amp;status=syncing"' in response.content
    assert b'href="/connections/?q=oak"' in response.content


def test_sandbox_list_offers_to_create_a_connection(developer_client):
    response = developer_client.get(LIST_URL)

    assert f'action="{CREATE_URL}"'.encode() in response.content


def test_production_list_has_no_create_form(developer):
    client = signed_in_client(developer, Environment.PRODUCTION)

    response = client.get(LIST_URL)

    assert CREATE_URL.encode() not in response.content
    assert b"created through Link" in response.content


def create(client, **data):
    return client.post(CREATE_URL, {"platform": "XERO", **data}, follow=True)


def test_create_makes_a_sandbox_connection_and_shows_its_token_once(
    developer_client, organisation
):
    response = create(developer_client, store_name="Copper Kettle")

    connection = Connection.objects.get()
    assert response.redirect_chain == [(f"/connections/{connection.pk}/", 302)]
    assert connection.organisation == organisation
    assert connection.environment == Environment.SANDBOX
    assert (connection.platform, connection.store_name) == ("XERO", "Copper Kettle")
    token = connection.access_token()
    assert token.startswith("access-sandbox-")
    assert token.encode() in response.content
    assert crypto.keyed_hash(token) == connection.access_token_hash


def test_create_without_store_name_uses_a_generated_name(developer_client):
    create(developer_client)

    assert Connection.objects.get().store_name != ""


def test_create_enqueues_the_initial_sync(
    developer_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        create(developer_client)

    connection = Connection.objects.get()
    task = DBTaskResult.objects.get()
    assert task.task_path.endswith(".sync_connection")
    assert task.args_kwargs["args"][0] == str(connection.pk)
    entities = EntitySync.objects.filter(connection=connection)
    assert sorted(entities.values_list("entity", flat=True)) == sorted(ENTITIES)


def test_create_is_refused_in_production(developer, django_capture_on_commit_callbacks):
    client = signed_in_client(developer, Environment.PRODUCTION)

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(CREATE_URL, {"platform": "XERO"})

    assert response.status_code == 403
    assert b"Production connections are created through Link" in response.content
    assert not Connection.objects.exists()
    assert not DBTaskResult.objects.exists()


def test_create_with_unknown_platform_is_a_bad_request(developer_client):
    response = developer_client.post(CREATE_URL, {"platform": "NOPE"})

    assert response.status_code == 400
    assert not Connection.objects.exists()


def test_create_requires_sign_in(client, db):
    response = client.post(CREATE_URL, {"platform": "XERO"})

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert not Connection.objects.exists()


def test_outsider_creates_in_their_own_organisation(outsider_client, outsider):
    create(outsider_client)

    connection = Connection.objects.get()
    assert connection.organisation == outsider.memberships.get().organisation


def test_create_refuses_get(developer_client):
    response = developer_client.get(CREATE_URL)

    assert response.status_code == 405


def test_create_refuses_a_store_name_over_the_column_limit(developer_client):
    response = create(developer_client, store_name="N" * 201)

    assert not Connection.objects.exists()
    assert "at most 200 characters" in response.content.decode()
    assert 'value="' + "N" * 201 + '"' in response.content.decode()


def test_the_create_form_carries_its_environment(developer_client):
    response = developer_client.get(LIST_URL)

    assert b'name="environment" value="sandbox"' in response.content


def test_create_sent_after_a_switch_to_production_keeps_the_input(developer):
    client = signed_in_client(developer, Environment.PRODUCTION)

    response = client.post(
        CREATE_URL,
        {"environment": "sandbox", "platform": "XERO", "store_name": "Copper Kettle"},
    )

    assert response.status_code == 409
    page = response.content.decode()
    assert "opened in Sandbox" in page
    assert "switched to Production" in page
    assert "Copper Kettle" in page
    assert not Connection.objects.exists()

    next_url = "/connections/?platform=XERO&store_name=Copper+Kettle"
    assert f'value="{next_url}"'.replace("&", "&amp;") in page
    switched = client.post(
        "/environment/", {"environment": "sandbox", "next": next_url}, follow=True
    )
    form = switched.context["create_form"]
    assert form.initial == {"platform": "XERO", "store_name": "Copper Kettle"}
    assert 'value="Copper Kettle"' in switched.content.decode()


def test_create_without_an_environment_uses_the_session_as_before(developer):
    client = signed_in_client(developer, Environment.PRODUCTION)

    response = client.post(CREATE_URL, {"platform": "XERO"})

    assert response.status_code == 403
    assert not Connection.objects.exists()
