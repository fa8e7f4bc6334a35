"""Where generated rows gather, month by month, until the sync writes them."""

import uuid
from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from connections.models import DocumentStatus, JournalEntry, JournalLine

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


class UnbalancedEntry(ValueError):
    """A generated journal entry whose debits and credits differ."""


def money(value):
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def settlement(total, plan):
    """Amount due and status of a document once its planned payments land."""
    paid = sum((amount for _, amount in plan), ZERO)
    if paid == 0:
        status = DocumentStatus.OPEN
    elif paid < total:
        status = DocumentStatus.PARTIALLY_PAID
    else:
        status = DocumentStatus.PAID
    return {"amount_due": total - paid, "status": status}


class Ledger:
    """Unsaved rows of one connection's books, bucketed by the month they fall in.

    A row lands in the month of its own date, so a payment generated with
    its invoice waits for its month; a month is handed over once and then
    forgotten, which keeps memory flat however many months there are.
    """

    def __init__(self, connection, today, currency):
        self.connection_id = connection.id
        self.today = today
        self.currency = currency
        self.zone = timezone.get_current_timezone()
        self._months = defaultdict(lambda: defaultdict(list))

    def object_id(self, model, platform_id):
        # Stable across resyncs: the same document keeps the same public id.
        name = f"{model.__name__}:{platform_id}"
        return uuid.uuid5(self.connection_id, name)

    def new(self, model, platform_id, when, **fields):
        object_id = self.object_id(model, platform_id)
        stamp = self.stamp(when, object_id)
        return model(
            id=object_id,
            connection_id=self.connection_id,
            platform_id=platform_id,
            platform_created_at=stamp,
            platform_updated_at=stamp,
            **fields,
        )

    def stamp(self, when, object_id):
        """A working-hours moment on that day; today's rows say midnight.

        Midnight rather than "now" keeps today's rows out of the future and
        still identical from one generation to the next.
        """
        midnight = datetime.combine(when, time(), self.zone)
        if when >= self.today:
            return midnight
        return midnight + timedelta(minutes=8 * 60 + object_id.int % (10 * 60))

    def touch(self, document, plan):
        """Date a document's last update to its latest payment, if any."""
        if plan:
            last_paid = max(date for date, _ in plan)
            document.platform_updated_at = self.stamp(last_paid, document.id)

    def add(self, when, *rows):
        bucket = self._months[(when.year, when.month)]
        for row in rows:
            bucket[type(row)].append(row)

    def take(self, month):
        """Hand over (and forget) the rows dated in the month starting `month`."""
        return self._months.pop((month.year, month.month), {})

    def post(self, when, source_type, source_id, platform_id, memo, postings):
        """Post one journal entry; postings are (account, signed amount, text)."""
        if sum(amount for _, amount, _ in postings) != 0:
            raise UnbalancedEntry(f"Journal entry {platform_id} does not balance.")

        entry = self.new(
            JournalEntry,
            platform_id,
            when,
            transaction_date=when,
            currency_code=self.currency,
            memo=memo,
            source_type=source_type,
            source_id=source_id,
        )
        lines = [self._line(entry, *posting) for posting in postings]
        self.add(when, entry, *lines)
        return entry

    def _line(self, entry, account, amount, description):
        return JournalLine(
            entry_id=entry.id,
            connection_id=self.connection_id,
            transaction_date=entry.transaction_date,
            account_id=account.id,
            description=description,
            amount=amount,
        )
