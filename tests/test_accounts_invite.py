import threading
from datetime import timedelta

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection, transaction
from django.utils import timezone

from accounts import services
from accounts.models import Membership, Role, User
from tests.factories import PASSWORD, MembershipFactory, UserFactory


@pytest.fixture
def invite_and_token(organisation, admin):
    return services.invite_create(organisation, Role.DEVELOPER, admin)


@pytest.fixture
def invite(invite_and_token):
    return invite_and_token[0]


@pytest.fixture
def invite_url(invite_and_token):
    return f"/invite/{invite_and_token[1]}/"


def _newcomer(**overrides):
    password = overrides.get("password", PASSWORD)
    return {
        "name": "Grace Hopper",
        "email": "grace@example.com",
        "password": password,
        "password_confirm": password,
        **overrides,
    }


def test_a_newcomer_sees_the_organisation_and_a_form(client, invite_url):
    response = client.get(invite_url)

    assert response.status_code == 200
    assert b"Join Acme Lending" in response.content
    assert set(response.context["form"].fields) == {
        "name",
        "email",
        "password",
        "password_confirm",
    }


def test_a_newcomer_joins_with_the_invites_role_and_is_signed_in(
    client, invite, invite_url, organisation
):
    response = client.post(invite_url, _newcomer())

    user = User.objects.get(email="grace@example.com")
    membership = Membership.objects.get(user=user)
    invite.refresh_from_db()
    assert response.status_code == 302
    assert response.url == "/"
    assert membership.organisation == organisation
    assert membership.role == Role.DEVELOPER
    assert invite.accepted_by == user
    assert invite.accepted_at is not None
    assert client.session[SESSION_KEY] == str(user.pk)


def test_an_admin_invite_makes_an_admin(client, organisation, admin):
    _invite, token = services.invite_create(organisation, Role.ADMIN, admin)

    client.post(f"/invite/{token}/", _newcomer())

    assert Membership.objects.get(user__email="grace@example.com").is_admin


def test_the_new_teammate_reaches_the_dashboard(client, invite_url):
    client.post(invite_url, _newcomer())

    response = client.get("/")

    assert response.status_code == 200
    assert b"Acme Lending" in response.content


def test_an_email_in_use_is_a_field_error_and_the_invite_stays_open(
    client, invite, invite_url, admin
):
    response = client.post(invite_url, _newcomer(email=admin.email.upper()))

    invite.refresh_from_db()
    assert response.status_code == 200
    assert "already exists" in response.context["form"].errors["email"][0]
    assert invite.state == "pending"


def test_a_weak_password_is_a_field_error(client, invite, invite_url):
    response = client.post(invite_url, _newcomer(password="12345678"))

    assert response.context["form"].errors["password"]
    assert not User.objects.filter(email="grace@example.com").exists()


def test_a_mistyped_confirmation_is_a_field_error_and_keeps_the_rest(
    client, invite, invite_url
):
    response = client.post(
        invite_url, _newcomer(password_confirm=PASSWORD + "x")
    )

    form = response.context["form"]
    assert response.status_code == 200
    assert form.errors["password_confirm"] == ["The two passwords differ."]
    assert 'value="grace@example.com"' in response.content.decode()
    assert not User.objects.filter(email="grace@example.com").exists()
    invite.refresh_from_db()
    assert invite.state == "pending"


def test_a_link_works_only_once(client, invite_url):
    client.post(invite_url, _newcomer())
    client.post("/accounts/logout/")

    response = client.post(invite_url, _newcomer(email="second@example.com"))

    assert response.status_code == 410
    assert b"already been used" in response.content
    assert not User.objects.filter(email="second@example.com").exists()


def test_an_expired_link_says_so_with_410(client, invite, invite_url):
    invite.expires_at = timezone.now() - timedelta(minutes=1)
    invite.save()

    response = client.get(invite_url)

    assert response.status_code == 410
    assert b"This invite link has expired" in response.content


def test_a_revoked_link_says_so_with_410(client, invite, invite_url):
    services.invite_revoke(invite)

    response = client.post(invite_url, _newcomer())

    assert response.status_code == 410
    assert b"This invite link was revoked" in response.content
    assert not User.objects.filter(email="grace@example.com").exists()


def test_an_unknown_link_says_so_with_404(client, db):
    response = client.get("/invite/inv_not-a-real-token/")

    assert response.status_code == 404
    assert b"This invite link is not valid" in response.content


def test_a_member_of_another_team_is_told_who_they_are_and_offered_sign_out(
    outsider_client, outsider, invite, invite_url
):
    response = outsider_client.get(invite_url)

    invite.refresh_from_db()
    assert response.status_code == 200
    assert f"signed in as <strong>{outsider.email}".encode() in response.content
    assert b'action="/accounts/logout/"' in response.content
    assert f'name="next" value="{invite_url}"'.encode() in response.content
    assert invite.state == "pending"


def test_signing_out_from_the_invite_returns_to_it(
    outsider_client, invite_url
):
    response = outsider_client.post("/accounts/logout/", {"next": invite_url})
    page = outsider_client.get(invite_url)

    assert response.url == invite_url
    assert SESSION_KEY not in outsider_client.session
    assert "form" in page.context


def test_a_member_of_another_team_cannot_accept_by_posting(
    outsider_client, outsider, invite, invite_url
):
    outsider_client.post(invite_url, _newcomer())

    invite.refresh_from_db()
    assert invite.state == "pending"
    assert outsider.memberships.count() == 1


def test_a_member_of_the_same_team_is_told_they_are_already_in(
    developer_client, invite, invite_url
):
    response = developer_client.get(invite_url)

    invite.refresh_from_db()
    assert response.status_code == 200
    assert b"You are already in Acme Lending" in response.content
    assert invite.state == "pending"


def test_a_signed_in_person_without_a_team_may_join_with_their_account(
    client, invite, invite_url, organisation
):
    loner = UserFactory()
    client.force_login(loner)

    page = client.get(invite_url)
    response = client.post(invite_url)

    invite.refresh_from_db()
    assert f"Join as {loner.email}".encode() in page.content
    assert response.url == "/"
    assert loner.memberships.get().organisation == organisation
    assert invite.accepted_by == loner


def test_the_invite_page_refuses_other_methods(client, invite_url):
    response = client.put(invite_url)

    assert response.status_code == 405


def test_accepting_an_invite_twice_through_the_service_fails(
    invite_and_token,
):
    _invite, token = invite_and_token
    services.invite_accept(token, UserFactory())

    with pytest.raises(services.InviteUnavailable) as refusal:
        services.invite_accept(token, UserFactory())

    assert refusal.value.state == "used"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_accepts_cannot_both_succeed():
    admin = MembershipFactory(role=Role.ADMIN)
    organisation = admin.organisation
    _invite, token = services.invite_create(
        organisation, Role.DEVELOPER, admin.user
    )
    first, second = UserFactory(), UserFactory()
    first_accepted = threading.Event()
    outcomes = {}

    def accept_and_hold():
        with transaction.atomic():
            services.invite_accept(token, first)
            first_accepted.set()
            # Hold the row lock while the second accept arrives.
            threading.Event().wait(0.5)
        connection.close()

    def accept_while_held():
        first_accepted.wait(5)
        try:
            services.invite_accept(token, second)
            outcomes["second"] = "joined"
        except services.InviteUnavailable as refusal:
            outcomes["second"] = refusal.state
        connection.close()

    threads = [
        threading.Thread(target=accept_and_hold),
        threading.Thread(target=accept_while_held),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert outcomes == {"second": "used"}
    assert Membership.objects.filter(organisation=organisation).count() == 2
    assert not second.memberships.exists()
