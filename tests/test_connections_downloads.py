"""Downloading a connection's accounting export and financial report."""

import datetime
import io

import openpyxl
import pytest
from django.utils import timezone

from connections.models import Invoice
from connections.sync import sync_books
from rutterdash.environments import Environment
from tests.factories import ConnectionFactory

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def connection(organisation):
    return ConnectionFactory(
        organisation=organisation,
        store_name="Bluebell Bakery",
        last_sync_completed_at=timezone.now(),
    )


@pytest.fixture
def written(monkeypatch):
    """Stand-in workbook writers that record their calls."""
    calls = []

    def fake_export(connection, fileobj):
        calls.append(("export", connection.pk))
        fileobj.write(b"accounting workbook")

    def fake_report(connection, start, end, fileobj):
        calls.append(("report", connection.pk, start, end))
        fileobj.write(b"report workbook")

    monkeypatch.setattr(
        "connections.exports.write_accounting_export", fake_export
    )
    monkeypatch.setattr("connections.reports.write_financial_report", fake_report)
    return calls


def export_url(connection):
    return f"/connections/{connection.pk}/export/"


def report_url(connection):
    return f"/connections/{connection.pk}/report/"


def body(response):
    return b"".join(response.streaming_content)


def months_ago(count):
    month = timezone.localdate().replace(day=1)
    for _ in range(count):
        month = (month - datetime.timedelta(days=1)).replace(day=1)
    return month


@pytest.mark.parametrize("url", [export_url, report_url])
def test_anonymous_visitor_is_sent_to_sign_in(client, connection, written, url):
    response = client.get(url(connection))

    assert response.status_code == 302
    assert response.url.startswith("/accounts/login/")
    assert written == []


@pytest.mark.parametrize("url", [export_url, report_url])
def test_outsider_gets_not_found(outsider_client, connection, written, url):
    response = outsider_client.get(url(connection))

    assert response.status_code == 404
    assert written == []


@pytest.mark.parametrize("url", [export_url, report_url])
def test_production_connection_is_not_found_from_sandbox(
    developer_client, organisation, written, url
):
    live = ConnectionFactory(
        organisation=organisation,
        environment=Environment.PRODUCTION,
        last_sync_completed_at=timezone.now(),
    )

    response = developer_client.get(url(live))

    assert response.status_code == 404
    assert written == []


@pytest.mark.parametrize("url", [export_url, report_url])
def test_post_is_not_allowed(admin_client, connection, written, url):
    response = admin_client.post(url(connection))

    assert response.status_code == 405
    assert written == []


@pytest.mark.parametrize("url", [export_url, report_url])
def test_downloads_are_refused_before_the_first_sync_completes(
    developer_client, organisation, written, url
):
    connection = ConnectionFactory(organisation=organisation, is_ready=False)

    response = developer_client.get(url(connection), follow=True)

    assert response.redirect_chain == [(f"/connections/{connection.pk}/", 302)]
    assert b"Downloads are ready once the first sync" in response.content
    assert written == []


@pytest.mark.parametrize("persona", ["developer_client", "admin_client"])
def test_members_download_the_accounting_export(
    request, persona, connection, written
):
    response = request.getfixturevalue(persona).get(export_url(connection))

    today = timezone.localdate().isoformat()
    assert response.status_code == 200
    assert response["Content-Type"] == XLSX
    assert response["Content-Disposition"] == (
        f'attachment; filename="bluebell-bakery-accounting-{today}.xlsx"'
    )
    assert body(response) == b"accounting workbook"
    assert written == [("export", connection.pk)]


def test_export_filename_is_sanitised(developer_client, organisation, written):
    connection = ConnectionFactory(
        organisation=organisation,
        store_name='Bob\'s "Café"/..\\Books\r\n',
        last_sync_completed_at=timezone.now(),
    )

    response = developer_client.get(export_url(connection))

    today = timezone.localdate().isoformat()
    assert response["Content-Disposition"] == (
        f'attachment; filename="bobs-cafebooks-accounting-{today}.xlsx"'
    )


def test_large_export_spills_to_disk_streams_whole_and_is_closed(
    developer_client, connection, monkeypatch
):
    chunk = b"0123456789abcdef" * 65536
    spools = []

    def big_export(connection, fileobj):
        spools.append(fileobj)
        for _ in range(10):
            fileobj.write(chunk)

    monkeypatch.setattr("connections.exports.write_accounting_export", big_export)

    response = developer_client.get(export_url(connection))

    assert spools[0]._rolled
    assert int(response["Content-Length"]) == len(chunk) * 10
    assert body(response) == chunk * 10
    assert spools[0].closed


def test_synced_connection_page_offers_both_downloads(
    developer_client, connection
):
    response = developer_client.get(f"/connections/{connection.pk}/")

    assert f'href="{export_url(connection)}"'.encode() in response.content
    assert f'action="{report_url(connection)}"'.encode() in response.content
    assert b'type="month"' in response.content


def test_report_page_offers_the_default_period(developer_client, connection):
    from connections.reports import default_period

    response = developer_client.get(report_url(connection))

    start, end = default_period(timezone.localdate())
    assert response.status_code == 200
    assert f'value="{start:%Y-%m}"'.encode() in response.content
    assert f'value="{end:%Y-%m}"'.encode() in response.content


def test_report_downloads_the_chosen_months(developer_client, connection, written):
    response = developer_client.get(
        report_url(connection), {"start": "2024-01", "end": "2024-12"}
    )

    assert response.status_code == 200
    assert response["Content-Disposition"] == (
        'attachment; filename="bluebell-bakery-financial-report-'
        '2024-01-to-2024-12.xlsx"'
    )
    assert body(response) == b"report workbook"
    first, last = datetime.date(2024, 1, 1), datetime.date(2024, 12, 31)
    assert written == [("report", connection.pk, first, last)]


def test_report_period_ending_this_month_ends_today(
    developer_client, connection, written
):
    this_month = months_ago(0)

    response = developer_client.get(
        report_url(connection),
        {"start": f"{months_ago(2):%Y-%m}", "end": f"{this_month:%Y-%m}"},
    )

    assert response.status_code == 200
    assert written[0][2:] == (months_ago(2), timezone.localdate())


def report_errors(client, connection, start, end):
    response = client.get(report_url(connection), {"start": start, "end": end})
    assert response.status_code == 200
    assert "Content-Disposition" not in response
    return response.context["form"].errors


def test_report_end_before_start_is_refused(developer_client, connection, written):
    errors = report_errors(developer_client, connection, "2024-06", "2024-05")

    assert errors == {"end": ["The end month must not be before the start."]}
    assert written == []


def test_report_in_the_future_is_refused(developer_client, connection, written):
    next_month = (months_ago(0) + datetime.timedelta(days=32)).replace(day=1)

    errors = report_errors(
        developer_client, connection, f"{months_ago(1):%Y-%m}", f"{next_month:%Y-%m}"
    )

    assert errors == {"end": ["That month has not happened yet."]}
    assert written == []


def test_report_longer_than_36_months_is_refused(
    developer_client, connection, written
):
    errors = report_errors(developer_client, connection, "2021-01", "2024-01")

    assert errors == {"start": ["Choose a period of at most 36 months."]}
    assert written == []


def test_report_of_exactly_36_months_is_allowed(
    developer_client, connection, written
):
    response = developer_client.get(
        report_url(connection), {"start": "2021-01", "end": "2023-12"}
    )

    assert response.status_code == 200
    assert len(written) == 1


def test_report_with_unreadable_months_shows_field_errors(
    developer_client, connection, written
):
    response = developer_client.get(
        report_url(connection), {"start": "January", "end": ""}
    )

    assert set(response.context["form"].errors) == {"start", "end"}
    assert b'class="error"' in response.content
    assert written == []


@pytest.fixture
def synced(organisation):
    connection = ConnectionFactory(organisation=organisation, is_ready=False)
    sync_books(connection, months=3, scale=0.2)
    connection.refresh_from_db()
    return connection


def workbook(response):
    return openpyxl.load_workbook(io.BytesIO(body(response)), read_only=True)


def test_real_accounting_export_is_a_workbook(developer_client, synced):
    response = developer_client.get(export_url(synced))

    assert response.status_code == 200
    book = workbook(response)
    invoices = Invoice.objects.filter(connection=synced).count()
    assert invoices > 0
    assert len(list(book["Invoices"].iter_rows())) == invoices + 1


def test_real_financial_report_is_a_workbook(developer_client, synced):
    period = {"start": f"{months_ago(3):%Y-%m}", "end": f"{months_ago(1):%Y-%m}"}

    response = developer_client.get(report_url(synced), period)

    assert response.status_code == 200
    assert workbook(response).sheetnames == [
        "Balance Sheet",
        "Income Statement",
        "Trial Balance",
        "AR Aging",
        "AP Aging",
    ]
