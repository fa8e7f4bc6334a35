"""The Customize page: title, platform list, allowed origins, preview, scoping."""

import pytest
from django.test import Client
from playwright.sync_api import expect

from customize import services
from customize.models import LinkSettings
from customize.origins import InvalidOrigin, parse_origin
from platforms.services import platform_enable
from rutterdash.environments import Environment
from tests.conftest import signed_in_client
from tests.test_customize_logo import image_bytes, upload

INDEX_URL = "/customize/"
SAVE_URL = "/customize/save"
PREVIEW_URL = "/customize/preview"
ALL_CODES = None  # tick every platform the form offers


@pytest.fixture
def production_client(developer):
    return signed_in_client(developer, Environment.PRODUCTION)


def offerable_codes(client):
    form = client.get(INDEX_URL).context["form"]
    return [code for code, _name in form.fields["shown_platforms"].choices]


def save(client, environment="sandbox", shown=ALL_CODES, **fields):
    data = {
        "environment": environment,
        "show_title": "on",
        "title": "Acme Capital",
        "shown_platforms": offerable_codes(client) if shown is None else shown,
        **fields,
    }
    return client.post(SAVE_URL, data)


def first_message(response):
    return str(list(response.wsgi_request._messages)[0])


# Who may see and change what


def test_anonymous_visitor_is_sent_to_sign_in(client):
    response = client.get(INDEX_URL)

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")


def test_anonymous_visitor_changes_nothing(client, organisation):
    response = client.post(SAVE_URL, {"environment": "sandbox", "title": "X"})

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert not LinkSettings.objects.exists()


def test_save_is_post_only(developer_client):
    assert developer_client.get(SAVE_URL).status_code == 405


@pytest.mark.parametrize("persona", ["developer_client", "admin_client"])
def test_members_save_with_a_confirmation(request, persona, sandbox):
    response = save(request.getfixturevalue(persona))

    assert response.status_code == 302
    assert response.url == INDEX_URL
    assert first_message(response) == "Saved Link's sandbox settings."
    assert services.link_settings(sandbox).title == "Acme Capital"


def test_save_checks_the_csrf_token(developer, sandbox):
    client = signed_in_client(developer)
    client.handler.enforce_csrf_checks = True

    response = client.post(SAVE_URL, {"environment": "sandbox", "title": "X"})

    assert response.status_code == 403
    assert not sandbox.all(LinkSettings).exists()


def test_an_outsiders_save_lands_in_their_own_organisation(
    outsider, outsider_client, sandbox
):
    save(outsider_client, title="Outsider Title")

    assert not sandbox.all(LinkSettings).exists()
    outsider_org = outsider.memberships.get().organisation
    assert LinkSettings.objects.get().organisation == outsider_org


def test_another_organisations_title_is_never_shown(outsider_client, admin_client):
    save(admin_client, title="Acme Secret Title")

    response = outsider_client.get(INDEX_URL)

    assert b"Acme Secret Title" not in response.content


def test_sandbox_and_production_are_set_up_separately(
    developer_client, sandbox, production
):
    save(developer_client, title="Sandbox Title")

    assert services.link_settings(sandbox).title == "Sandbox Title"
    assert services.link_settings(production).pk is None
    assert services.landing_title(production) == "Acme Lending"


def test_a_post_from_a_tab_of_the_other_environment_changes_nothing(
    developer_client, sandbox, production
):
    response = save(developer_client, environment="production")

    assert response.status_code == 302
    assert first_message(response).startswith("This page was opened in Production")
    assert not LinkSettings.objects.exists()


def test_a_post_without_its_environment_is_a_bad_request(developer_client):
    response = developer_client.post(SAVE_URL, {"title": "X"})

    assert response.status_code == 400
    assert not LinkSettings.objects.exists()


# Title


def test_title_defaults_to_the_organisations_name(developer_client, sandbox):
    response = developer_client.get(INDEX_URL)

    assert b'value="Acme Lending"' not in response.content
    assert services.landing_title(sandbox) == "Acme Lending"


def test_title_can_be_switched_off(developer_client, sandbox):
    data = {"environment": "sandbox", "title": "Kept", "shown_platforms": ["XERO"]}
    developer_client.post(SAVE_URL, data)

    settings = services.link_settings(sandbox)
    assert settings.show_title is False
    assert settings.title == "Kept"
    assert services.landing_title(sandbox) == ""


@pytest.mark.parametrize(
    ("title", "error"),
    [("x" * 81, "at most 80 characters"), ("Acme\x00Capital", "Null characters")],
)
def test_bad_titles_get_a_field_error_and_nothing_is_lost(
    developer_client, sandbox, title, error
):
    response = save(developer_client, title=title, shown=["XERO", "SHOPIFY"])

    assert response.status_code == 400
    assert error in response.context["form"].errors["title"][0]
    assert b'value="XERO" id="id_shown_platforms_' in response.content
    assert not sandbox.all(LinkSettings).exists()


def test_a_control_character_in_the_title_is_refused(developer_client, sandbox):
    response = save(developer_client, title="Acme\x1bCapital")

    assert response.status_code == 400
    assert "control characters" in response.context["form"].errors["title"][0]


# Platform list


def test_unticked_platforms_are_hidden_from_link(developer_client, sandbox):
    save(developer_client, shown=["XERO", "SHOPIFY"])

    listed = [state.platform.code for state in services.link_platforms(sandbox)]
    assert listed == ["XERO", "SHOPIFY"]


def test_the_form_ticks_what_link_shows(developer_client):
    save(developer_client, shown=["XERO"])

    form = developer_client.get(INDEX_URL).context["form"]

    assert form.initial["shown_platforms"] == ["XERO"]


def test_disabled_platforms_are_not_offered_and_stay_hidden(developer_client, sandbox):
    save(developer_client, shown=["XERO", "SHOPIFY"])
    platform_enable(sandbox, "QUICKBOOKS", False)

    assert "QUICKBOOKS" not in offerable_codes(developer_client)
    save(developer_client, shown=["XERO", "SHOPIFY", "STRIPE"])
    platform_enable(sandbox, "QUICKBOOKS", True)

    listed = [state.platform.code for state in services.link_platforms(sandbox)]
    assert listed == ["XERO", "SHOPIFY", "STRIPE"]


def test_at_least_one_platform_must_stay(developer_client, sandbox):
    response = save(developer_client, shown=[])

    assert response.status_code == 400
    errors = response.context["form"].errors["shown_platforms"]
    assert errors == ["Choose at least one platform for Link to offer."]


def test_an_unknown_platform_code_is_refused(developer_client, sandbox):
    response = save(developer_client, shown=["XERO", "MYSPACE"])

    assert response.status_code == 400
    assert "shown_platforms" in response.context["form"].errors


def test_link_lists_production_platforms_that_still_need_credentials(production):
    states = {s.platform.code: s for s in services.link_platforms(production)}

    assert states["XERO"].available is False
    assert states["WOO_COMMERCE"].available is False
    assert states["WOO_COMMERCE"].needs_production_sign_in is True


def test_production_marks_typed_credential_platforms_not_available(
    production_client,
):
    form = production_client.get(INDEX_URL).context["form"]
    labels = dict(form.fields["shown_platforms"].choices)

    assert labels["NETSUITE"] == "NetSuite (not available in production yet)"
    assert labels["XERO"] == "Xero (not available: needs credentials)"


def test_sandbox_marks_no_platform_not_available(developer_client):
    form = developer_client.get(INDEX_URL).context["form"]
    labels = dict(form.fields["shown_platforms"].choices)

    assert labels["NETSUITE"] == "NetSuite"


# Allowed origins


@pytest.mark.parametrize(
    ("text", "origin"),
    [
        ("https://App.Example.COM", "https://app.example.com"),
        ("https://app.example.com/", "https://app.example.com"),
        ("https://app.example.com:443", "https://app.example.com"),
        ("https://app.example.com:8443", "https://app.example.com:8443"),
        ("http://localhost:3000", "http://localhost:3000"),
        ("http://[::1]:8080", "http://[::1]:8080"),
        ("https://bücher.example", "https://xn--bcher-kva.example"),
    ],
)
def test_origins_are_normalised(text, origin):
    assert parse_origin(text) == origin


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("app.example.com", "Start with http:// or https://"),
        ("ftp://app.example.com", "Start with http:// or https://"),
        ("https://app.example.com/login", "Leave out the path"),
        ("https://app.example.com?next=1", "Leave out the query"),
        ("https://app.example.com#top", "Leave out the query"),
        ("https://user:pw@app.example.com", "Leave out the user name"),
        ("https://*.example.com", "wildcards are not allowed"),
        ("https://app.example.com:70000", "port must be a number"),
        ("https://", "Add the host name"),
        ("https://300.1.1.1", "not a valid IPv4 address"),
    ],
)
def test_malformed_origins_are_refused_with_a_reason(text, reason):
    with pytest.raises(InvalidOrigin, match=reason):
        parse_origin(text)


def test_production_saves_normalised_unique_origins(production_client, production):
    lines = (
        "https://App.Example.com/\n\n  https://app.example.com  \nhttp://127.0.0.1:5173"
    )

    response = save(production_client, "production", allowed_origins=lines)

    assert response.status_code == 302
    assert services.link_settings(production).allowed_origins == [
        "https://app.example.com",
        "http://127.0.0.1:5173",
    ]


def test_each_bad_origin_line_gets_its_own_error(production_client, production):
    lines = "https://ok.example.com\nhttp://app.example.com\nhttps://a.example.com/x"

    response = save(production_client, "production", allowed_origins=lines)

    assert response.status_code == 400
    errors = response.context["form"].errors["allowed_origins"]
    assert len(errors) == 2
    assert errors[0].startswith("Line 2 (http://app.example.com): Use https://")
    assert errors[1].startswith("Line 3 (https://a.example.com/x): Leave out the path")
    assert b"https://ok.example.com\nhttp://app.example.com" in response.content
    assert not production.all(LinkSettings).exists()


def test_too_many_origins_are_refused(production_client, production):
    lines = "\n".join(f"https://app{n}.example.com" for n in range(51))

    response = save(production_client, "production", allowed_origins=lines)

    assert response.status_code == 400
    assert response.context["form"].errors["allowed_origins"] == [
        "List at most 50 origins; this list has 51."
    ]


def test_production_without_origins_warns_that_link_will_not_open(
    production_client,
):
    response = production_client.get(INDEX_URL)

    assert b"No allowed origins yet" in response.content


def test_sandbox_has_no_origins_field_and_keeps_none(developer_client, sandbox):
    response = developer_client.get(INDEX_URL)
    assert b'name="allowed_origins"' not in response.content

    save(developer_client, allowed_origins="https://ignored.example.com")

    assert services.link_settings(sandbox).allowed_origins == []


def test_production_link_opens_only_from_allowed_origins(production_client, production):
    save(production_client, "production", allowed_origins="https://app.example.com")

    assert services.origin_allowed(production, "https://app.example.com")
    assert services.origin_allowed(production, "https://APP.example.com:443/")
    assert not services.origin_allowed(production, "https://evil.example.com")
    assert not services.origin_allowed(production, "http://app.example.com")
    assert not services.origin_allowed(production, "")
    assert not services.origin_allowed(production, None)


def test_sandbox_link_opens_from_any_web_origin(sandbox):
    assert services.origin_allowed(sandbox, "https://anything.example.org")
    assert services.origin_allowed(sandbox, "http://localhost:3000")
    assert not services.origin_allowed(sandbox, "file://")
    assert not services.origin_allowed(sandbox, "null")
    assert not services.origin_allowed(sandbox, "javascript:alert(1)")


# Preview


def test_page_frames_a_preview_of_links_first_step(developer_client):
    response = developer_client.get(INDEX_URL)

    assert b'<iframe class="link-frame" src="/customize/preview"' in response.content
    assert b"js/customize.js" in response.content


def test_preview_renders_links_landing_with_the_saved_title(developer_client):
    save(developer_client, title="Acme Capital")

    response = developer_client.get(PREVIEW_URL)

    html = response.content.decode()
    used = [template.name for template in response.templates]
    assert "customize/_link_header.html" in used
    assert "customize/_link_consent.html" in used
    assert "css/link.css" in html
    assert "Connect your account<span data-link-if-title> to" in html
    assert ">Acme Capital</span> uses Rutterdash to connect" in html
    assert "Sandbox: test data only" in html


def test_preview_may_be_framed_by_the_dashboard_only(developer_client):
    response = developer_client.get(PREVIEW_URL)

    assert response["X-Frame-Options"] == "SAMEORIGIN"


def test_preview_without_a_title_speaks_of_this_app(developer_client):
    data = {"environment": "sandbox", "title": "Gone", "shown_platforms": ["XERO"]}
    developer_client.post(SAVE_URL, data)

    response = developer_client.get(PREVIEW_URL)

    assert b"Gone" not in response.content
    assert b'data-link-untitled="This app">This app</span>' in response.content


def test_preview_shows_the_stored_logo(developer_client, sandbox):
    upload(developer_client, image_bytes())

    response = developer_client.get(PREVIEW_URL)

    assert f'src="{services.logo_url(sandbox)}"'.encode() in response.content
    assert b"Remove logo" in developer_client.get(INDEX_URL).content


def test_preview_is_for_members_only(client, outsider_client, admin_client):
    save(admin_client, title="Acme Capital")

    assert client.get(PREVIEW_URL).status_code == 302
    assert b"Acme Capital" not in outsider_client.get(PREVIEW_URL).content


# In a browser


def signed_in_page(browser, live_server, user, viewport=None):
    client = Client()
    client.force_login(user)
    context = browser.new_context(base_url=live_server.url, viewport=viewport)
    session = client.cookies["sessionid"].value
    context.add_cookies(
        [{"name": "sessionid", "value": session, "url": live_server.url}]
    )
    return context.new_page()


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_preview_follows_the_form_as_it_changes(browser, live_server, admin):
    page = signed_in_page(browser, live_server, admin)
    page.goto("/customize/")
    heading = page.frame_locator("[data-link-preview-frame]").locator("h1")
    expect(heading).to_have_text("Connect your account to Acme Lending")

    page.get_by_label("Title", exact=True).fill("Harbour Finance")
    expect(heading).to_have_text("Connect your account to Harbour Finance")
    page.get_by_label("Show a title on Link's first step").uncheck()
    expect(heading).to_have_text("Connect your account", use_inner_text=True)

    page.get_by_label("Show a title on Link's first step").check()
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_role("status").filter(has_text="Saved Link's")).to_be_visible()
    expect(heading).to_have_text("Connect your account to Harbour Finance")
    page.context.close()
