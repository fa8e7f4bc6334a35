from django.contrib.auth import SESSION_KEY

from tests.factories import PASSWORD

NEW_PASSWORD = "a-much-longer-new-passphrase"


def _password_change(**overrides):
    return {
        "old_password": PASSWORD,
        "new_password1": NEW_PASSWORD,
        "new_password2": NEW_PASSWORD,
        **overrides,
    }


def test_anonymous_settings_is_sent_to_sign_in(client, db):
    response = client.get("/settings/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_settings_shows_account_organisation_and_team_sections(
    developer_client,
):
    response = developer_client.get("/settings/")

    assert response.status_code == 200
    for section in (b'id="account"', b'id="organisation"', b'id="team"'):
        assert section in response.content


def test_a_member_changes_their_name(developer_client, developer):
    response = developer_client.post("/settings/account/", {"name": "New Name"})

    developer.refresh_from_db()
    assert response.status_code == 302
    assert response.url == "/settings/#account"
    assert developer.name == "New Name"


def test_a_name_that_is_too_long_is_a_field_error(developer_client, developer):
    name = developer.name

    response = developer_client.post("/settings/account/", {"name": "x" * 151})

    developer.refresh_from_db()
    assert response.status_code == 200
    assert response.context["profile_form"].errors["name"]
    assert developer.name == name


def test_changing_the_password_keeps_the_session(developer_client, developer):
    response = developer_client.post("/settings/password/", _password_change())
    after = developer_client.get("/settings/")

    developer.refresh_from_db()
    assert response.status_code == 302
    assert developer.check_password(NEW_PASSWORD)
    assert after.status_code == 200
    assert developer_client.session[SESSION_KEY] == str(developer.pk)


def test_a_wrong_old_password_is_a_field_error(developer_client, developer):
    response = developer_client.post(
        "/settings/password/", _password_change(old_password="wrong")
    )

    developer.refresh_from_db()
    assert response.status_code == 200
    assert response.context["password_form"].errors["old_password"]
    assert developer.check_password(PASSWORD)


def test_a_new_password_must_pass_the_validators(developer_client, developer):
    response = developer_client.post(
        "/settings/password/",
        _password_change(new_password1="12345678", new_password2="12345678"),
    )

    developer.refresh_from_db()
    assert response.context["password_form"].errors["new_password2"]
    assert developer.check_password(PASSWORD)


def test_password_change_refuses_get(developer_client):
    response = developer_client.get("/settings/password/")

    assert response.status_code == 405


def test_name_change_refuses_get(developer_client):
    response = developer_client.get("/settings/account/")

    assert response.status_code == 405


def test_anonymous_password_change_is_sent_to_sign_in(client, db):
    response = client.post("/settings/password/", _password_change())

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_settings_focuses_no_field(admin_client):
    response = admin_client.get("/settings/")

    assert b"autofocus" not in response.content


def test_a_refused_password_change_focuses_no_field_either(admin_client):
    response = admin_client.post("/settings/password/", {"old_password": "wrong"})

    assert response.status_code == 200
    assert response.context["password_form"].errors["old_password"]
    assert b"autofocus" not in response.content
