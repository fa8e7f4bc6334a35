from datetime import date
from decimal import Decimal

import pytest

from connections import ledger
from connections.models import CompanyInfo
from connections.sync import sync_books
from tests.books import AS_OF, SmallBook
from tests.factories import ConnectionFactory


@pytest.fixture
def book(db):
    return SmallBook(ConnectionFactory()).build()


@pytest.fixture
def generated(db):
    connection = ConnectionFactory(store_name="Generated Goods")
    sync_books(connection, months=14, scale=1, today=date(2024, 6, 20))
    return connection


def amounts(lines):
    return {line.label: line.amount for line in lines}


def test_trial_balance_lists_each_balance_on_its_natural_side(book):
    report = ledger.trial_balance(book.connection, AS_OF)

    rows = {row.code: (row.debit, row.credit) for row in report.rows}
    assert rows == {
        "1000": (Decimal("9500"), 0),
        "1100": (Decimal("2100"), 0),
        "2000": (0, Decimal("150")),
        "3000": (0, Decimal("10000")),
        "4000": (0, Decimal("2300")),
        "5000": (Decimal("300"), 0),
        "6500": (Decimal("550"), 0),
    }
    assert report.total_debit == report.total_credit == Decimal("12450")


def test_trial_balance_ignores_lines_after_its_date(book):
    report = ledger.trial_balance(book.connection, date(2023, 12, 31))

    rows = {row.code: (row.debit, row.credit) for row in report.rows}
    assert rows == {
        "1000": (Decimal("10000"), 0),
        "1100": (Decimal("1000"), 0),
        "3000": (0, Decimal("10000")),
        "4000": (0, Decimal("1000")),
    }


def test_balance_sheet_splits_earnings_at_the_fiscal_year_start(book):
    report = ledger.balance_sheet(book.connection, AS_OF)

    assert amounts(report.assets.lines) == {
        "Business Checking": Decimal("9500"),
        "Accounts Receivable": Decimal("2100"),
    }
    assert amounts(report.liabilities.lines) == {
        "Accounts Payable": Decimal("150")
    }
    assert amounts(report.equity.lines) == {
        "Owner's Capital": Decimal("10000"),
        "Earnings from prior years": Decimal("1000"),
        "Current year earnings": Decimal("450"),
    }
    assert report.assets.total == report.liabilities_and_equity == Decimal("11600")
    assert report.difference == 0


def test_balance_sheet_follows_a_fiscal_year_that_starts_mid_year(book):
    companies = CompanyInfo.objects.filter(connection=book.connection)
    companies.update(fiscal_year_start_month=12)

    report = ledger.balance_sheet(book.connection, AS_OF)

    assert amounts(report.equity.lines)["Earnings from prior years"] == 0
    assert amounts(report.equity.lines)["Current year earnings"] == Decimal("1450")
    assert report.difference == 0


def test_income_statement_has_a_column_per_month_and_totals(book):
    report = ledger.income_statement(
        book.connection, date(2024, 1, 1), date(2024, 3, 31)
    )

    assert report.months == [date(2024, 1, 1), date(2024, 2, 1), date(2024, 3, 1)]
    assert [(line.label, line.amounts) for line in report.income.lines] == [
        ("Product Sales", [Decimal("1300"), 0, 0])
    ]
    assert [(line.label, line.total) for line in report.cost_of_sales.lines] == [
        ("Cost of Goods Sold", Decimal("300"))
    ]
    assert report.expenses.totals == [0, Decimal("400"), Decimal("150")]
    assert report.gross_profit == [Decimal("1000"), 0, 0]
    assert report.net_income == [Decimal("1000"), Decimal("-400"), Decimal("-150")]
    assert report.net_income_total == Decimal("450")


def test_income_statement_leaves_out_lines_outside_the_period(book):
    report = ledger.income_statement(
        book.connection, date(2024, 2, 1), date(2024, 2, 29)
    )

    assert report.income.lines == []
    assert report.net_income == [Decimal("-400")]


def test_receivables_aging_buckets_open_invoices_by_days_late(book):
    report = ledger.receivables_aging(book.connection, AS_OF)

    rows = {row.party: row.buckets for row in report.rows}
    assert rows == {
        "Alder & Sons": [0, 0, Decimal("300"), Decimal("1000"), 0],
        "Birch Ltd": [0, 0, Decimal("800"), 0, 0],
    }
    assert report.total == report.ledger_balance == Decimal("2100")
    assert report.difference == 0


def test_receivables_aging_counts_only_payments_made_by_its_date(book):
    report = ledger.receivables_aging(book.connection, date(2024, 4, 1))

    rows = {row.party: row.total for row in report.rows}
    assert rows == {"Alder & Sons": Decimal("1000"), "Birch Ltd": Decimal("800")}
    assert report.bucket_totals[-1] == Decimal("1000")
    assert report.difference == 0


def test_payables_aging_leaves_out_paid_bills(book):
    report = ledger.payables_aging(book.connection, AS_OF)

    assert [(row.party, row.buckets) for row in report.rows] == [
        ("Vantage Supplies", [Decimal("150"), 0, 0, 0, 0])
    ]
    assert report.ledger_balance == Decimal("150")
    assert report.difference == 0


def test_reports_of_one_connection_ignore_other_books(book):
    SmallBook(ConnectionFactory()).build()

    report = ledger.trial_balance(book.connection, AS_OF)

    assert report.total_debit == Decimal("12450")


def test_default_month_helpers_span_year_ends():
    assert ledger.month_starts(date(2023, 11, 15), date(2024, 2, 1)) == [
        date(2023, 11, 1),
        date(2023, 12, 1),
        date(2024, 1, 1),
        date(2024, 2, 1),
    ]
    assert ledger.fiscal_year_start(date(2024, 3, 15), 4) == date(2023, 4, 1)


@pytest.mark.parametrize("as_of", [date(2023, 9, 30), date(2024, 6, 20)])
def test_generated_books_tie_on_any_date(generated, as_of):
    trial = ledger.trial_balance(generated, as_of)
    sheet = ledger.balance_sheet(generated, as_of)
    receivables = ledger.receivables_aging(generated, as_of)
    payables = ledger.payables_aging(generated, as_of)

    assert trial.total_debit == trial.total_credit > 0
    assert sheet.assets.total > 0
    assert sheet.difference == 0
    assert receivables.total > 0
    assert receivables.difference == 0
    assert payables.difference == 0


def test_generated_books_have_overdue_receivables(generated):
    report = ledger.receivables_aging(generated, date(2024, 6, 20))

    assert sum(report.bucket_totals[1:]) > 0


def test_generated_income_statement_agrees_with_the_balance_sheet(generated):
    year = ledger.income_statement(generated, date(2024, 1, 1), date(2024, 6, 20))
    sheet = ledger.balance_sheet(generated, date(2024, 6, 20))

    current = amounts(sheet.equity.lines)["Current year earnings"]
    assert len(year.months) == 6
    assert year.net_income_total == current
