"""The first slice end to end, in a real Chromium driven by Playwright.

An admin invites a teammate; the teammate joins, switches to sandbox, finds a
connection by store name and by access token, and downloads both workbooks,
which must hold together as books and agree with the API.
"""

import base64

import pytest
from django.test import Client
from openpyxl import load_workbook

from accounts.models import Role
from accounts.services import api_key_create
from connections.services import connection_create
from connections.sync import run_sync
from rutterdash.environments import Environment
from rutterdash.scoping import Scope
from tests.factories import PASSWORD, MembershipFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def sandbox_book():
    membership = MembershipFactory(role=Role.ADMIN, user__email="boss@lender.test")
    organisation = membership.organisation
    for environment in Environment:
        api_key_create(organisation, environment)
    scope = Scope(organisation, Environment.SANDBOX)
    connection, token = connection_create(scope, "QUICKBOOKS", "Juniper Coffee")
    connection_create(scope, "XERO", "Harbour Lane Bikes")
    run_sync(connection.id, attempt=1)
    return membership, connection, token


def test_teammate_joins_finds_a_connection_and_downloads_its_books(
    browser, live_server, sandbox_book, tmp_path
):
    admin_membership, connection, token = sandbox_book

    invite_link = _admin_creates_invite(browser, live_server.url)
    page = _teammate_joins(browser, invite_link)

    _switch_to_sandbox(page)
    _search(page, "juniper")
    assert page.get_by_role("link", name="Juniper Coffee").is_visible()
    assert page.get_by_role("link", name="Harbour Lane Bikes").count() == 0
    _search(page, token)
    page.get_by_role("link", name="Juniper Coffee").click()
    page.wait_for_url(f"**/connections/{connection.id}/")

    export_path = _download(page, tmp_path, "Export accounting data")
    report_path = _download(page, tmp_path, "Save Connection Data")

    invoice_rows = _data_rows(load_workbook(export_path, read_only=True)["Invoices"])
    assert invoice_rows == _api_invoice_count(admin_membership, token)
    _assert_report_ties(load_workbook(report_path, read_only=True))


def _admin_creates_invite(browser, base_url):
    context = browser.new_context(base_url=base_url)
    page = context.new_page()
    _sign_in(page, "boss@lender.test", PASSWORD)
    page.goto("/settings/")
    page.get_by_role("button", name="Create invite link").click()
    link = page.get_by_test_id("invite-link").input_value()
    context.close()
    assert "/invite/" in link
    return link


def _teammate_joins(browser, invite_link):
    page = browser.new_context(accept_downloads=True).new_page()
    page.goto(invite_link)
    page.get_by_label("Name").fill("Tess Teammate")
    page.get_by_label("Email").fill("tess@lender.test")
    page.get_by_label("Password", exact=True).fill("a-long-teammate-passphrase")
    page.get_by_label("Confirm password").fill("a-long-teammate-passphrase")
    page.get_by_role("button", name="Create account and join").click()
    page.wait_for_url("**/")
    assert page.get_by_text("tess@lender.test").is_visible()
    return page


def _sign_in(page, email, password):
    page.goto("/accounts/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/")


def _switch_to_sandbox(page):
    page.get_by_role("link", name="Connections").click()
    page.get_by_role("button", name="Sandbox").click()
    banner = page.locator(".env-banner")
    assert banner.get_attribute("data-environment") == "sandbox"


def _search(page, text):
    page.get_by_role("searchbox").fill(text)
    page.get_by_role("button", name="Search").click()
    page.wait_for_load_state()


def _download(page, tmp_path, button_name):
    with page.expect_download() as download_info:
        page.get_by_role("button", name=button_name).or_(
            page.get_by_role("link", name=button_name)
        ).first.click()
    download = download_info.value
    assert download.suggested_filename.endswith(".xlsx")
    path = tmp_path / download.suggested_filename
    download.save_as(path)
    return path


def _data_rows(sheet):
    return sum(1 for row in sheet.iter_rows(min_row=2) if row[0].value is not None)


def _api_invoice_count(membership, token):
    from accounts.models import ApiKey

    key = ApiKey.objects.get(
        organisation=membership.organisation, environment=Environment.SANDBOX
    )
    credentials = f"{key.client_id}:{key.secret()}".encode()
    client = Client(
        HTTP_AUTHORIZATION="Basic " + base64.b64encode(credentials).decode(),
        HTTP_X_RUTTER_VERSION="2023-03-14",
    )
    count, cursor = 0, None
    while True:
        params = {"access_token": token, "limit": 500}
        if cursor:
            params["cursor"] = cursor
        body = client.get("/versioned/accounting/invoices", params).json()
        count += len(body["invoices"])
        cursor = body.get("next_cursor")
        if not cursor:
            return count


def _assert_report_ties(workbook):
    trial = _rows(workbook["Trial Balance"])
    accounts = [row for row in trial if row[0]]
    debits = sum(row[3] or 0 for row in accounts)
    credits = sum(row[4] or 0 for row in accounts)
    assert debits == pytest.approx(credits, abs=0.005)

    sections = _sections(_rows(workbook["Balance Sheet"]))
    assets = sum(sections["Assets"])
    claims = sum(sections["Liabilities"]) + sum(sections["Equity"])
    assert assets == pytest.approx(claims, abs=0.005)

    balance_of = {row[2]: (row[3] or 0) - (row[4] or 0) for row in accounts}
    receivable = _aging_total(workbook["AR Aging"])
    payable = _aging_total(workbook["AP Aging"])
    assert receivable > 0
    assert receivable == pytest.approx(balance_of["accounts_receivable"], abs=0.005)
    assert payable == pytest.approx(-balance_of["accounts_payable"], abs=0.005)

    header = next(workbook["Income Statement"].iter_rows(max_row=1, values_only=True))
    assert len(header) == 2 + 12 + 1


def _rows(sheet):
    """Data rows padded to the header's width (read-only mode trims blanks)."""
    rows = sheet.iter_rows(values_only=True)
    width = len(next(rows))
    return [tuple(row) + (None,) * (width - len(row)) for row in rows]


def _sections(rows):
    """Account lines of a statement, grouped under their section titles."""
    sections, current = {}, None
    for _code, label, amount in rows:
        if amount is None:
            current = sections.setdefault(label, [])
        elif not label.startswith(("Total", "Check")):
            current.append(amount)
    return sections


def _aging_total(sheet):
    parties = [row for row in _rows(sheet) if row[0] and row[0] != "Total"]
    controls = ("Accounts", "Check")
    parties = [row for row in parties if not str(row[0]).startswith(controls)]
    return sum(row[-1] or 0 for row in parties)
