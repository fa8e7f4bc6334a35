from accounts.models import ApiKey, Membership
from tests.conftest import signed_in_client
from tests.factories import UserFactory

NO_TEAM_URL = "/accounts/no-team/"


def test_a_person_without_a_team_is_sent_to_the_no_team_page(db):
    client = signed_in_client(UserFactory())

    response = client.get("/settings/")

    assert response.status_code == 302
    assert response.url == NO_TEAM_URL


def test_a_person_without_a_team_can_start_an_organisation(db):
    person = UserFactory()
    client = signed_in_client(person)

    response = client.post(NO_TEAM_URL, {"organisation-name": "Fresh Start Ltd"})

    assert response.status_code == 302
    assert response.url == "/"
    membership = Membership.objects.get(user=person)
    assert membership.is_admin
    assert membership.organisation.name == "Fresh Start Ltd"
    assert ApiKey.objects.filter(organisation=membership.organisation).count() == 2
    assert client.get("/").status_code == 200


def test_a_blank_organisation_name_is_refused_next_to_the_field(db):
    person = UserFactory()
    client = signed_in_client(person)

    response = client.post(NO_TEAM_URL, {"organisation-name": ""})

    assert response.status_code == 200
    assert b"This field is required" in response.content
    assert not Membership.objects.filter(user=person).exists()


def test_a_member_visiting_the_no_team_page_goes_home(developer_client):
    response = developer_client.get(NO_TEAM_URL)

    assert response.status_code == 302
    assert response.url == "/"


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    response = client.get(NO_TEAM_URL)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
