"""Generate, deterministically, the books of a plausible small business.

The same connection always gets the same books (ids included): everything
random comes from one ``random.Random`` seeded with the connection's id, and
each row's id is derived from the connection id and the row's platform id.
Books stream out month by month as batches of unsaved model instances in an
order that satisfies foreign keys, so a connection scaled to hundreds of
thousands of journal lines is never held in memory whole.
"""

import calendar
import math
import random
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from connections.models import (
    Account,
    Bill,
    BillLine,
    BillPayment,
    CompanyInfo,
    Customer,
    Expense,
    ExpenseLine,
    Invoice,
    InvoiceLine,
    InvoicePayment,
    JournalEntry,
    JournalLine,
    JournalSource,
    Vendor,
)
from platforms.sandbox import chart, manual, names, parties, purchases, sales
from platforms.sandbox.ledger import Ledger, money

# The order in which rows must be written for foreign keys to resolve.
WRITE_ORDER = (
    CompanyInfo,
    Account,
    Customer,
    Vendor,
    Invoice,
    InvoiceLine,
    Bill,
    BillLine,
    InvoicePayment,
    BillPayment,
    Expense,
    ExpenseLine,
    JournalEntry,
    JournalLine,
)


@dataclass(frozen=True)
class Batch:
    """Unsaved rows of one model, and the share of the books done after them."""

    model: type
    rows: list
    progress: float


def generate_books(connection, *, months=None, scale=None, today=None):
    """Yield the connection's books as batches of unsaved rows, oldest first.

    Defaults: settings.SANDBOX_MONTHS months ending with today's month, and
    settings.SANDBOX_SCALE as the volume multiplier.
    """
    books = SandboxBooks(
        connection,
        months=months or settings.SANDBOX_MONTHS,
        scale=settings.SANDBOX_SCALE if scale is None else scale,
        today=today or timezone.localdate(),
    )
    return books.batches()


def book_months(count, today):
    """First days of the `count` months that end with today's month."""
    first = today.replace(day=1)
    months = [first]
    for _ in range(count - 1):
        months.append(_previous_month(months[-1]))
    return months[::-1]


def _previous_month(day):
    return (day.replace(day=1) - timedelta(days=1)).replace(day=1)


def _month_end(month):
    return month.replace(day=calendar.monthrange(month.year, month.month)[1])


class SandboxBooks:
    """One connection's business: its parties, accounts and running totals."""

    def __init__(self, connection, *, months, scale, today):
        self.connection = connection
        self.rng = random.Random(connection.id.int)
        self.scale = scale
        self.scale_money = Decimal(str(max(scale, 0.1)))
        self.sites = max(1, round(scale))
        self.today = today
        self.months = book_months(months, today)
        self.start = self.months[0]
        self.locale = names.locale_for(connection.platform)
        self.ledger = Ledger(connection, today, self.locale.currency)
        self.owed = {}
        self._numbers = {}
        self._names = set()
        self._equipment = []

    def batches(self):
        yield from self._setup()

        manual.opening(self, self.start)
        for index, month in enumerate(self.months):
            self._month(index, month)
            progress = (index + 1) / len(self.months)
            yield from self._flush(month, progress)

    def _flush(self, month, progress):
        rows = self.ledger.take(month)
        for model in WRITE_ORDER:
            if rows.get(model):
                yield Batch(model, rows[model], progress)

    def _month(self, index, month):
        last_day = min(_month_end(month), self.today)
        factor = self._seasonal(index, month)
        purchases.service_bills(self, month)
        if index == len(self.months) // 3:
            purchases.equipment_bill(self, month.replace(day=10))

        sales.invoice_month(
            self, self._days(month, last_day, sales.INVOICES_PER_MONTH * factor)
        )
        bill_days = self._days(month, last_day, purchases.SUPPLIER_BILLS_PER_MONTH)
        purchases.supplier_bills(self, bill_days)
        expense_days = self._days(month, last_day, purchases.EXPENSES_PER_MONTH)
        purchases.expenses(self, expense_days)
        manual.month_entries(self, month, _month_end(month), index)

    def _seasonal(self, index, month):
        """Busier towards the year's end and growing over the period."""
        season = 1 + 0.3 * math.cos(2 * math.pi * (month.month - 11.5) / 12)
        growth = 1 + 0.35 * index / max(1, len(self.months) - 1)
        return season * growth

    def _days(self, month, last_day, per_month):
        """Random dates up to last_day, as many as the month's volume calls for."""
        share = last_day.day / _month_end(month).day
        expected = per_month * self.scale * share
        count = round(expected * self.rng.uniform(0.85, 1.15))
        days = sorted(self.rng.randint(1, last_day.day) for _ in range(count))
        return [month.replace(day=day) for day in days]

    def _company(self):
        name = self.connection.store_name or "Sandbox Company"
        city, region = self.locale.cities[0]
        return self.ledger.new(
            CompanyInfo,
            "company",
            self.start,
            name=name,
            legal_name=_legal_name(name, self.locale),
            currency_code=self.locale.currency,
            address=f"1 {names.STREETS[0]}, {city}, {region}",
            fiscal_year_start_month=1,
        )

    def _accounts(self):
        rows = [self._account(spec) for spec in chart.CHART]
        keys = [spec.key for spec in chart.CHART]
        self._accounts_by_key = dict(zip(keys, rows, strict=True))
        self.account_by_id = {row.id: row for row in rows}
        return rows

    def _account(self, spec):
        name = spec.name.replace(chart.SALES_TAX_NAME, self.locale.tax_account_name)
        return self.ledger.new(
            Account,
            f"acc-{spec.code}",
            self.start,
            name=name,
            nominal_code=spec.code,
            account_type=spec.account_type,
            category=spec.category,
            currency_code=self.locale.currency,
        )

    def _setup(self):
        company = self._company()
        accounts = self._accounts()
        self.customers = parties.make_customers(self)
        vendors = parties.make_vendors(self)
        self.suppliers = [v for v in vendors if v.kind == "supplier"]
        self.merchants = [v for v in vendors if v.kind == "merchant"]
        self._services = {v.kind: v for v in vendors}
        self.payroll = self.scaled_price(12000, 18000)

        yield Batch(CompanyInfo, [company], 0.0)
        yield Batch(Account, accounts, 0.0)
        yield Batch(Customer, [party.row for party in self.customers], 0.0)
        yield Batch(Vendor, [party.row for party in vendors], 0.0)

    # What the document builders ask of the business.

    def account(self, key):
        return self._accounts_by_key[key]

    def vendor_for(self, kind):
        return self._services[kind]

    def pick(self, parties_):
        weights = [party.weight for party in parties_]
        return self.rng.choices(parties_, weights)[0]

    def price(self, low, high):
        return Decimal(self.rng.randint(low * 100, high * 100)).scaleb(-2)

    def scaled_price(self, low, high):
        """A price for something that grows with the business, such as payroll."""
        return money(self.price(low, high) * self.scale_money)

    def next_number(self, kind, first):
        number = self._numbers.get(kind, first)
        self._numbers[kind] = number + 1
        return number

    def unique_name(self, trades):
        for _ in range(20):
            word = self.rng.choice(names.COMPANY_WORDS)
            suffix = self.rng.choice(names.SUFFIXES)
            name = f"{word} {self.rng.choice(trades)} {suffix}".strip()
            if name not in self._names:
                break
        else:
            name = f"{name} {len(self._names)}"
        self._names.add(name)
        return name

    def manual(self, day, key, memo, postings):
        """Post a manual journal entry, unless it would be dated after today."""
        if day > self.today:
            return None
        return self.ledger.post(
            day, JournalSource.MANUAL, None, f"je-{key}", memo, postings
        )

    def track_tax(self, day, amount):
        self._owe(("tax", day.year, (day.month - 1) // 3), amount)

    def track_card(self, day, amount):
        self._owe(("card", day.year, day.month), amount)

    def _owe(self, key, amount):
        self.owed[key] = self.owed.get(key, Decimal(0)) + amount

    def previous_month(self, day):
        return _previous_month(day)

    def add_equipment(self, day, cost):
        self._equipment.append((day, cost))

    def equipment_cost(self, day):
        bought = [cost for when, cost in self._equipment if when <= day]
        return sum(bought, Decimal(0))


def _legal_name(name, locale):
    """The name with its company suffix, cut to fit CompanyInfo.legal_name."""
    suffix = " LLC" if locale is names.US else " Ltd"
    room = CompanyInfo._meta.get_field("legal_name").max_length - len(suffix)
    return name[:room].rstrip() + suffix
