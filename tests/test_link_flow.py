"""Link's steps in sandbox, as a business walks them: start, consent, pick, sign in."""

import html
import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import api_key_create
from connections.models import Connection
from customize.models import LinkSettings
from link.models import PublicToken
from platforms.models import PlatformSetting
from rutterdash import crypto
from rutterdash.environments import Environment

ORIGIN = "http://127.0.0.1:8299"
NONCE = "Ab3xZ"


@pytest.fixture
def sandbox_key(organisation):
    api_key, _secret = api_key_create(organisation, Environment.SANDBOX)
    return api_key


@pytest.fixture
def business():
    return Client()


def start_link(client, public_key, **params):
    query = {"token": public_key, "origin": ORIGIN, "nonce": NONCE, **params}
    query = {name: value for name, value in query.items() if value is not None}
    return client.get(f"/linkstart/{public_key}", query)


def flow_id_of(response):
    return re.search(r"/link/([^/]+)/", response["Location"]).group(1)


def started(client, public_key, **params):
    response = start_link(client, public_key, **params)
    assert response.status_code == 302, response.content
    return flow_id_of(response)


def consented(client, public_key, **params):
    flow_id = started(client, public_key, **params)
    response = client.post(f"/link/{flow_id}/")
    assert response.status_code == 302
    return flow_id


def at_sign_in(client, public_key, platform="QUICKBOOKS", **params):
    flow_id = consented(client, public_key, **params)
    response = client.post(f"/link/{flow_id}/platforms/", {"platform": platform})
    assert response["Location"] == f"/link/{flow_id}/sign-in/"
    return flow_id


def sign_in(client, flow_id, username="user_good", password="pass_good", **extra):
    form = {"username": username, "password": password, **extra}
    return client.post(f"/link/{flow_id}/sign-in/", form)


def posted_message(response):
    """The JSON the success page posts to its opener, and the target origin."""
    html = response.content.decode()
    body = re.search(r'<script id="link-message"[^>]*>(.*?)</script>', html, re.S)
    origin = re.search(r'data-link-origin="([^"]*)"', html)
    return json.loads(body.group(1)), origin.group(1)


def page_text(response):
    """The page's words without markup, spaces collapsed."""
    words = re.sub(r"<[^>]+>", " ", response.content.decode())
    return " ".join(html.unescape(words).split())


def test_linkstart_opens_the_landing_with_the_organisations_title(
    business, sandbox_key
):
    response = start_link(business, sandbox_key.public_key)
    landing = business.get(response["Location"])

    assert response.status_code == 302
    assert landing.status_code == 200
    text = page_text(landing)
    assert "Connect your account to Acme Lending" in text
    assert "Acme Lending to read" in text
    assert '<button type="submit" class="link-button" autofocus>Continue' in (
        landing.content.decode()
    )


def test_the_landing_uses_the_title_and_logo_set_in_customize(
    business, sandbox_key, sandbox
):
    sandbox.stamp(LinkSettings(title="Bright Capital", logo_png=b"png")).save()
    LinkSettings.objects.update(logo_updated=timezone.now())

    response = start_link(business, sandbox_key.public_key)
    landing = business.get(response["Location"])

    assert "Connect your account to Bright Capital" in page_text(landing)
    logo = f'src="/customize/logo/{sandbox_key.public_key}.png?v='
    assert logo in landing.content.decode()


def test_link_pages_forbid_frames_and_keep_the_opener(business, sandbox_key):
    response = start_link(business, sandbox_key.public_key)
    landing = business.get(response["Location"])

    for answer in (response, landing):
        policy = answer["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in policy
        assert "script-src 'self'" in policy
        assert answer["X-Frame-Options"] == "DENY"
        assert answer["Cross-Origin-Opener-Policy"] == "unsafe-none"
        assert answer["Cache-Control"] == "no-store"


def test_an_unknown_public_key_gets_a_friendly_not_found_page(business, db):
    response = start_link(business, "pk_sandbox_nobody")

    assert response.status_code == 404
    assert "This Link address is not valid." in response.content.decode()


def test_an_origin_that_is_not_a_web_origin_is_refused(business, sandbox_key):
    response = start_link(business, sandbox_key.public_key, origin="javascript:x")

    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "opened from a page we can't identify" in page
    assert "origin" not in page.lower()


def test_a_javascript_redirect_url_is_refused(business, sandbox_key):
    response = start_link(
        business, sandbox_key.public_key, redirect_url="javascript:alert(1)"
    )

    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "This link was opened with an address we can't return you to" in page
    assert "redirect_url" not in page and "http(s)" not in page


def test_a_malformed_nonce_is_refused_in_plain_words(business, sandbox_key):
    response = start_link(business, sandbox_key.public_key, nonce="a b")

    assert response.status_code == 400
    page = html.unescape(response.content.decode())
    assert "This link is incomplete or was changed after the app made it." in page
    assert "nonce" not in page.lower()


def test_an_over_long_platform_is_treated_as_an_unknown_one(business, sandbox_key):
    flow_id = consented(business, sandbox_key.public_key, platform="Q" * 65)

    page = business.get(f"/link/{flow_id}/platforms/").content.decode()

    assert f"We don&#x27;t know the platform {'Q' * 40}…." in page
    assert "at most 64 characters" not in page
    assert 'value="QUICKBOOKS"' in page


def test_a_huge_platform_keeps_only_its_start_in_the_session(business, sandbox_key):
    flow_id = started(business, sandbox_key.public_key, platform="Q" * 1500)

    [stored] = business.session["link_flows"].values()

    assert stored["flow_id"] == flow_id
    assert stored["unknown_platform"] == "Q" * 64


def test_the_picker_waits_for_consent(business, sandbox_key):
    flow_id = started(business, sandbox_key.public_key)

    response = business.get(f"/link/{flow_id}/platforms/")

    assert response["Location"] == f"/link/{flow_id}/"


def test_sign_in_waits_for_consent(business, sandbox_key):
    flow_id = started(business, sandbox_key.public_key, platform="quickbooks")

    response = business.get(f"/link/{flow_id}/sign-in/")

    assert response["Location"] == f"/link/{flow_id}/"


def test_consent_leads_to_the_picker(business, sandbox_key):
    flow_id = started(business, sandbox_key.public_key)

    response = business.post(f"/link/{flow_id}/")

    assert response["Location"] == f"/link/{flow_id}/platforms/"


def test_a_preselected_platform_skips_the_picker(business, sandbox_key):
    flow_id = started(business, sandbox_key.public_key, platform="sagebusinesscloud")

    response = business.post(f"/link/{flow_id}/")
    page = business.get(response["Location"])

    assert response["Location"] == f"/link/{flow_id}/sign-in/"
    assert "Sign in to Sage Business Cloud" in page.content.decode()


def test_the_picker_lists_platforms_as_buttons(business, sandbox_key):
    flow_id = consented(business, sandbox_key.public_key)

    html = business.get(f"/link/{flow_id}/platforms/").content.decode()

    assert 'name="platform" value="XERO"' in html
    assert 'name="platform" value="SHOPIFY"' in html
    assert 'label for="id_q"' in html


def test_the_picker_searches_on_the_server(business, sandbox_key):
    flow_id = consented(business, sandbox_key.public_key)

    html = business.get(f"/link/{flow_id}/platforms/", {"q": "xer"}).content.decode()

    assert 'value="XERO"' in html
    assert 'value="SHOPIFY"' not in html


def test_the_picker_leaves_out_hidden_and_disabled_platforms(
    business, sandbox_key, sandbox
):
    sandbox.stamp(LinkSettings(hidden_platforms=["XERO"])).save()
    sandbox.stamp(PlatformSetting(platform="SHOPIFY", enabled=False)).save()
    flow_id = consented(business, sandbox_key.public_key)

    html = business.get(f"/link/{flow_id}/platforms/").content.decode()

    assert 'value="XERO"' not in html
    assert 'value="SHOPIFY"' not in html
    assert 'value="QUICKBOOKS"' in html


@pytest.mark.parametrize("code", ["XERO", "SHOPIFY", "NOT_A_PLATFORM"])
def test_choosing_a_platform_not_offered_is_refused(
    business, sandbox_key, sandbox, code
):
    sandbox.stamp(LinkSettings(hidden_platforms=["XERO"])).save()
    sandbox.stamp(PlatformSetting(platform="SHOPIFY", enabled=False)).save()
    flow_id = consented(business, sandbox_key.public_key)

    response = business.post(f"/link/{flow_id}/platforms/", {"platform": code})
    sign_in_page = business.get(f"/link/{flow_id}/sign-in/")

    assert response.status_code == 400
    assert "not available here" in response.content.decode()
    assert sign_in_page["Location"] == f"/link/{flow_id}/platforms/"


def test_a_preselected_hidden_platform_falls_back_to_the_picker(
    business, sandbox_key, sandbox
):
    sandbox.stamp(LinkSettings(hidden_platforms=["XERO"])).save()
    flow_id = started(business, sandbox_key.public_key, platform="xero")

    response = business.post(f"/link/{flow_id}/")
    page = business.get(response["Location"])

    assert response["Location"] == f"/link/{flow_id}/platforms/"
    assert "Xero is not available here" in page.content.decode()


def test_the_sandbox_sign_in_shows_the_test_credentials(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    html = business.get(f"/link/{flow_id}/sign-in/").content.decode()

    assert "user_good" in html and "pass_good" in html and "user_reauth" in html
    assert '<label for="id_username">' in html


def test_bad_credentials_show_an_inline_error_and_keep_the_username(
    business, sandbox_key
):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    response = sign_in(business, flow_id, username="user_bad", password="anything")

    html = response.content.decode()
    assert response.status_code == 400
    assert "The username or password is incorrect." in html
    assert 'value="user_bad"' in html
    assert "anything" not in html
    assert not Connection.objects.exists()


def test_a_missing_password_is_named_next_to_its_field(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    response = sign_in(business, flow_id, password="")

    assert response.status_code == 400
    assert 'id="id_password-error"' in response.content.decode()
    assert not Connection.objects.exists()


def test_good_credentials_connect_and_start_the_sync(
    business, sandbox_key, sandbox, task_queue, django_capture_on_commit_callbacks
):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    with django_capture_on_commit_callbacks(execute=True):
        response = sign_in(business, flow_id, store_name="Bluebird Books")

    assert response["Location"] == f"/link/{flow_id}/done/"
    connection = sandbox.all(Connection).get()
    assert connection.platform == "QUICKBOOKS"
    assert connection.store_name == "Bluebird Books"
    assert not connection.needs_reauth
    [queued] = task_queue.results
    assert queued.args == [str(connection.id), 1]


def test_success_posts_the_token_to_the_origin_the_sdk_sent(
    business, sandbox_key, sandbox
):
    flow_id = at_sign_in(business, sandbox_key.public_key)
    sign_in(business, flow_id)

    response = business.get(f"/link/{flow_id}/done/")
    message, target_origin = posted_message(response)

    assert response.status_code == 200
    assert target_origin == ORIGIN
    assert '"*"' not in response.content.decode()
    assert message["type"] == "SUCCESS"
    assert message["nonce"] == NONCE
    token = PublicToken.objects.get()
    assert token.token_hash == crypto.keyed_hash(message["publicToken"])
    assert token.connection == sandbox.all(Connection).get()


def test_the_public_token_is_stored_only_as_a_hash(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)
    sign_in(business, flow_id)
    message, _ = posted_message(business.get(f"/link/{flow_id}/done/"))

    stored = PublicToken.objects.values().get()

    assert message["publicToken"] not in json.dumps(stored, default=str)


def test_the_public_token_never_reaches_the_log(business, sandbox_key, caplog):
    caplog.set_level("DEBUG")
    flow_id = at_sign_in(business, sandbox_key.public_key)

    sign_in(business, flow_id)
    message, _ = posted_message(business.get(f"/link/{flow_id}/done/"))

    assert caplog.records
    assert message["publicToken"] not in caplog.text


def test_user_reauth_connects_and_then_needs_authorising_again(
    business, sandbox_key, sandbox
):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    response = sign_in(business, flow_id, username="user_reauth")

    assert response["Location"] == f"/link/{flow_id}/done/"
    connection = sandbox.all(Connection).get()
    assert connection.needs_reauth
    assert "user_reauth" in connection.needs_reauth_reason


def test_a_finished_flow_cannot_connect_twice(business, sandbox_key, sandbox):
    flow_id = at_sign_in(business, sandbox_key.public_key)
    sign_in(business, flow_id)

    response = sign_in(business, flow_id)

    assert response["Location"] == f"/link/{flow_id}/done/"
    assert sandbox.all(Connection).count() == 1


def test_success_before_signing_in_goes_back_to_the_start(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    response = business.get(f"/link/{flow_id}/done/")

    assert response["Location"] == f"/link/{flow_id}/"


def test_without_an_origin_a_redirect_url_receives_the_token(business, sandbox_key):
    back = "https://app.example.com/connected?team=7&public_token=stale"
    flow_id = at_sign_in(
        business, sandbox_key.public_key, origin=None, redirect_url=back
    )
    sign_in(business, flow_id)

    response = business.get(f"/link/{flow_id}/done/")

    target = urlsplit(response["Location"])
    query = parse_qs(target.query)
    assert response.status_code == 302
    assert target.netloc == "app.example.com" and target.path == "/connected"
    assert query["team"] == ["7"]
    [token] = query["public_token"]
    assert PublicToken.objects.get().token_hash == crypto.keyed_hash(token)


def test_with_an_origin_and_a_redirect_url_the_page_posts_then_moves_on(
    business, sandbox_key
):
    back = "https://app.example.com/connected"
    flow_id = at_sign_in(business, sandbox_key.public_key, redirect_url=back)
    sign_in(business, flow_id)

    response = business.get(f"/link/{flow_id}/done/")
    message, target_origin = posted_message(response)

    assert response.status_code == 200
    assert target_origin == ORIGIN
    assert "https://app.example.com/connected?public_token=" in (
        response.content.decode()
    )


def test_without_an_opener_origin_success_shows_no_token(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key, origin=None)
    sign_in(business, flow_id)

    response = business.get(f"/link/{flow_id}/done/")

    html = response.content.decode()
    assert response.status_code == 200
    assert "link-message" not in html
    assert "public-sandbox-" not in html
    assert "You can close this window." in html


def test_cancel_posts_exit_and_ends_the_flow(business, sandbox_key):
    flow_id = consented(business, sandbox_key.public_key)

    response = business.post(f"/link/{flow_id}/cancel/")
    message, target_origin = posted_message(response)

    assert response.status_code == 200
    assert message == {"type": "EXIT", "nonce": NONCE}
    assert target_origin == ORIGIN
    assert business.get(f"/link/{flow_id}/platforms/").status_code == 404


def test_cancel_only_accepts_post(business, sandbox_key):
    flow_id = consented(business, sandbox_key.public_key)

    assert business.get(f"/link/{flow_id}/cancel/").status_code == 405


def test_another_browser_cannot_continue_a_flow(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    response = sign_in(Client(), flow_id)

    assert response.status_code == 404
    assert not Connection.objects.exists()


def test_two_flows_in_one_browser_stay_apart(business, sandbox_key, sandbox):
    first = at_sign_in(business, sandbox_key.public_key, platform="XERO")
    second = at_sign_in(business, sandbox_key.public_key, platform="SHOPIFY")

    sign_in(business, first)
    sign_in(business, second)

    platforms = set(sandbox.all(Connection).values_list("platform", flat=True))
    assert platforms == {"XERO", "SHOPIFY"}


def test_the_sdk_realtime_probe_gets_a_clean_not_found(client, db):
    for method in ("get", "post", "options"):
        response = getattr(client, method)(
            "/versioned/link/websocket/auth",
            headers={"X-Rutter-Version": "2024-08-31"},
        )

        assert response.status_code == 404
        assert response.json()["error_code"] == "NOT_FOUND"


def test_the_public_token_is_handed_out_once(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)
    sign_in(business, flow_id)
    first = business.get(f"/link/{flow_id}/done/")

    again = business.get(f"/link/{flow_id}/done/")

    message, _ = posted_message(first)
    assert message["publicToken"].startswith("public-sandbox-")
    assert again.status_code == 200
    assert "link-message" not in again.content.decode()
    assert message["publicToken"] not in again.content.decode()


def test_the_step_after_signing_in_keeps_the_opener_too(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    response = sign_in(business, flow_id, username="user_bad")
    connected = sign_in(business, flow_id)

    assert response.status_code == 400
    assert connected["Cross-Origin-Opener-Policy"] == "unsafe-none"
    assert "frame-ancestors 'none'" in connected["Content-Security-Policy"]


def test_going_back_to_the_picker_to_choose_again_shows_no_warning(
    business, sandbox_key, sandbox
):
    flow_id = at_sign_in(business, sandbox_key.public_key, platform="XERO")

    picker = business.get(f"/link/{flow_id}/platforms/")
    business.post(f"/link/{flow_id}/platforms/", {"platform": "SHOPIFY"})
    sign_in(business, flow_id)

    assert "not available" not in picker.content.decode()
    assert sandbox.all(Connection).get().platform == "SHOPIFY"


def test_an_unknown_preselected_platform_is_named_above_the_picker(
    business, sandbox_key
):
    flow_id = started(business, sandbox_key.public_key, platform="NOPE<b>")
    business.post(f"/link/{flow_id}/")

    page = business.get(f"/link/{flow_id}/platforms/").content.decode()

    assert "We don&#x27;t know the platform NOPE&lt;b&gt;. Choose one below." in page
    assert 'value="QUICKBOOKS"' in page


def test_a_long_unknown_platform_is_shortened_in_the_notice(business, sandbox_key):
    flow_id = consented(business, sandbox_key.public_key, platform="Q" * 64)

    page = business.get(f"/link/{flow_id}/platforms/").content.decode()

    assert f"We don&#x27;t know the platform {'Q' * 40}…." in page


def test_sign_in_refuses_a_store_name_over_the_column_limit(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    response = sign_in(business, flow_id, store_name="N" * 201)

    assert response.status_code == 400
    assert "at most 200 characters" in response.content.decode()
    assert not Connection.objects.exists()


def test_the_sandbox_sign_in_starts_in_the_username_field(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    page = business.get(f"/link/{flow_id}/sign-in/").content.decode()

    assert autofocused_field(page) == ["username"]


def test_a_sign_in_error_puts_the_keyboard_in_the_field_to_fix(business, sandbox_key):
    flow_id = at_sign_in(business, sandbox_key.public_key)

    response = sign_in(business, flow_id, password="")

    assert autofocused_field(response.content.decode()) == ["password"]


def test_the_picker_starts_in_the_search_box(business, sandbox_key):
    flow_id = consented(business, sandbox_key.public_key)

    page = business.get(f"/link/{flow_id}/platforms/").content.decode()

    assert re.search(r'<input type="search" name="q"[^>]*\bautofocus\b', page)


def autofocused_field(page):
    inputs = re.findall(r"<input[^>]*>", page, re.S)
    return [re.search(r'name="(\w+)"', i).group(1) for i in inputs if "autofocus" in i]


def test_link_pages_name_the_favicon(business, sandbox_key):
    flow_id = started(business, sandbox_key.public_key)

    page = business.get(f"/link/{flow_id}/").content.decode()

    assert re.search(r'<link rel="icon" href="/static/favicon[^"]*\.svg"', page)


def test_reopening_a_finished_flow_shows_it_is_done(business, sandbox_key, sandbox):
    flow_id = at_sign_in(business, sandbox_key.public_key)
    sign_in(business, flow_id)
    first = business.get(f"/link/{flow_id}/done/")
    token = posted_message(first)[0]["publicToken"]

    landing = business.get(f"/link/{flow_id}/")
    picker = business.get(f"/link/{flow_id}/platforms/")
    done = business.get(landing["Location"])

    assert landing["Location"] == f"/link/{flow_id}/done/"
    assert picker["Location"] == f"/link/{flow_id}/done/"
    page = html.unescape(done.content.decode())
    assert "You're connected. You can close this window." in page
    assert "data-link-continue" not in page and "link-message" not in page
    assert token not in page
    assert sandbox.all(Connection).count() == 1
