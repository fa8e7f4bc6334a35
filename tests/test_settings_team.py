import threading

import pytest
from django.contrib.auth import SESSION_KEY
from django.db import connection, transaction

from accounts import services
from accounts.models import Membership, Role
from tests.factories import MembershipFactory


def remove_url(membership):
    return f"/settings/team/{membership.public_id}/remove/"


@pytest.fixture
def developer_membership(developer):
    return developer.memberships.get()


@pytest.fixture
def admin_membership(admin):
    return admin.memberships.get()


def test_every_member_sees_the_team_with_roles(developer_client, admin):
    response = developer_client.get("/settings/")

    members = response.context["members"]
    assert {m.user.email for m in members} == {
        admin.email,
        response.wsgi_request.user.email,
    }
    assert b"Admin" in response.content
    assert b"Developer" in response.content


def test_developer_sees_no_admin_controls(developer_client, admin_membership):
    response = developer_client.get("/settings/")

    assert remove_url(admin_membership).encode() not in response.content
    assert b"/settings/invites/" not in response.content


def test_admin_sees_remove_buttons(admin_client, developer_membership):
    response = admin_client.get("/settings/")

    assert remove_url(developer_membership).encode() in response.content


def test_admin_removes_a_teammate(admin_client, developer_membership):
    response = admin_client.post(remove_url(developer_membership))

    assert response.status_code == 302
    assert response.url == "/settings/#team"
    assert not Membership.objects.filter(pk=developer_membership.pk).exists()


def test_a_removed_teammate_loses_access_at_their_next_request(
    admin_client, developer_client, developer_membership
):
    admin_client.post(remove_url(developer_membership))

    response = developer_client.get("/connections/")
    afterwards = developer_client.get("/")

    assert response.status_code == 302
    assert response.url == "/accounts/no-team/"
    assert afterwards.url == "/accounts/no-team/"
    assert b"no longer belong" in developer_client.get(response.url).content


def test_the_last_admin_cannot_be_removed(admin_client, admin_membership):
    response = admin_client.post(remove_url(admin_membership), follow=True)

    assert Membership.objects.filter(pk=admin_membership.pk).exists()
    assert b"The last admin cannot be removed" in response.content
    assert response.redirect_chain[-1][0] == "/settings/#team"


def test_an_admin_may_leave_when_another_admin_remains(
    admin_client, admin_membership, organisation
):
    MembershipFactory(organisation=organisation, role=Role.ADMIN)

    response = admin_client.post(remove_url(admin_membership))

    assert response.url == "/accounts/login/"
    assert not Membership.objects.filter(pk=admin_membership.pk).exists()
    assert SESSION_KEY not in admin_client.session


def test_an_admin_may_remove_another_admin(admin_client, organisation):
    other = MembershipFactory(organisation=organisation, role=Role.ADMIN)

    admin_client.post(remove_url(other))

    assert not Membership.objects.filter(pk=other.pk).exists()


def test_developer_may_not_remove_anyone(developer_client, admin_membership):
    response = developer_client.post(remove_url(admin_membership))

    assert response.status_code == 403
    assert Membership.objects.filter(pk=admin_membership.pk).exists()


def test_outsider_gets_404_for_another_teams_member(
    outsider_client, developer_membership
):
    response = outsider_client.post(remove_url(developer_membership))

    assert response.status_code == 404
    assert Membership.objects.filter(pk=developer_membership.pk).exists()


def test_anonymous_removal_is_sent_to_sign_in(client, developer_membership):
    response = client.post(remove_url(developer_membership))

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert Membership.objects.filter(pk=developer_membership.pk).exists()


def test_removal_refuses_get(admin_client, developer_membership):
    response = admin_client.get(remove_url(developer_membership))

    assert response.status_code == 405
    assert Membership.objects.filter(pk=developer_membership.pk).exists()


@pytest.mark.django_db(transaction=True)
def test_two_admins_removing_each_other_at_once_leave_one_admin():
    first = MembershipFactory(role=Role.ADMIN)
    second = MembershipFactory(role=Role.ADMIN, organisation=first.organisation)
    first_removed = threading.Event()
    outcomes = {}

    def remove_first_and_hold():
        with transaction.atomic():
            services.member_remove(first)
            first_removed.set()
            # Hold the locks while the other removal arrives.
            threading.Event().wait(0.5)
        connection.close()

    def remove_second_meanwhile():
        first_removed.wait(5)
        try:
            services.member_remove(second)
            outcomes["second"] = "removed"
        except services.TeamRuleBroken:
            outcomes["second"] = "refused"
        connection.close()

    threads = [
        threading.Thread(target=remove_first_and_hold),
        threading.Thread(target=remove_second_meanwhile),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert outcomes == {"second": "refused"}
    assert list(Membership.objects.values_list("pk", flat=True)) == [second.pk]
