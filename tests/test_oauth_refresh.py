"""Renewing a grant's access token with its refresh token."""

from datetime import timedelta

import pytest
from django.utils import timezone

from connections.models import Connection
from platforms import oauth
from platforms.models import PlatformGrant
from platforms.services import credentials_remove
from tests.factories import ConnectionFactory
from tests.fake_oauth_provider import FakeProvider
from tests.oauth_support import connect_platform


@pytest.fixture
def provider():
    fake = FakeProvider().start()
    yield fake
    fake.stop()


@pytest.fixture
def xero(settings, provider, production):
    connect_platform(settings, provider, production, "XERO")
    return provider


@pytest.fixture
def grant(production, xero):
    connection = ConnectionFactory(
        organisation=production.organisation,
        environment=production.environment,
        platform="XERO",
    )
    grant = PlatformGrant(connection=connection, scopes="accounting.settings.read")
    xero.refresh_tokens.add("refresh-one")
    grant.set_tokens("access-one", "refresh-one")
    grant.save()
    return grant


def test_refresh_stores_the_new_access_token(grant, xero):
    refreshed = oauth.refresh_grant(grant)

    refreshed.refresh_from_db()
    assert refreshed.access_token() == xero.issued_access_tokens[-1]
    assert refreshed.access_token_expires_at is not None
    assert refreshed.refreshed_at is not None
    assert refreshed.scopes == "accounting.settings.read"  # kept when not sent
    form = xero.token_requests[0]["form"]
    assert form == {"grant_type": "refresh_token", "refresh_token": "refresh-one"}


def test_refresh_keeps_the_rotated_refresh_token(grant, xero):
    oauth.refresh_grant(grant)

    grant.refresh_from_db()
    assert grant.refresh_token() != "refresh-one"
    assert grant.refresh_token() in xero.refresh_tokens
    assert "refresh-one" not in xero.refresh_tokens


def test_a_refresh_token_that_is_not_rotated_is_kept(grant, xero):
    xero.rotate_refresh = False

    oauth.refresh_grant(grant)

    grant.refresh_from_db()
    assert grant.refresh_token() == "refresh-one"


def test_refreshing_twice_works_with_the_rotated_token(grant, xero):
    oauth.refresh_grant(grant)
    grant.refresh_from_db()

    oauth.refresh_grant(grant)

    grant.refresh_from_db()
    assert grant.access_token() == xero.issued_access_tokens[-1]
    assert len(xero.issued_access_tokens) == 2


def test_a_stale_copy_does_not_spend_the_rotated_token_again(grant, xero):
    stale = PlatformGrant.objects.get(pk=grant.pk)
    oauth.refresh_grant(grant)

    current = oauth.refresh_grant(stale)

    assert len(xero.token_requests) == 1
    assert current.access_token() == xero.issued_access_tokens[-1]
    assert not Connection.objects.get().needs_reauth


def test_a_revoked_grant_flags_the_connection_for_reauthorisation(grant, xero):
    xero.revoke_refresh_tokens()

    with pytest.raises(oauth.TokenError) as refused:
        oauth.refresh_grant(grant)

    assert refused.value.code == "invalid_grant"
    connection = Connection.objects.get()
    assert connection.needs_reauth
    assert connection.needs_reauth_reason == (
        "Xero no longer accepts this connection's sign-in."
    )
    grant.refresh_from_db()
    assert grant.access_token() == "access-one"


def test_a_failing_provider_leaves_the_connection_alone(grant, xero):
    xero.token_status = 503

    with pytest.raises(oauth.TokenError) as refused:
        oauth.refresh_grant(grant)

    assert refused.value.code == "server_error"
    assert not Connection.objects.get().needs_reauth
    grant.refresh_from_db()
    assert grant.access_token() == "access-one"
    assert grant.refreshed_at is None


def test_refresh_without_saved_credentials_is_refused(grant, production, xero):
    credentials_remove(production, "XERO")

    with pytest.raises(oauth.TokenError) as refused:
        oauth.refresh_grant(grant)

    assert refused.value.code == "missing_credentials"
    assert xero.token_requests == []
    assert not Connection.objects.get().needs_reauth


def test_a_grant_without_a_refresh_token_cannot_be_refreshed(grant, xero):
    grant.set_tokens("access-one", "")
    grant.save()

    with pytest.raises(oauth.TokenError) as refused:
        oauth.refresh_grant(grant)

    assert refused.value.code == "no_refresh_token"
    assert xero.token_requests == []


def test_a_fresh_access_token_is_used_as_it_is(grant, xero):
    grant.access_token_expires_at = timezone.now() + timedelta(minutes=30)
    grant.save()

    token = oauth.access_token_for(grant)

    assert token == "access-one"
    assert xero.token_requests == []


def test_an_access_token_about_to_expire_is_renewed_first(grant, xero):
    grant.access_token_expires_at = timezone.now() + timedelta(seconds=30)
    grant.save()

    token = oauth.access_token_for(grant)

    assert token == xero.issued_access_tokens[-1]
    assert len(xero.token_requests) == 1
