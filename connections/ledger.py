"""Financial reports computed from a connection's journal lines.

The database does the adding up (sums per account, per month, per customer
or vendor), so a book of hundreds of thousands of lines costs a handful of
grouped queries. Amounts read naturally: assets and expenses are positive
when debited; liabilities, equity and income are positive when credited.
"""

import calendar
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal

from django.db import connection as db
from django.db import transaction
from django.db.models import (
    DecimalField,
    F,
    OuterRef,
    Q,
    Subquery,
    Value,
)
from django.db.models.functions import Coalesce, TruncMonth

from connections.models import (
    MONEY,
    Account,
    AccountCategory,
    Bill,
    BillPayment,
    CompanyInfo,
    DocumentStatus,
    Invoice,
    InvoicePayment,
    JournalLine,
)
from connections.money import MoneySum

ZERO = Decimal("0.00")
# Books outside these dates are typing mistakes, and month arithmetic on
# them would overflow Python's date range.
EARLIEST_DAY = date(1900, 1, 1)
LATEST_DAY = date(2099, 12, 31)
OUT_OF_RANGE = f"must be between {EARLIEST_DAY} and {LATEST_DAY}."


def within_book_dates(day):
    return EARLIEST_DAY <= day <= LATEST_DAY


MONEY_FIELD = DecimalField(**MONEY)

# Categories whose balances are debits in their natural state; all others
# (liabilities, equity, income) read as credits.
DEBIT_CATEGORIES = {AccountCategory.ASSET, AccountCategory.EXPENSE}
PROFIT_AND_LOSS = {AccountCategory.INCOME, AccountCategory.EXPENSE}
COST_OF_SALES_TYPE = "cost_of_goods_sold"
RECEIVABLE_TYPE = "accounts_receivable"
PAYABLE_TYPE = "accounts_payable"

AGING_BUCKETS = ("Current", "1-30 days", "31-60 days", "61-90 days", "90+ days")
# Drafts and voided documents never reach the ledger.
UNPOSTED_STATUSES = (DocumentStatus.DRAFT, DocumentStatus.VOID)


@contextmanager
def snapshot():
    """Read every query of a report from one consistent state of the books.

    A resync replaces the books in one transaction; without this, a report
    whose queries straddle its commit would not tie.
    """
    if db.in_atomic_block:
        yield
        return
    with transaction.atomic():
        if db.vendor == "postgresql":
            with db.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        yield


# What the reports return.


@dataclass
class TrialBalanceRow:
    code: str
    name: str
    account_type: str
    debit: Decimal
    credit: Decimal


@dataclass
class TrialBalance:
    as_of: date
    rows: list[TrialBalanceRow]

    @property
    def total_debit(self):
        return sum((row.debit for row in self.rows), ZERO)

    @property
    def total_credit(self):
        return sum((row.credit for row in self.rows), ZERO)


@dataclass
class StatementLine:
    label: str
    amount: Decimal
    code: str = ""


@dataclass
class StatementSection:
    title: str
    lines: list[StatementLine] = field(default_factory=list)

    @property
    def total(self):
        return sum((line.amount for line in self.lines), ZERO)


@dataclass
class BalanceSheet:
    as_of: date
    assets: StatementSection
    liabilities: StatementSection
    equity: StatementSection

    @property
    def liabilities_and_equity(self):
        return self.liabilities.total + self.equity.total

    @property
    def difference(self):
        """Assets minus liabilities and equity: zero when the books tie."""
        return self.assets.total - self.liabilities_and_equity


@dataclass
class MonthlyLine:
    label: str
    amounts: list[Decimal]
    code: str = ""

    @property
    def total(self):
        return sum(self.amounts, ZERO)


@dataclass
class MonthlySection:
    title: str
    months: int
    lines: list[MonthlyLine] = field(default_factory=list)

    @property
    def totals(self):
        return _column_sums([line.amounts for line in self.lines], self.months)

    @property
    def total(self):
        return sum(self.totals, ZERO)


@dataclass
class IncomeStatement:
    start: date
    end: date
    months: list[date]
    income: MonthlySection
    cost_of_sales: MonthlySection
    expenses: MonthlySection

    @property
    def gross_profit(self):
        return _minus(self.income.totals, self.cost_of_sales.totals)

    @property
    def net_income(self):
        return _minus(self.gross_profit, self.expenses.totals)

    @property
    def net_income_total(self):
        return sum(self.net_income, ZERO)


@dataclass
class AgingRow:
    party: str
    buckets: list[Decimal]

    @property
    def total(self):
        return sum(self.buckets, ZERO)


@dataclass
class Aging:
    as_of: date
    rows: list[AgingRow]
    ledger_balance: Decimal

    @property
    def bucket_totals(self):
        buckets = [row.buckets for row in self.rows]
        return _column_sums(buckets, len(AGING_BUCKETS))

    @property
    def total(self):
        return sum(self.bucket_totals, ZERO)

    @property
    def difference(self):
        """Open documents minus the control account: zero when they tie."""
        return self.total - self.ledger_balance


def _column_sums(rows, width):
    sums = [ZERO] * width
    for row in rows:
        sums = [total + amount for total, amount in zip(sums, row, strict=True)]
    return sums


def _minus(left, right):
    return [a - b for a, b in zip(left, right, strict=True)]


# Reports.


def trial_balance(connection, as_of):
    """Every account's balance on `as_of`, in debit and credit columns."""
    balances = _balances(connection, as_of)
    rows = []
    for account in _accounts(connection):
        balance = balances.get(account.id, ZERO)
        if balance:
            rows.append(_trial_balance_row(account, balance))
    return TrialBalance(as_of, rows)


def _trial_balance_row(account, balance):
    debit = balance if balance > 0 else ZERO
    credit = -balance if balance < 0 else ZERO
    return TrialBalanceRow(
        account.nominal_code, account.name, account.account_type, debit, credit
    )


def balance_sheet(connection, as_of):
    """Assets, liabilities and equity on `as_of`, earnings included in equity.

    Accounts of any other balance-sheet category are listed under equity.
    """
    year_start = fiscal_year_start(as_of, _fiscal_start_month(connection))
    balances = _balances(connection, as_of, split_at=year_start)
    assets = StatementSection("Assets")
    liabilities = StatementSection("Liabilities")
    equity = StatementSection("Equity")
    sections = {AccountCategory.ASSET: assets, AccountCategory.LIABILITY: liabilities}
    earlier_earnings = current_earnings = ZERO

    for account in _accounts(connection):
        balance, before_year = balances.get(account.id, (ZERO, ZERO))
        if account.category in PROFIT_AND_LOSS:
            earlier_earnings -= before_year
            current_earnings -= balance - before_year
        elif balance:
            section = sections.get(account.category, equity)
            section.lines.append(_statement_line(account, balance))

    equity.lines.append(StatementLine("Earnings from prior years", earlier_earnings))
    equity.lines.append(StatementLine("Current year earnings", current_earnings))
    return BalanceSheet(as_of, assets, liabilities, equity)


def _statement_line(account, balance):
    return StatementLine(account.name, natural(account, balance), account.nominal_code)


def natural(account, balance):
    """A debit-positive balance turned to read naturally for its account."""
    if account.category in DEBIT_CATEGORIES:
        return balance
    return -balance


def income_statement(connection, start, end):
    """Income, cost of sales and expenses per account, one column per month."""
    months = month_starts(start, end)
    accounts = [a for a in _accounts(connection) if a.category in PROFIT_AND_LOSS]
    totals = _monthly_totals(connection, accounts, start, end)
    income = MonthlySection("Income", len(months))
    cost_of_sales = MonthlySection("Cost of sales", len(months))
    expenses = MonthlySection("Expenses", len(months))

    for account in accounts:
        by_month = totals.get(account.id)
        if not by_month:
            continue
        amounts = [natural(account, by_month.get(m, ZERO)) for m in months]
        line = MonthlyLine(account.name, amounts, account.nominal_code)
        if account.category == AccountCategory.INCOME:
            income.lines.append(line)
        elif account.account_type == COST_OF_SALES_TYPE:
            cost_of_sales.lines.append(line)
        else:
            expenses.lines.append(line)

    return IncomeStatement(start, end, months, income, cost_of_sales, expenses)


def receivables_aging(connection, as_of):
    """Open invoices on `as_of` per customer, by days past due."""
    return _aging(connection, as_of, RECEIVABLES)


def payables_aging(connection, as_of):
    """Open bills on `as_of` per vendor, by days past due."""
    return _aging(connection, as_of, PAYABLES)


# Dates.


def fiscal_year_start(day, start_month=1):
    year = day.year if day.month >= start_month else day.year - 1
    return date(year, start_month, 1)


def month_starts(start, end):
    """The first day of each month from start's month to end's, inclusive."""
    months = []
    month = start.replace(day=1)
    while month <= end:
        months.append(month)
        month = next_month(month)
    return months


def next_month(day):
    days = calendar.monthrange(day.year, day.month)[1]
    return day.replace(day=1) + timedelta(days=days)


# Queries.


def with_balances(accounts):
    """Accounts annotated with ``debit_total``, the sum of all their lines.

    None for an account without lines. A correlated sum rather than a
    second grouped query: a page of accounts and their balances come back
    in one statement.
    """
    lines = JournalLine.objects.filter(
        connection_id=OuterRef("connection_id"), account_id=OuterRef("pk")
    )
    total = lines.order_by().values("account_id").annotate(total=MoneySum("amount"))
    debit_total = Subquery(total.values("total"), output_field=MONEY_FIELD)
    return accounts.annotate(debit_total=debit_total)


def _accounts(connection):
    return list(Account.objects.filter(connection=connection))


def _fiscal_start_month(connection):
    company = CompanyInfo.objects.filter(connection=connection).first()
    return company.fiscal_year_start_month if company else 1


def _lines(connection, **dates):
    return JournalLine.objects.filter(connection=connection, **dates).order_by()


def _balances(connection, as_of, split_at=None):
    """Debit-positive balance per account id on `as_of`.

    With `split_at`, each value is (balance, part of it dated before then).
    """
    lines = _lines(connection, transaction_date__lte=as_of)
    grouped = lines.values_list("account_id")
    if split_at is None:
        return dict(grouped.annotate(balance=MoneySum("amount")))

    before = MoneySum("amount", filter=Q(transaction_date__lt=split_at))
    rows = grouped.annotate(balance=MoneySum("amount"), before=before)
    return {
        account_id: (balance, before or ZERO) for account_id, balance, before in rows
    }


def _monthly_totals(connection, accounts, start, end):
    """{account id: {first of month: debit-positive sum}} within the period."""
    lines = _lines(connection, transaction_date__range=(start, end))
    grouped = (
        lines.filter(account__in=accounts)
        .annotate(month=TruncMonth("transaction_date"))
        .values_list("account_id", "month")
        .annotate(total=MoneySum("amount"))
    )
    totals = {}
    for account_id, month, total in grouped:
        totals.setdefault(account_id, {})[month] = total
    return totals


@dataclass(frozen=True)
class _AgingSource:
    documents: type
    payments: type
    document_field: str
    party_field: str
    control_type: str


RECEIVABLES = _AgingSource(
    Invoice, InvoicePayment, "invoice", "customer__name", RECEIVABLE_TYPE
)
PAYABLES = _AgingSource(Bill, BillPayment, "bill", "vendor__name", PAYABLE_TYPE)


def _aging(connection, as_of, source):
    buckets = {
        f"bucket{index}": MoneySum("open_amount", filter=condition)
        for index, condition in enumerate(_bucket_conditions(as_of))
    }
    party = source.party_field
    grouped = (
        _open_documents(connection, as_of, source)
        .values_list(party)
        .annotate(**buckets)
        .order_by(party)
    )
    rows = [
        AgingRow(name, [amount or ZERO for amount in amounts])
        for name, *amounts in grouped
    ]
    balance = _control_balance(connection, as_of, source.control_type)
    return Aging(as_of, rows, balance)


def _open_documents(connection, as_of, source):
    """Documents issued by `as_of`, with what was still owed on that day."""
    paid = source.payments.objects.filter(
        **{source.document_field: OuterRef("pk")}, date__lte=as_of
    )
    paid = paid.order_by().values(source.document_field)
    paid = paid.annotate(paid=MoneySum("total_amount")).values("paid")
    open_amount = F("total_amount") - Coalesce(
        Subquery(paid), Value(ZERO), output_field=MONEY_FIELD
    )
    documents = source.documents.objects.filter(
        connection=connection, issue_date__lte=as_of
    )
    return (
        documents.exclude(status__in=UNPOSTED_STATUSES)
        .annotate(open_amount=open_amount, due=Coalesce("due_date", "issue_date"))
        .exclude(open_amount=0)
        .order_by()
    )


def _bucket_conditions(as_of):
    """Due-date ranges: current, then 1-30, 31-60, 61-90 and over 90 days late."""
    days_ago = [as_of - timedelta(days=days) for days in (30, 60, 90)]
    return [
        Q(due__gte=as_of),
        Q(due__lt=as_of, due__gte=days_ago[0]),
        Q(due__lt=days_ago[0], due__gte=days_ago[1]),
        Q(due__lt=days_ago[1], due__gte=days_ago[2]),
        Q(due__lt=days_ago[2]),
    ]


def _control_balance(connection, as_of, account_type):
    """The receivable or payable balance on `as_of`, read naturally."""
    lines = _lines(connection, transaction_date__lte=as_of)
    total = lines.filter(account__account_type=account_type).aggregate(
        total=MoneySum("amount")
    )["total"]
    total = total or ZERO
    return -total if account_type == PAYABLE_TYPE else total
