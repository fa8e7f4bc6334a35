import pytest
from django.http import Http404

from connections.models import Connection
from tests.factories import ConnectionFactory, OrganisationFactory


def test_scope_lists_only_its_own_organisation_and_environment(sandbox, production):
    mine = ConnectionFactory(organisation=sandbox.organisation)
    ConnectionFactory(organisation=sandbox.organisation, environment="production")
    ConnectionFactory(organisation=OrganisationFactory())

    assert list(sandbox.all(Connection)) == [mine]


def test_scope_get_answers_404_for_another_environment(sandbox, production):
    theirs = ConnectionFactory(
        organisation=sandbox.organisation, environment="production"
    )

    with pytest.raises(Http404):
        sandbox.get(Connection, pk=theirs.pk)

    assert production.get(Connection, pk=theirs.pk) == theirs


def test_scope_get_answers_404_for_another_organisation(sandbox):
    theirs = ConnectionFactory(organisation=OrganisationFactory())

    with pytest.raises(Http404):
        sandbox.get(Connection, pk=theirs.pk)


def test_scope_get_answers_404_for_a_malformed_id(sandbox):
    with pytest.raises(Http404):
        sandbox.get(Connection, pk="not-a-uuid")


def test_stamp_gives_a_new_row_the_scope(sandbox):
    connection = sandbox.stamp(Connection(platform="XERO"))

    assert connection.organisation == sandbox.organisation
    assert connection.environment == "sandbox"
