def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get("/")

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_sign_in_page_renders(client, db):
    response = client.get("/accounts/login/")

    assert response.status_code == 200
    assert b"Sign in" in response.content
