"""The Platforms page: catalog, search, switches and developer credentials."""

import pytest
from playwright.sync_api import expect

from platforms import catalog
from platforms.models import PlatformSetting
from platforms.services import platform_states, setting_for
from rutterdash import crypto
from rutterdash.environments import Environment
from tests.conftest import signed_in_client
from tests.test_customize_page import signed_in_page

INDEX_URL = "/platforms/"
XERO_URL = "/platforms/xero/"
TOGGLE_URL = "/platforms/xero/toggle"
CREDENTIALS_URL = "/platforms/xero/credentials"
REMOVE_URL = "/platforms/xero/credentials/remove"
SECRET = "xero-secret-4f9a1c7e22b8d05a"


@pytest.fixture
def production_client(developer):
    return signed_in_client(developer, Environment.PRODUCTION)


@pytest.fixture
def admin_production_client(admin):
    return signed_in_client(admin, Environment.PRODUCTION)


def listed_codes(response):
    return [
        state.platform.code
        for _category, states in response.context["groups"]
        for state in states
    ]


def save_credentials(client, client_id="ABC123", secret=SECRET, **extra):
    data = {
        "environment": "production",
        "client_id": client_id,
        "client_secret": secret,
        **extra,
    }
    return client.post(CREDENTIALS_URL, data)


def toggle(client, enabled, environment="sandbox", **extra):
    data = {"environment": environment, "enabled": enabled, **extra}
    return client.post(TOGGLE_URL, data)


# Who may see and change what


def test_anonymous_visitor_is_sent_to_sign_in(client):
    for url in (INDEX_URL, XERO_URL):
        response = client.get(url)

        assert response.status_code == 302
        assert response.url.startswith("/accounts/login/")


def test_anonymous_visitor_changes_nothing(client, organisation):
    response = client.post(TOGGLE_URL, {"environment": "sandbox", "enabled": "false"})

    assert response.status_code == 302
    assert not PlatformSetting.objects.exists()


@pytest.mark.parametrize("persona", ["developer_client", "admin_client"])
def test_members_may_disable_a_platform(request, persona, sandbox):
    response = toggle(request.getfixturevalue(persona), "false")

    assert response.status_code == 302
    assert response.url == "/platforms/#platform-xero"
    assert setting_for(sandbox, "XERO").enabled is False


def test_a_change_stays_in_the_members_organisation(outsider, outsider_client, sandbox):
    toggle(outsider_client, "false")

    assert setting_for(sandbox, "XERO") is None
    outsider_org = outsider.memberships.get().organisation
    assert PlatformSetting.objects.get().organisation == outsider_org


def test_another_organisations_credentials_are_never_shown(
    production, admin_production_client, outsider
):
    save_credentials(admin_production_client, client_id="ACME-ONLY-ID")
    outsider_client = signed_in_client(outsider, Environment.PRODUCTION)

    response = outsider_client.get(XERO_URL)

    assert b"ACME-ONLY-ID" not in response.content
    assert response.context["state"].has_credentials is False


def test_changes_use_post_only(developer_client):
    for url in (TOGGLE_URL, CREDENTIALS_URL, REMOVE_URL):
        assert developer_client.get(url).status_code == 405


def test_unknown_platform_answers_404(developer_client):
    assert developer_client.get("/platforms/myspace/").status_code == 404
    response = developer_client.post(
        "/platforms/myspace/toggle", {"environment": "sandbox", "enabled": "false"}
    )
    assert response.status_code == 404


# Catalog and search


def test_every_oauth_code_names_a_catalog_platform():
    assert catalog.SIGNS_IN_WITH_OAUTH <= catalog.BY_CODE.keys()
    oauth = {platform.code for platform in catalog.PLATFORMS if platform.uses_oauth}
    assert oauth == catalog.SIGNS_IN_WITH_OAUTH


def test_catalog_is_grouped_in_the_dashboards_order(developer_client):
    response = developer_client.get(INDEX_URL)

    categories = [category for category, _states in response.context["groups"]]
    assert categories == [c for c in catalog.CATEGORIES if c != catalog.ADS]
    assert len(listed_codes(response)) == len(catalog.PLATFORMS)
    assert b'id="platform-quickbooks_desktop"' in response.content


def test_search_filters_on_the_server_by_name(developer_client):
    response = developer_client.get(INDEX_URL, {"q": "quick books"})

    assert listed_codes(response) == ["QUICKBOOKS", "QUICKBOOKS_DESKTOP"]
    assert [c for c, _s in response.context["groups"]] == [catalog.ACCOUNTING]


def test_search_matches_api_codes_with_underscores(developer_client):
    response = developer_client.get(INDEX_URL, {"q": "big_commerce"})

    assert listed_codes(response) == ["BIG_COMMERCE"]


def test_search_without_a_match_says_so(developer_client):
    response = developer_client.get(INDEX_URL, {"q": "myspace"})

    assert listed_codes(response) == []
    assert b"No platform matches" in response.content
    assert b"data-platform-empty hidden" not in response.content


def test_every_card_carries_the_text_the_script_filters_on(developer_client):
    response = developer_client.get(INDEX_URL)

    assert b'data-search="xero xero"' in response.content
    assert b'data-search="bigcommerce big_commerce"' in response.content
    assert b"js/platforms.js" in response.content


def test_a_toggle_from_search_results_returns_to_them(developer_client):
    response = toggle(developer_client, "false", q="xe ro")

    assert response.url == "/platforms/?q=xe+ro#platform-xero"


# Enable and disable


def test_disabled_platform_is_shown_disabled_and_can_be_enabled_again(
    developer_client, sandbox
):
    toggle(developer_client, "false")
    page = developer_client.get(INDEX_URL)
    assert b'platform-card is-disabled" id="platform-xero"' in page.content

    toggle(developer_client, "true")

    assert setting_for(sandbox, "XERO").enabled is True
    assert PlatformSetting.objects.count() == 1


def test_disabling_reports_the_outcome(developer_client):
    response = toggle(developer_client, "false")

    message = list(response.wsgi_request._messages)[0]
    assert str(message) == "Xero is disabled in sandbox."


def test_switches_are_separate_per_environment(developer_client, sandbox, production):
    toggle(developer_client, "false")

    assert setting_for(sandbox, "XERO").enabled is False
    assert setting_for(production, "XERO") is None
    production_states = {s.platform.code: s for s in platform_states(production)}
    assert production_states["XERO"].enabled is True


def test_a_post_from_a_tab_of_the_other_environment_changes_nothing(
    developer_client, sandbox, production
):
    response = toggle(developer_client, "false", environment="production")

    assert response.status_code == 302
    assert setting_for(sandbox, "XERO") is None
    assert setting_for(production, "XERO") is None
    message = str(list(response.wsgi_request._messages)[0])
    assert message.startswith("This page was opened in Production")


def test_a_toggle_without_a_choice_is_a_bad_request(developer_client, sandbox):
    response = developer_client.post(TOGGLE_URL, {"environment": "sandbox"})

    assert response.status_code == 400
    assert setting_for(sandbox, "XERO") is None


# Credentials


def test_sandbox_explains_that_no_credentials_are_needed(developer_client):
    response = developer_client.get(XERO_URL)

    assert b"Sandbox needs no credentials" in response.content
    assert b'name="client_secret"' not in response.content


def test_sandbox_refuses_credentials(developer_client, sandbox):
    data = {"environment": "sandbox", "client_id": "A", "client_secret": SECRET}
    response = developer_client.post(CREDENTIALS_URL, data)

    assert response.status_code == 400
    assert setting_for(sandbox, "XERO") is None


def test_production_flags_oauth_platforms_without_credentials(production_client):
    response = production_client.get(INDEX_URL)

    oauth_count = sum(p.uses_oauth for p in catalog.PLATFORMS)
    assert response.context["needing_credentials"] == oauth_count
    assert response.content.count(b"Needs credentials") == oauth_count
    assert b"/link/oauth/callback" in response.content


def test_production_says_typed_credential_platforms_are_not_available_yet(
    production_client,
):
    response = production_client.get(INDEX_URL)

    typed_count = sum(not p.uses_oauth for p in catalog.PLATFORMS)
    page = response.content.decode()
    assert page.count("Not available in production yet") == typed_count
    assert "Enabled</span>" not in _card(page, "netsuite")
    assert "Link offers it in sandbox only" in _card(page, "netsuite")
    assert "Not available in production yet" not in _card(page, "xero")


def _card(page, code):
    start = page.index(f'id="platform-{code}"')
    return page[start : page.index("</li>", start)]


def test_sandbox_flags_nothing(developer_client):
    response = developer_client.get(INDEX_URL)

    assert b"Needs credentials" not in response.content
    assert b"Not available" not in response.content
    assert response.context["needing_credentials"] == 0


def test_saved_credentials_make_the_platform_available(production_client, production):
    response = save_credentials(production_client)

    assert response.status_code == 302
    assert response.url == XERO_URL
    states = {s.platform.code: s for s in platform_states(production)}
    assert states["XERO"].available is True
    assert states["QUICKBOOKS"].available is False


def test_secret_is_encrypted_at_rest_and_never_shown_in_full(
    production_client, production
):
    save_credentials(production_client)

    setting = setting_for(production, "XERO")
    assert SECRET not in setting.client_secret_encrypted
    assert crypto.decrypt(setting.client_secret_encrypted) == SECRET
    page = production_client.get(XERO_URL)
    assert SECRET.encode() not in page.content
    assert "…d05a".encode() in page.content
    assert b'value="ABC123"' in page.content


def test_blank_secret_keeps_the_stored_one(production_client, production):
    save_credentials(production_client)

    response = save_credentials(production_client, client_id="NEW-ID", secret="")

    assert response.status_code == 302
    setting = setting_for(production, "XERO")
    assert setting.client_id == "NEW-ID"
    assert setting.client_secret() == SECRET


def test_first_save_needs_a_secret(production_client, production):
    response = save_credentials(production_client, secret="")

    assert response.status_code == 400
    assert response.context["form"].errors == {
        "client_secret": ["Enter the client secret."]
    }
    assert b'value="ABC123"' in response.content
    assert setting_for(production, "XERO") is None


@pytest.mark.parametrize(
    ("field", "value", "error"),
    [
        ("client_id", "", "Enter the client ID."),
        ("client_id", "x" * 301, "at most 300 characters"),
        ("client_id", "abc\x07def", "control character"),
        ("client_id", "Client ID: abc", "cannot contain spaces"),
        ("client_id", "“ABC123”", "copy it from the portal again"),
        ("client_secret", "short", "at least 8 characters"),
        ("client_secret", "s" * 501, "at most 500 characters"),
        ("client_secret", "secret\x1bvalue", "control character"),
    ],
)
def test_bad_credentials_get_a_field_error_and_nothing_is_saved(
    production_client, production, field, value, error
):
    values = {"client_id": "ABC123", "secret": SECRET}
    values["client_id" if field == "client_id" else "secret"] = value

    response = save_credentials(production_client, **values)

    assert response.status_code == 400
    assert error in response.context["form"].errors[field][0]
    assert setting_for(production, "XERO") is None


def test_credentials_can_be_removed(production_client, production):
    save_credentials(production_client)

    response = production_client.post(REMOVE_URL, {"environment": "production"})

    assert response.status_code == 302
    setting = setting_for(production, "XERO")
    assert setting.client_id == ""
    assert setting.client_secret_encrypted == ""
    assert setting.client_secret_hint == ""
    state = {s.platform.code: s for s in platform_states(production)}["XERO"]
    assert state.needs_credentials is True


def test_credentials_are_separate_per_organisation_and_environment(
    admin_production_client, production, sandbox, outsider
):
    save_credentials(admin_production_client)

    outsider_org = outsider.memberships.get().organisation
    assert setting_for(sandbox, "XERO") is None
    assert PlatformSetting.objects.filter(organisation=outsider_org).count() == 0
    assert setting_for(production, "XERO").has_credentials


def test_platforms_signing_in_with_their_own_credentials_take_none(
    production_client,
):
    response = production_client.get("/platforms/woo_commerce/")

    assert b'name="client_secret"' not in response.content
    assert b"needs no developer app" in response.content


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_cards_filter_as_the_search_is_typed(browser, live_server, developer):
    page = signed_in_page(browser, live_server, developer)
    page.goto(INDEX_URL)
    cards = page.locator("[data-platform-card]:visible")
    expect(cards).to_have_count(len(catalog.PLATFORMS))

    page.get_by_label("Search platforms").fill("pay")
    expect(cards).to_have_count(1)
    expect(page.get_by_role("heading", name="Commerce")).to_be_hidden()
    expect(page.get_by_role("link", name="PayPal", exact=True)).to_be_visible()

    page.get_by_label("Search platforms").fill("nothing like this")
    expect(cards).to_have_count(0)
    expect(page.get_by_text("No platform matches")).to_be_visible()
    page.context.close()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_redirect_uri_is_copied_with_one_click(browser, live_server, developer):
    page = signed_in_page(browser, live_server, developer)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    page.goto(XERO_URL)

    page.get_by_role("button", name="Copy").click()

    expect(page.get_by_text("Copied to the clipboard.")).to_be_visible()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied == page.get_by_label("Redirect URI").input_value()
    assert copied.endswith("/link/oauth/callback")
    page.context.close()
