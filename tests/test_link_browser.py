"""The official @rutter/rutter-link SDK, unchanged, against Rutterdash in Chromium.

A fintech's page is served from another loopback origin (127.0.0.1 on a
port of its own, while Django's live server is on localhost). It loads the
SDK from npm (tests/link_sdk, installed by `npm ci`) and opens Link with
``dev.openUrl`` pointing at the live server. The business completes the
sandbox flow in the popup; the page receives the public token through
``onSuccess``, and the fintech's backend exchanges it for an access token
that reads the connection's books.
"""

import json
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from accounts.services import api_key_create
from connections.models import Connection
from connections.sync import run_sync
from customize.models import LinkSettings
from rutterdash.environments import Environment
from rutterdash.scoping import Scope
from tests.api_support import api_client, basic_auth
from tests.factories import OrganisationFactory
from tests.fake_oauth_provider import FakeProvider
from tests.oauth_support import connect_platform
from tests.openapi import assert_matches_schema

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SDK_BUNDLE = (
    Path(__file__).parent
    / "link_sdk"
    / "node_modules"
    / "@rutter"
    / "rutter-link"
    / "dist"
    / "bundle.js"
)
# The fintech's page listens on the first free port of these (loopback only).
FINTECH_PORTS = range(8201, 8210)

FINTECH_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Lender app</title></head>
<body>
<h1>Lender app</h1>
<button id="connect" type="button">Connect your books</button>
<output id="public-token"></output>
<output id="exit"></output>
<script src="/rutter-link.js"></script>
<script>
  var config = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  document.getElementById("connect").addEventListener("click", function () {
    Rutter.create({
      publicKey: config.publicKey,
      dev: {openUrl: config.openUrl},
      onSuccess: function (token) {
        document.getElementById("public-token").textContent = token;
      },
      onExit: function (reason) {
        document.getElementById("exit").textContent = reason || "EXIT";
      },
      onLoad: function () {}
    }).open(config.platform ? {platform: config.platform} : undefined);
  });
</script>
</body>
</html>
"""


class FintechPage(SimpleHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        if self.path.startswith("/rutter-link.js"):
            return self._send(SDK_BUNDLE.read_bytes(), "text/javascript")
        if self.path.split("#")[0] in ("/", "/app"):
            return self._send(FINTECH_PAGE.encode(), "text/html; charset=utf-8")
        self.send_error(404)

    def _send(self, body, content_type):
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _free_port():
    for port in FINTECH_PORTS:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) != 0:
                return port
    pytest.fail("No free port in 8201-8209 for the fintech page")


@pytest.fixture
def fintech_origin():
    if not SDK_BUNDLE.exists():
        pytest.fail("The Link SDK is missing: run `npm ci --prefix tests/link_sdk`")
    server = ThreadingHTTPServer(("127.0.0.1", _free_port()), partial(FintechPage))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def lender():
    organisation = OrganisationFactory(name="Northwind Lending")
    keys = {env: api_key_create(organisation, env) for env in Environment}
    return organisation, keys


def _open_link(browser, fintech_origin, live_server, public_key, platform=None):
    config = {"publicKey": public_key, "openUrl": live_server.url}
    if platform:
        config["platform"] = platform
    page = browser.new_context(viewport={"width": 360, "height": 740}).new_page()
    page.goto(f"{fintech_origin}/app#{json.dumps(config)}")
    with page.expect_popup() as opened:
        page.get_by_role("button", name="Connect your books").click()
    popup = opened.value
    popup.wait_for_load_state()
    # The SDK asks for an 800 px window; a phone gives it the screen's width.
    popup.set_viewport_size({"width": 360, "height": 740})
    return page, popup


def test_the_sdk_receives_a_public_token_that_reads_the_books(
    browser, live_server, fintech_origin, lender
):
    organisation, keys = lender
    sandbox_key, secret = keys[Environment.SANDBOX]

    page, popup = _open_link(
        browser, fintech_origin, live_server, sandbox_key.public_key
    )
    assert popup.url.startswith(live_server.url)
    popup.get_by_role("button", name="Continue").click()
    popup.get_by_label("Search platforms").fill("quick")
    assert popup.get_by_role("button", name="Xero").is_hidden()
    _assert_fits(popup)
    popup.get_by_role("button", name="QuickBooks Online Accounting").click()
    popup.get_by_label("Username").fill("user_good")
    popup.get_by_label("Password").fill("pass_good")
    _assert_fits(popup)
    popup.get_by_role("button", name="Sign in").click()

    token_output = page.locator("#public-token")
    token_output.filter(has_text="public-sandbox-").wait_for(timeout=10_000)
    public_token = token_output.text_content()
    if not popup.is_closed():
        popup.wait_for_event("close", timeout=10_000)

    api = api_client(basic_auth(sandbox_key.client_id, secret))
    exchanged = api.post(
        "/versioned/item/public_token/exchange",
        {"public_token": public_token},
        content_type="application/json",
    )
    assert_matches_schema("post", "/item/public_token/exchange", exchanged)
    access_token = exchanged.json()["access_token"]
    connection = Connection.objects.get(pk=exchanged.json()["connection_id"])
    assert connection.organisation == organisation
    run_sync(connection.id)

    accounts = api.get("/versioned/accounting/accounts", {"access_token": access_token})
    assert_matches_schema("get", "/accounting/accounts", accounts)
    assert len(accounts.json()["accounts"]) > 5


def test_bad_credentials_typed_with_the_keyboard_are_answered_inline(
    browser, live_server, fintech_origin, lender
):
    sandbox_key, _secret = lender[1][Environment.SANDBOX]

    page, popup = _open_link(
        browser, fintech_origin, live_server, sandbox_key.public_key, "xero"
    )
    popup.keyboard.press("Enter")  # Continue has the focus
    popup.get_by_role("heading", name="Sign in to Xero").wait_for()
    popup.keyboard.type("user_bad")  # Username has the focus
    popup.keyboard.press("Tab")
    popup.keyboard.type("whatever")
    popup.keyboard.press("Enter")

    assert (
        popup.get_by_role("alert")
        .text_content()
        .strip()
        .startswith("The username or password is incorrect.")
    )
    assert popup.get_by_label("Username").input_value() == "user_bad"
    assert not Connection.objects.exists()


def test_cancelling_tells_the_sdk_and_closes_the_popup(
    browser, live_server, fintech_origin, lender
):
    sandbox_key, _secret = lender[1][Environment.SANDBOX]

    page, popup = _open_link(
        browser, fintech_origin, live_server, sandbox_key.public_key
    )
    popup.get_by_role("button", name="Cancel").click()

    page.locator("#exit").filter(has_text="EXIT").wait_for(timeout=10_000)
    if not popup.is_closed():
        popup.wait_for_event("close", timeout=10_000)
    assert not Connection.objects.exists()


def test_a_production_key_refuses_an_origin_not_allowed(
    browser, live_server, fintech_origin, lender
):
    organisation, keys = lender
    production_key, _secret = keys[Environment.PRODUCTION]
    production = Scope(organisation, Environment.PRODUCTION)
    allowed = production.stamp(LinkSettings(allowed_origins=["https://lender.test"]))
    allowed.save()

    page, popup = _open_link(
        browser, fintech_origin, live_server, production_key.public_key
    )

    assert popup.get_by_role("heading").text_content() == "Link cannot open"
    refusal = popup.get_by_role("alert").text_content()
    assert refusal.startswith(f"This link was opened from {fintech_origin}, a site")
    assert popup.get_by_role("button", name="Continue").count() == 0


def test_an_allowed_production_origin_opens_link(
    browser, live_server, fintech_origin, lender
):
    organisation, keys = lender
    production_key, _secret = keys[Environment.PRODUCTION]
    production = Scope(organisation, Environment.PRODUCTION)
    production.stamp(LinkSettings(allowed_origins=[fintech_origin])).save()

    page, popup = _open_link(
        browser, fintech_origin, live_server, production_key.public_key
    )

    heading = popup.get_by_role("heading", level=1).text_content()
    assert " ".join(heading.split()) == "Connect your account to Northwind Lending"
    assert popup.get_by_role("button", name="Continue").is_visible()
    _assert_fits(popup)


def _assert_fits(popup):
    width = popup.evaluate("document.documentElement.scrollWidth")
    assert width <= popup.viewport_size["width"]


@pytest.fixture
def provider():
    fake = FakeProvider().start()
    yield fake
    fake.stop()


def test_production_oauth_in_the_popup_still_reaches_the_sdk(
    browser, live_server, fintech_origin, lender, provider, settings
):
    settings.SITE_URL = live_server.url
    organisation, keys = lender
    production_key, _secret = keys[Environment.PRODUCTION]
    production = Scope(organisation, Environment.PRODUCTION)
    production.stamp(LinkSettings(allowed_origins=[fintech_origin])).save()
    connect_platform(settings, provider, production, "QUICKBOOKS")

    page, popup = _open_link(
        browser, fintech_origin, live_server, production_key.public_key, "quickbooks"
    )
    popup.get_by_role("button", name="Continue", exact=True).click()
    popup.get_by_role("button", name="Continue to QuickBooks Online").click()

    token_output = page.locator("#public-token")
    token_output.filter(has_text="public-production-").wait_for(timeout=10_000)
    connection = production.all(Connection).get()
    assert connection.platform == "QUICKBOOKS"
