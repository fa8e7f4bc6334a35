"""Money sums that come back as exact cents on every database."""

from decimal import Decimal

from django.db.models import Sum

CENT = Decimal("0.01")


def _to_cents(value, expression, connection):
    return None if value is None else Decimal(value).quantize(CENT)


class MoneySum(Sum):
    """SUM over money columns, rounded to cents.

    SQLite adds decimals as floats (2341.00000000003); PostgreSQL is exact.
    Rounding the aggregate keeps reports and the API identical on both.
    """

    def get_db_converters(self, connection):
        return [*super().get_db_converters(connection), _to_cents]
