"""Every accounting read over a generated sandbox book, checked page by page."""

from datetime import date

import pytest

from connections.sync import ENTITY_MODELS, sync_books
from rutterdash.environments import Environment
from tests.api_support import client_for, walk_list
from tests.factories import ConnectionFactory
from tests.openapi import assert_matches_schema
from tests.test_api_reads import SINGULAR

TOKEN = "access-sandbox-generated-reads-1"


@pytest.fixture
def connection(organisation):
    connection = ConnectionFactory(organisation=organisation, access_token=TOKEN)
    sync_books(connection, months=3, today=date(2024, 6, 15))
    return connection


@pytest.fixture
def sandbox_api(organisation):
    return client_for(organisation, Environment.SANDBOX)


def test_every_entity_walks_once_through_pages_that_match_the_schema(
    sandbox_api, connection
):
    for entity in SINGULAR:
        rows = walk_list(sandbox_api, TOKEN, entity, limit=97)

        stored = ENTITY_MODELS[entity].objects.filter(connection=connection)
        ids = [row["id"] for row in rows]
        assert len(ids) == len(set(ids)) == stored.count() > 0, entity


def test_the_first_of_every_entity_fetched_by_id_matches_the_schema(
    sandbox_api, connection
):
    for entity in SINGULAR:
        params = {"access_token": TOKEN, "limit": 1}
        listed = sandbox_api.get(f"/versioned/accounting/{entity}", params)
        [first] = listed.json()[entity]

        url = f"/versioned/accounting/{entity}/{first['id']}"
        response = sandbox_api.get(url, {"access_token": TOKEN})

        assert_matches_schema("get", f"/accounting/{entity}/{{id}}", response)
        assert response.json()[SINGULAR[entity]] == first


def test_company_info_of_a_generated_book_matches_the_schema(sandbox_api, connection):
    response = sandbox_api.get(
        "/versioned/accounting/company_info", {"access_token": TOKEN}
    )

    assert_matches_schema("get", "/accounting/company_info", response)
    assert response.json()["company_info"]["name"] == connection.store_name


def test_every_generated_journal_entry_balances(sandbox_api, connection):
    entries = walk_list(sandbox_api, TOKEN, "journal_entries", limit=500)

    for entry in entries:
        amounts = [round(line["total_amount"] * 100) for line in entry["line_items"]]
        assert sum(amounts) == 0, entry["platform_id"]
        assert any(amount < 0 for amount in amounts)
