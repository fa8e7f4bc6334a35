from datetime import timedelta

import pytest
from django.utils import timezone

from accounts import services
from accounts.models import Invite, Role
from rutterdash import crypto

CREATE_URL = "/settings/invites/"


def revoke_url(invite):
    return f"/settings/invites/{invite.public_id}/revoke/"


@pytest.fixture
def invite(organisation, admin):
    return services.invite_create(organisation, Role.DEVELOPER, admin)[0]


def test_admin_creates_an_invite_link_shown_once(admin_client, organisation):
    response = admin_client.post(CREATE_URL, {"role": "admin"})
    shown = admin_client.get("/settings/")
    again = admin_client.get("/settings/")

    link = shown.context["new_invite_link"]
    token = link.rsplit("/", 2)[-2]
    invite = Invite.objects.get(organisation=organisation)
    assert response.status_code == 302
    assert response.url == "/settings/#invites"
    assert link.startswith("http://testserver/invite/inv_")
    assert invite.token_hash == crypto.keyed_hash(token)
    assert invite.role == Role.ADMIN
    assert link.encode() in shown.content
    assert again.context["new_invite_link"] is None
    assert token.encode() not in again.content


def test_an_invite_expires_after_the_configured_days(admin_client, settings):
    settings.INVITE_VALID_DAYS = 7

    admin_client.post(CREATE_URL, {"role": "developer"})

    invite = Invite.objects.get()
    lifetime = invite.expires_at - invite.created
    assert timedelta(days=7) - lifetime < timedelta(seconds=5)


def test_an_unknown_role_is_a_field_error(admin_client):
    response = admin_client.post(CREATE_URL, {"role": "owner"})

    assert response.status_code == 200
    assert response.context["invite_form"].errors["role"]
    assert not Invite.objects.exists()


def test_pending_invites_are_listed_and_finished_ones_are_not(
    admin_client, organisation, admin, invite
):
    used = services.invite_create(organisation, Role.DEVELOPER, admin)[0]
    used.accepted_at = timezone.now()
    used.save()
    expired = services.invite_create(organisation, Role.DEVELOPER, admin)[0]
    expired.expires_at = timezone.now()
    expired.save()

    response = admin_client.get("/settings/")

    assert list(response.context["invites"]) == [invite]
    assert revoke_url(invite).encode() in response.content
    assert revoke_url(used).encode() not in response.content


def test_admin_revokes_a_pending_invite(admin_client, invite):
    response = admin_client.post(revoke_url(invite))

    invite.refresh_from_db()
    assert response.status_code == 302
    assert response.url == "/settings/#invites"
    assert invite.state == "revoked"


def test_revoking_a_used_invite_leaves_it_used(admin_client, invite):
    invite.accepted_at = timezone.now()
    invite.save()

    response = admin_client.post(revoke_url(invite), follow=True)

    invite.refresh_from_db()
    assert invite.revoked_at is None
    assert b"already used" in response.content


def test_developer_sees_no_invites(developer_client, invite):
    response = developer_client.get("/settings/")

    assert list(response.context["invites"]) == []
    assert revoke_url(invite).encode() not in response.content


def test_developer_may_not_create_invites(developer_client):
    response = developer_client.post(CREATE_URL, {"role": "admin"})

    assert response.status_code == 403
    assert not Invite.objects.exists()


def test_developer_may_not_revoke(developer_client, invite):
    response = developer_client.post(revoke_url(invite))

    invite.refresh_from_db()
    assert response.status_code == 403
    assert invite.state == "pending"


def test_outsider_gets_404_for_another_teams_invite(outsider_client, invite):
    response = outsider_client.post(revoke_url(invite))

    invite.refresh_from_db()
    assert response.status_code == 404
    assert invite.state == "pending"


def test_outsider_invites_join_their_own_organisation(
    outsider_client, outsider, organisation
):
    outsider_client.post(CREATE_URL, {"role": "admin"})

    invite = Invite.objects.get()
    assert invite.organisation == outsider.memberships.get().organisation
    assert invite.organisation != organisation


def test_anonymous_invite_actions_are_sent_to_sign_in(client, invite):
    created = client.post(CREATE_URL, {"role": "admin"})
    revoked = client.post(revoke_url(invite))

    invite.refresh_from_db()
    assert created.url.startswith("/accounts/login/")
    assert revoked.url.startswith("/accounts/login/")
    assert Invite.objects.count() == 1
    assert invite.state == "pending"


def test_invite_actions_refuse_get(admin_client, invite):
    created = admin_client.get(CREATE_URL)
    revoked = admin_client.get(revoke_url(invite))

    assert created.status_code == 405
    assert revoked.status_code == 405
    assert Invite.objects.count() == 1
