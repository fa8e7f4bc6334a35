from django.contrib.auth import SESSION_KEY

from tests.factories import PASSWORD, UserFactory

LOGIN_URL = "/accounts/login/"


def test_the_sign_in_field_is_labelled_email(client, db):
    response = client.get(LOGIN_URL)

    form = response.context["form"]
    assert form.fields["username"].label == "Email"
    assert b'type="email"' in response.content


def test_signing_in_ignores_the_case_of_the_email(client, admin):
    response = client.post(
        LOGIN_URL, {"username": admin.email.upper(), "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response.url == "/"
    assert client.session[SESSION_KEY] == str(admin.pk)


def test_a_wrong_password_is_refused_with_a_message(client, admin):
    response = client.post(
        LOGIN_URL, {"username": admin.email, "password": "not-the-password"}
    )

    assert response.status_code == 200
    assert response.context["form"].non_field_errors()
    assert SESSION_KEY not in client.session


def test_signing_in_follows_a_safe_next_url(client, admin):
    response = client.post(
        LOGIN_URL,
        {"username": admin.email, "password": PASSWORD, "next": "/settings/"},
    )

    assert response.url == "/settings/"


def test_signing_in_ignores_a_next_url_on_another_host(client, admin):
    response = client.post(
        LOGIN_URL,
        {
            "username": admin.email,
            "password": PASSWORD,
            "next": "https://evil.example/",
        },
    )

    assert response.url == "/"


def test_a_user_without_a_team_is_offered_a_way_back_after_signing_in(
    client, db
):
    loner = UserFactory()

    client.post(LOGIN_URL, {"username": loner.email, "password": PASSWORD})
    response = client.get("/")

    assert response.status_code == 302
    assert response.url == "/accounts/no-team/"
    assert b"Create organisation" in client.get(response.url).content


def test_sign_out_refuses_get(admin_client):
    response = admin_client.get("/accounts/logout/")

    assert response.status_code == 405
    assert SESSION_KEY in admin_client.session


def test_signing_out_ends_the_session(admin_client):
    response = admin_client.post("/accounts/logout/")

    assert response.status_code == 302
    assert response.url == "/accounts/login/"
    assert SESSION_KEY not in admin_client.session


def _sign_in(client, email, password):
    return client.post(LOGIN_URL, {"username": email, "password": password})


def test_too_many_failures_lock_the_email_for_a_while(client, admin, settings):
    settings.SIGN_IN_MAX_FAILURES = 3
    for _attempt in range(3):
        _sign_in(client, admin.email, "wrong-password")

    response = _sign_in(client, admin.email.upper(), PASSWORD)

    assert response.status_code == 200
    assert b"Too many failed sign-ins" in response.content
    assert SESSION_KEY not in client.session


def test_a_success_before_the_limit_clears_the_failures(client, admin, settings):
    settings.SIGN_IN_MAX_FAILURES = 3
    for _attempt in range(2):
        _sign_in(client, admin.email, "wrong-password")
    _sign_in(client, admin.email, PASSWORD)
    client.logout()
    for _attempt in range(2):
        _sign_in(client, admin.email, "wrong-password")

    response = _sign_in(client, admin.email, PASSWORD)

    assert response.status_code == 302
    assert SESSION_KEY in client.session
