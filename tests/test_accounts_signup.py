import pytest

from accounts.models import ApiKey, Membership, Organisation, Role, User
from rutterdash.environments import Environment
from tests.factories import PASSWORD, UserFactory

SIGNUP_URL = "/accounts/signup/"


def _form(**overrides):
    return {
        "name": "Ada Lovelace",
        "email": "ada@example.com",
        "password": PASSWORD,
        "password_confirm": PASSWORD,
        "organisation_name": "Analytical Lending",
        **overrides,
    }


def test_signup_page_asks_for_name_email_password_and_organisation(client, db):
    response = client.get(SIGNUP_URL)

    assert response.status_code == 200
    for field in ("name", "email", "password", "password_confirm"):
        assert f'name="{field}"'.encode() in response.content
    assert b'name="organisation_name"' in response.content


def test_signing_up_creates_an_organisation_with_its_first_admin(client, db):
    response = client.post(SIGNUP_URL, _form())

    assert response.status_code == 302
    assert response.url == "/"
    user = User.objects.get(email="ada@example.com")
    assert user.name == "Ada Lovelace"
    assert user.check_password(PASSWORD)
    membership = Membership.objects.get(user=user)
    assert membership.role == Role.ADMIN
    assert membership.organisation.name == "Analytical Lending"


def test_signing_up_creates_api_keys_for_both_environments(client, db):
    client.post(SIGNUP_URL, _form())

    organisation = Organisation.objects.get(name="Analytical Lending")
    keys = ApiKey.objects.filter(organisation=organisation)
    assert sorted(keys.values_list("environment", flat=True)) == sorted(
        Environment.values
    )


def test_signing_up_signs_in_on_sandbox_and_shows_the_secret_once(client, db):
    client.post(SIGNUP_URL, _form())

    first = client.get("/")
    second = client.get("/")

    key = ApiKey.objects.get(environment=Environment.SANDBOX)
    secret = first.context["secret"]
    assert first.status_code == 200
    assert first.context["api_key"] == key
    assert key.check_secret(secret)
    assert secret.encode() in first.content
    assert second.context["secret"] is None
    assert secret.encode() not in second.content


def test_the_production_secret_waits_until_production_is_viewed(client, db):
    client.post(SIGNUP_URL, _form())
    sandbox = client.get("/")

    client.post("/environment/", {"environment": "production", "next": "/"})
    response = client.get("/")

    key = ApiKey.objects.get(environment=Environment.PRODUCTION)
    assert sandbox.context["secrets_waiting"] == ["Production"]
    assert key.check_secret(response.context["secret"])
    assert response.context["secrets_waiting"] == []


def test_an_email_already_in_use_is_a_field_error_whatever_its_case(client, db):
    UserFactory(email="ada@example.com")

    response = client.post(SIGNUP_URL, _form(email="ADA@Example.com"))

    assert response.status_code == 200
    assert "already exists" in response.context["form"].errors["email"][0]
    assert not Organisation.objects.filter(name="Analytical Lending").exists()


def test_the_email_is_stored_in_lower_case(client, db):
    client.post(SIGNUP_URL, _form(email="Ada@Example.COM"))

    assert User.objects.filter(email="ada@example.com").exists()


def test_passwords_that_differ_are_a_field_error(client, db):
    response = client.post(SIGNUP_URL, _form(password_confirm=PASSWORD + "x"))

    assert response.context["form"].errors["password_confirm"]
    assert not User.objects.exists()


@pytest.mark.parametrize("weak", ["short1", "password123", "12345678901"])
def test_a_weak_password_is_refused_by_the_validators(client, db, weak):
    response = client.post(
        SIGNUP_URL, _form(password=weak, password_confirm=weak)
    )

    assert response.context["form"].errors["password"]
    assert not User.objects.exists()


def test_a_missing_organisation_name_is_a_field_error(client, db):
    response = client.post(SIGNUP_URL, _form(organisation_name=""))

    assert response.context["form"].errors["organisation_name"]
    assert not User.objects.exists()


def test_a_signed_in_member_is_sent_home_from_signup(admin_client):
    response = admin_client.get(SIGNUP_URL)

    assert response.status_code == 302
    assert response.url == "/"


def test_sign_in_page_links_to_signup(client, db):
    response = client.get("/accounts/login/")

    assert SIGNUP_URL.encode() in response.content
