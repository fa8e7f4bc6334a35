"""Rutter's balance sheets, income and cash flow statements, one per month.

The database sums the journal lines per account and month (two or three
grouped queries per request, whatever the size of the book). Python only
arranges those sums, a few dozen accounts times at most 36 months, into
Rutter's line item trees, each node's value the sum of its children.

Cash flows use the direct method: every journal entry that moves a bank
account is split over its other accounts, so each flow is named after what
the cash paid for or came from, and the flows of a month add up exactly to
the change in bank balances.
"""

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef
from django.db.models.functions import TruncMonth

from connections.ledger import (
    OUT_OF_RANGE,
    PROFIT_AND_LOSS,
    ZERO,
    fiscal_year_start,
    month_starts,
    natural,
    next_month,
    snapshot,
    within_book_dates,
)
from connections.models import Account, AccountCategory, CompanyInfo, JournalLine
from connections.money import MoneySum
from connections.serializers import iso_date, iso_datetime

MAX_MONTHS = 36
BANK_TYPE = "bank"
COST_OF_SALES_TYPE = "cost_of_goods_sold"
OTHER_INCOME_TYPE = "other_income"
OTHER_EXPENSE_TYPE = "other_expense"
STATEMENT_IDS = uuid.UUID("5d0f1d4e-7c1b-4a55-9a43-3a1d2f7e9b60")

ASSET_GROUPS = {
    "bank": "Current Assets",
    "accounts_receivable": "Current Assets",
    "other_current_asset": "Current Assets",
    "fixed_asset": "Fixed Assets",
}
LIABILITY_GROUPS = {
    "accounts_payable": "Current Liabilities",
    "credit_card": "Current Liabilities",
    "other_current_liability": "Current Liabilities",
    "long_term_liability": "Long-term Liabilities",
}
INVESTING_TYPES = {"fixed_asset"}
FINANCING_TYPES = {"long_term_liability", "equity"}


class PeriodError(ValueError):
    """A requested period the statements cannot cover; names the field."""

    def __init__(self, field_name, problem):
        super().__init__(problem)
        self.field = field_name


@dataclass(frozen=True)
class Period:
    start: date
    end: date

    @property
    def month(self):
        return self.start.replace(day=1)


def periods(start, end):
    """The months from start to end, the first and last cut to the dates."""
    for name, day in (("start_date", start), ("end_date", end)):
        if not within_book_dates(day):
            raise PeriodError(name, OUT_OF_RANGE)
    if end < start:
        raise PeriodError("end_date", "must not be before start_date.")

    months = month_starts(start, end)
    if len(months) > MAX_MONTHS:
        problem = f"the period spans {len(months)} months; at most "
        raise PeriodError("end_date", f"{problem}{MAX_MONTHS} are allowed.")
    return [Period(max(m, start), min(_month_end(m), end)) for m in months]


def _month_end(month):
    return next_month(month) - timedelta(days=1)


# Line item trees.


@dataclass
class LineItem:
    name: str
    value: Decimal
    account_id: str | None = None
    items: list["LineItem"] = field(default_factory=list)

    @classmethod
    def group(cls, name, items):
        total = sum((item.value for item in items), ZERO)
        return cls(name, total, None, items)

    @classmethod
    def for_account(cls, account, value):
        return cls(str(account), value, str(account.id))

    def as_rutter(self):
        return {
            "account_id": self.account_id,
            "name": self.name,
            "value": money(self.value),
            "items": [item.as_rutter() for item in self.items],
        }


def money(amount):
    # Adding zero turns a negated zero ("-0.00") into "0.00".
    return f"{amount + ZERO:.2f}"


def _grouped(name, lines, group_of):
    """A node whose children group account lines by `group_of(account)`."""
    groups = defaultdict(list)
    for account, value in lines:
        groups[group_of(account)].append(LineItem.for_account(account, value))

    children = [LineItem.group(title, items) for title, items in groups.items()]
    return LineItem.group(name, children)


def _flat(name, lines):
    items = [LineItem.for_account(account, value) for account, value in lines]
    return LineItem.group(name, items)


# Sums from the database.


@dataclass
class Movements:
    """Debit-positive sums per account: before a date, then per month."""

    opening: dict
    monthly: dict

    def through(self, account_id, month):
        """The balance at the end of `month` (or of the period, if sooner)."""
        by_month = self.monthly.get(account_id, {})
        moved = sum((v for m, v in by_month.items() if m <= month), ZERO)
        return self.opening.get(account_id, ZERO) + moved

    def before(self, account_id, month):
        return self.through(account_id, month) - self.in_month(account_id, month)

    def in_month(self, account_id, month):
        return self.monthly.get(account_id, {}).get(month, ZERO)


def _lines(connection, start, end):
    lines = JournalLine.objects.filter(connection=connection)
    return lines.filter(transaction_date__range=(start, end)).order_by()


def _by_month(lines):
    grouped = (
        lines.annotate(month=TruncMonth("transaction_date"))
        .values_list("account_id", "month")
        .annotate(total=MoneySum("amount"))
    )
    monthly = defaultdict(dict)
    for account_id, month, total in grouped:
        monthly[account_id][month] = total
    return dict(monthly)


def _movements(connection, start, end):
    earlier = JournalLine.objects.filter(
        connection=connection, transaction_date__lt=start
    )
    opening = earlier.order_by().values_list("account_id").annotate(MoneySum("amount"))
    return Movements(dict(opening), _by_month(_lines(connection, start, end)))


def _cash_flows(connection, start, end, banks):
    """{account id: {month: cash in (+) or out (-)}} for non-bank accounts."""
    # Correlated on entry_id so the entry index answers it however few
    # rows the planner expects (a fresh book has no statistics yet).
    banked = JournalLine.objects.filter(
        entry_id=OuterRef("entry_id"), account_id__in=banks
    )
    lines = _lines(connection, start, end).filter(Exists(banked))
    monthly = _by_month(lines.exclude(account_id__in=banks))
    return {
        account_id: {month: -total for month, total in by_month.items()}
        for account_id, by_month in monthly.items()
    }


@dataclass
class Books:
    """What every statement of a connection needs besides the sums."""

    connection: object
    accounts: list
    currency_code: str
    fiscal_start_month: int

    @classmethod
    def of(cls, connection):
        accounts = list(Account.objects.filter(connection=connection))
        company = CompanyInfo.objects.filter(connection=connection).first()
        currency = company.currency_code if company else "USD"
        start_month = company.fiscal_year_start_month if company else 1
        return cls(connection, accounts, currency, start_month)

    def header(self, kind, period):
        key = f"{self.connection.id}:{kind}:{period.start}:{period.end}"
        synced = iso_datetime(self.connection.last_sync_completed_at)
        return {
            "id": str(uuid.uuid5(STATEMENT_IDS, key)),
            "start_date": iso_date(period.start),
            "end_date": iso_date(period.end),
            "currency_code": self.currency_code,
            "created_at": synced,
            "updated_at": synced,
        }


# Balance sheets.


def balance_sheets(connection, start, end):
    """Rutter BalanceSheet objects as of the end of each month."""
    months = periods(start, end)
    with snapshot():
        books = Books.of(connection)
        year_start = fiscal_year_start(start, books.fiscal_start_month)
        movements = _movements(connection, year_start, end)
    return [_balance_sheet(books, movements, period) for period in months]


def _balance_sheet(books, movements, period):
    assets, liabilities, equity = [], [], []
    sections = {
        AccountCategory.ASSET: assets,
        AccountCategory.LIABILITY: liabilities,
    }
    for account in books.accounts:
        balance = movements.through(account.id, period.month)
        if account.category not in PROFIT_AND_LOSS and balance:
            line = (account, natural(account, balance))
            sections.get(account.category, equity).append(line)

    return _balance_sheet_object(
        books,
        period,
        _grouped("Assets", assets, _asset_group),
        _grouped("Liabilities", liabilities, _liability_group),
        _equity(books, movements, period, equity),
    )


def _asset_group(account):
    return ASSET_GROUPS.get(account.account_type, "Other Assets")


def _liability_group(account):
    return LIABILITY_GROUPS.get(account.account_type, "Other Liabilities")


def _equity(books, movements, period, lines):
    year_start = fiscal_year_start(period.end, books.fiscal_start_month)
    earlier = current = ZERO
    for account in books.accounts:
        if account.category in PROFIT_AND_LOSS:
            before = movements.before(account.id, year_start)
            earlier -= before
            current -= movements.through(account.id, period.month) - before

    items = [LineItem.for_account(account, value) for account, value in lines]
    items.append(LineItem("Earnings from prior years", earlier))
    items.append(LineItem("Current year earnings", current))
    return LineItem.group("Equity", items)


def _balance_sheet_object(books, period, assets, liabilities, equity):
    return {
        **books.header("balance_sheet", period),
        "total_assets": money(assets.value),
        "total_liabilities": money(liabilities.value),
        "total_equity": money(equity.value),
        "assets": assets.as_rutter(),
        "liabilities": liabilities.as_rutter(),
        "equity": equity.as_rutter(),
    }


# Income statements.


def income_statements(connection, start, end):
    """Rutter IncomeStatement objects, accrual basis, one per month."""
    months = periods(start, end)
    with snapshot():
        books = Books.of(connection)
        monthly = _by_month(_lines(connection, start, end))
    return [_income_statement(books, monthly, period) for period in months]


def _income_statement(books, monthly, period):
    income, cost_of_sales, expenses = [], [], []
    for account in books.accounts:
        moved = monthly.get(account.id, {}).get(period.month, ZERO)
        if account.category not in PROFIT_AND_LOSS or not moved:
            continue
        line = (account, natural(account, moved))
        if account.category == AccountCategory.INCOME:
            income.append(line)
        elif account.account_type == COST_OF_SALES_TYPE:
            cost_of_sales.append(line)
        else:
            expenses.append(line)

    return _income_statement_object(
        books,
        period,
        _grouped("Income", income, _income_group),
        _flat("Cost of Sales", cost_of_sales),
        _grouped("Expenses", expenses, _expense_group),
    )


def _income_group(account):
    if account.account_type == OTHER_INCOME_TYPE:
        return "Other Income"
    return "Operating Income"


def _expense_group(account):
    if account.account_type == OTHER_EXPENSE_TYPE:
        return "Other Expenses"
    return "Operating Expenses"


def _income_statement_object(books, period, income, cost_of_sales, expenses):
    gross_profit = income.value - cost_of_sales.value
    net_income = gross_profit - expenses.value
    return {
        **books.header("income_statement", period),
        "accounting_standard": "accrual",
        "total_income": money(income.value),
        "total_cost_of_sales": money(cost_of_sales.value),
        "gross_profit": money(gross_profit),
        "total_expenses": money(expenses.value),
        "net_operating_income": money(_operating(income, expenses, gross_profit)),
        "net_income": money(net_income),
        "income": income.as_rutter(),
        "cost_of_sales": cost_of_sales.as_rutter(),
        "expenses": expenses.as_rutter(),
    }


def _operating(income, expenses, gross_profit):
    """Gross profit without other income, less operating expenses only."""
    others = {item.name: item.value for item in income.items + expenses.items}
    other_income = others.get("Other Income", ZERO)
    operating_expenses = others.get("Operating Expenses", ZERO)
    return gross_profit - other_income - operating_expenses


# Cash flow statements.


def cash_flow_statements(connection, start, end):
    """Rutter CashFlowStatement objects (direct method), one per month."""
    months = periods(start, end)
    with snapshot():
        books = Books.of(connection)
        banks = [a.id for a in books.accounts if a.account_type == BANK_TYPE]
        movements = _movements(connection, start, end)
        flows = _cash_flows(connection, start, end, banks)
    return [_cash_flow(books, banks, movements, flows, period) for period in months]


def _cash_flow(books, banks, movements, flows, period):
    activities = {"operating": [], "investing": [], "financing": []}
    for account in books.accounts:
        flow = flows.get(account.id, {}).get(period.month, ZERO)
        if flow:
            activities[_activity(account)].append((account, flow))

    starting = sum((movements.before(b, period.month) for b in banks), ZERO)
    ending = sum((movements.through(b, period.month) for b in banks), ZERO)
    return _cash_flow_object(books, period, activities, starting, ending)


def _activity(account):
    if account.account_type in INVESTING_TYPES:
        return "investing"
    if account.account_type in FINANCING_TYPES:
        return "financing"
    if account.category == AccountCategory.EQUITY:
        return "financing"
    return "operating"


def _cash_flow_object(books, period, activities, starting, ending):
    trees = {
        kind: _flat(f"{kind.title()} Activities", lines)
        for kind, lines in activities.items()
    }
    return {
        **books.header("cash_flow_statement", period),
        "starting_balance": money(starting),
        "ending_balance": money(ending),
        "total_operating": money(trees["operating"].value),
        "total_investing": money(trees["investing"].value),
        "total_financing": money(trees["financing"].value),
        "operating_activities": trees["operating"].as_rutter(),
        "investing_activities": trees["investing"].as_rutter(),
        "financing_activities": trees["financing"].as_rutter(),
    }
