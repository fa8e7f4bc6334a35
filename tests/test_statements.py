"""Statements over a generated sandbox book: the identities that must hold."""

from datetime import date
from decimal import Decimal

import pytest
from django.db import connection as db
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext

from connections import ledger, statements
from connections.models import CompanyInfo, JournalLine
from connections.statements import PeriodError, periods
from connections.sync import sync_books
from tests.factories import ConnectionFactory

JANUARY = date(2024, 1, 1)
END_OF_JUNE = date(2024, 6, 30)


@pytest.fixture
def connection(organisation):
    connection = ConnectionFactory(organisation=organisation)
    sync_books(connection, months=6, today=date(2024, 6, 15))
    return connection


def _d(text):
    return Decimal(text)


def _month_ends(sheets):
    return [date.fromisoformat(sheet["end_date"][:10]) for sheet in sheets]


def _assert_nodes_add_up(node):
    if node["items"]:
        children = sum(_d(item["value"]) for item in node["items"])
        assert _d(node["value"]) == children, node["name"]
    for item in node["items"]:
        _assert_nodes_add_up(item)


def _earnings(sheet):
    """Earlier and current earnings: the equity lines of no account."""
    lines = sheet["equity"]["items"]
    return sum(_d(line["value"]) for line in lines if line["account_id"] is None)


def _bank_balance(connection, as_of):
    lines = JournalLine.objects.filter(
        connection=connection,
        account__account_type="bank",
        transaction_date__lte=as_of,
    )
    return lines.aggregate(total=Sum("amount"))["total"] or Decimal("0.00")


def test_assets_equal_liabilities_plus_equity_every_month(connection):
    sheets = statements.balance_sheets(connection, JANUARY, END_OF_JUNE)

    assert len(sheets) == 6
    for sheet in sheets:
        assert _d(sheet["total_assets"]) > 0
        liabilities_and_equity = _d(sheet["total_liabilities"]) + _d(
            sheet["total_equity"]
        )
        assert _d(sheet["total_assets"]) == liabilities_and_equity


@pytest.mark.parametrize(
    "build, trees",
    [
        (statements.balance_sheets, ("assets", "liabilities", "equity")),
        (statements.income_statements, ("income", "cost_of_sales", "expenses")),
        (
            statements.cash_flow_statements,
            ("operating_activities", "investing_activities", "financing_activities"),
        ),
    ],
)
def test_every_total_is_the_sum_of_its_children(connection, build, trees):
    found = build(connection, JANUARY, END_OF_JUNE)

    for tree in trees:
        assert any(statement[tree]["items"] for statement in found), tree
        for statement in found:
            _assert_nodes_add_up(statement[tree])


@pytest.mark.parametrize("fiscal_start_month", [1, 4])
def test_balance_sheets_equal_the_ledger_balance_sheet(connection, fiscal_start_month):
    CompanyInfo.objects.filter(connection=connection).update(
        fiscal_year_start_month=fiscal_start_month
    )

    sheets = statements.balance_sheets(connection, JANUARY, END_OF_JUNE)

    for sheet, as_of in zip(sheets, _month_ends(sheets), strict=True):
        expected = ledger.balance_sheet(connection, as_of)
        assert _d(sheet["total_assets"]) == expected.assets.total
        assert _d(sheet["total_liabilities"]) == expected.liabilities.total
        assert _d(sheet["total_equity"]) == expected.equity.total
        assert _equity_lines(sheet) == _ledger_lines(expected.equity)


def _equity_lines(sheet):
    return {line["name"]: _d(line["value"]) for line in sheet["equity"]["items"]}


def _ledger_lines(section):
    return {f"{line.code} {line.label}".strip(): line.amount for line in section.lines}


def test_april_opens_a_fiscal_year_that_moves_earnings_to_prior_years(connection):
    CompanyInfo.objects.filter(connection=connection).update(fiscal_year_start_month=4)

    march, april = statements.balance_sheets(
        connection, date(2024, 3, 1), date(2024, 4, 30)
    )

    assert _equity_lines(march)["Earnings from prior years"] == 0
    prior = _equity_lines(april)["Earnings from prior years"]
    assert prior == _equity_lines(march)["Current year earnings"] != 0


def test_net_income_equals_the_change_in_earnings(connection):
    sheets = statements.balance_sheets(connection, date(2023, 12, 1), END_OF_JUNE)
    incomes = statements.income_statements(connection, JANUARY, END_OF_JUNE)

    assert _earnings(sheets[0]) == 0
    assert len(sheets) == len(incomes) + 1
    for before, after, income in zip(sheets[:-1], sheets[1:], incomes, strict=True):
        change = _earnings(after) - _earnings(before)
        assert _d(income["net_income"]) == change != 0


def test_income_statements_equal_the_ledger_income_statement(connection):
    incomes = statements.income_statements(connection, JANUARY, END_OF_JUNE)

    expected = ledger.income_statement(connection, JANUARY, END_OF_JUNE)
    assert [_d(i["total_income"]) for i in incomes] == expected.income.totals
    costs = [_d(i["total_cost_of_sales"]) for i in incomes]
    assert costs == expected.cost_of_sales.totals
    assert [_d(i["gross_profit"]) for i in incomes] == expected.gross_profit
    assert [_d(i["net_income"]) for i in incomes] == expected.net_income


def test_cash_flows_add_up_to_the_change_in_bank_balances(connection):
    flows = statements.cash_flow_statements(connection, JANUARY, END_OF_JUNE)

    opening = _bank_balance(connection, date(2023, 12, 31))
    for flow, month_end in zip(flows, _month_ends(flows), strict=True):
        net = sum(
            _d(flow[f"total_{kind}"])
            for kind in ("operating", "investing", "financing")
        )
        assert _d(flow["starting_balance"]) == opening
        assert _d(flow["ending_balance"]) == _bank_balance(connection, month_end)
        assert net == _d(flow["ending_balance"]) - opening
        opening = _d(flow["ending_balance"])


def test_opening_capital_is_a_financing_inflow(connection):
    [january] = statements.cash_flow_statements(connection, JANUARY, date(2024, 1, 31))

    financing = january["financing_activities"]["items"]
    capital = next(i for i in financing if i["name"].endswith("Owner's Capital"))
    assert _d(capital["value"]) > 0
    investing = january["investing_activities"]["items"]
    assert any(i["name"].endswith("Equipment") for i in investing)


def test_a_period_cut_mid_month_covers_only_its_days(connection):
    start, end = date(2024, 2, 10), date(2024, 4, 20)

    incomes = statements.income_statements(connection, start, end)
    sheets = statements.balance_sheets(connection, start, end)

    assert [i["start_date"][:10] for i in incomes] == [
        "2024-02-10",
        "2024-03-01",
        "2024-04-01",
    ]
    assert _month_ends(incomes)[-1] == end
    first = ledger.income_statement(connection, start, date(2024, 2, 29))
    assert _d(incomes[0]["net_income"]) == first.net_income_total
    last = ledger.balance_sheet(connection, end)
    assert _d(sheets[-1]["total_assets"]) == last.assets.total


def test_months_before_the_books_begin_are_empty(connection):
    [sheet] = statements.balance_sheets(
        connection, date(2023, 11, 1), date(2023, 11, 30)
    )
    [flow] = statements.cash_flow_statements(
        connection, date(2023, 11, 1), date(2023, 11, 30)
    )

    assert sheet["total_assets"] == "0.00"
    assert sheet["assets"]["items"] == []
    assert flow["ending_balance"] == "0.00"
    assert flow["operating_activities"]["items"] == []


@pytest.mark.parametrize(
    "build",
    [
        statements.balance_sheets,
        statements.income_statements,
        statements.cash_flow_statements,
    ],
)
def test_queries_do_not_grow_with_the_number_of_months(connection, build):
    with CaptureQueriesContext(db) as one_month:
        build(connection, JANUARY, date(2024, 1, 31))
    with CaptureQueriesContext(db) as six_months:
        build(connection, JANUARY, END_OF_JUNE)

    assert len(six_months) == len(one_month) <= 8


def test_statement_ids_are_stable_across_requests(connection):
    first = statements.income_statements(connection, JANUARY, END_OF_JUNE)
    again = statements.income_statements(connection, JANUARY, END_OF_JUNE)

    ids = [statement["id"] for statement in first]
    assert ids == [statement["id"] for statement in again]
    assert len(set(ids)) == 6


def test_periods_refuse_an_end_before_the_start():
    with pytest.raises(PeriodError) as refused:
        periods(date(2024, 3, 1), date(2024, 2, 29))

    assert refused.value.field == "end_date"


def test_periods_allow_thirty_six_months_and_no_more():
    assert len(periods(date(2021, 1, 15), date(2023, 12, 1))) == 36

    with pytest.raises(PeriodError) as refused:
        periods(date(2021, 1, 15), date(2024, 1, 1))
    assert "37 months" in str(refused.value)
