from decimal import Decimal

from connections.models import JournalEntry, JournalLine
from connections.money import MoneySum
from tests.api_support import add_chart
from tests.factories import ConnectionFactory


def test_money_sums_come_back_as_exact_cents(organisation):
    connection = ConnectionFactory(organisation=organisation)
    bank = add_chart(connection)["bank"]
    entry = JournalEntry.objects.create(
        connection=connection,
        platform_id="je-1",
        transaction_date="2026-01-05",
        source_type="manual",
    )
    JournalLine.objects.bulk_create(
        JournalLine(
            entry=entry,
            connection=connection,
            transaction_date=entry.transaction_date,
            account=bank,
            amount=Decimal(amount),
        )
        for amount in ["0.10", "0.20", "2340.70", "-0.01", "0.01"] * 7
    )

    total = JournalLine.objects.aggregate(total=MoneySum("amount"))["total"]

    assert total == Decimal("16387.00")
    assert total.as_tuple().exponent == -2
