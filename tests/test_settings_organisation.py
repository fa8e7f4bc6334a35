RENAME_URL = "/settings/organisation/"


def test_admin_renames_the_organisation(admin_client, organisation):
    response = admin_client.post(RENAME_URL, {"organisation-name": "Acme Capital"})

    organisation.refresh_from_db()
    assert response.status_code == 302
    assert response.url == "/settings/#organisation"
    assert organisation.name == "Acme Capital"


def test_a_blank_name_is_a_field_error(admin_client, organisation):
    response = admin_client.post(RENAME_URL, {"organisation-name": ""})

    organisation.refresh_from_db()
    assert response.status_code == 200
    assert response.context["organisation_form"].errors["name"]
    assert organisation.name == "Acme Lending"


def test_developer_may_not_rename(developer_client, organisation):
    response = developer_client.post(RENAME_URL, {"organisation-name": "Hijacked"})

    organisation.refresh_from_db()
    assert response.status_code == 403
    assert organisation.name == "Acme Lending"


def test_developer_sees_the_name_without_a_rename_form(developer_client):
    response = developer_client.get("/settings/")

    assert b"Acme Lending" in response.content
    assert RENAME_URL.encode() not in response.content


def test_outsider_renames_only_their_own_organisation(
    outsider_client, outsider, organisation
):
    outsider_client.post(RENAME_URL, {"organisation-name": "Outsider Co"})

    organisation.refresh_from_db()
    assert organisation.name == "Acme Lending"
    assert outsider.memberships.get().organisation.name == "Outsider Co"


def test_anonymous_rename_is_sent_to_sign_in(client, organisation):
    response = client.post(RENAME_URL, {"organisation-name": "Anon"})

    organisation.refresh_from_db()
    assert response.status_code == 302
    assert organisation.name == "Acme Lending"


def test_rename_refuses_get(admin_client):
    response = admin_client.get(RENAME_URL)

    assert response.status_code == 405
