"""API requests take the API's short middleware chain; everything else the full one."""

from rutterdash.environments import Environment
from rutterdash.middleware import is_api
from tests.api_support import client_for
from tests.conftest import signed_in_client


def test_an_api_call_never_reads_the_session_or_the_signed_in_user(admin, organisation):
    client = client_for(organisation, Environment.SANDBOX)
    client.cookies = signed_in_client(admin).cookies  # a dashboard session too

    response = client.get("/versioned/connections")

    assert response.status_code == 200
    request = response.wsgi_request
    assert not hasattr(request, "session")
    assert not hasattr(request, "user")
    assert "Cookie" not in response.get("Vary", "")
    assert not response.cookies
    # The chain it took still sets the security headers.
    assert response["X-Content-Type-Options"] == "nosniff"


def test_a_dashboard_page_keeps_sessions_and_frame_options(admin):
    response = signed_in_client(admin).get("/")

    assert response.status_code == 200
    assert response.wsgi_request.user == admin
    assert response["X-Frame-Options"] == "DENY"


def test_an_api_refusal_stays_json_not_the_dashboards_page(organisation):
    client = client_for(organisation, Environment.SANDBOX)

    response = client.delete("/versioned/connections")

    assert response.status_code == 405
    assert response["Content-Type"].startswith("application/json")
    assert response.json()["error_type"]


def test_links_pages_under_the_api_prefix_are_the_dashboards():
    assert is_api("/versioned/accounting/accounts")
    assert not is_api("/versioned/link/websocket/auth")
    assert not is_api("/link/flow/")
    assert not is_api("/connections/")
