"""Balance sheets, income and cash flow statements, one per month.

Rutter's schema lists ``next_cursor`` on these responses but no cursor
parameter; a request covers at most 36 months, so one page holds them all
and ``next_cursor`` is always null.
"""

from datetime import date

from ninja import Query, Router

from connections import statements
from connections.api import readable_connection
from rutterdash.api_errors import invalid_field
from rutterdash.api_pagination import ConnectionQuery

router = Router(tags=["Accounting"])


class StatementQuery(ConnectionQuery):
    start_date: date
    end_date: date


@router.get("/balance_sheets", url_name="accounting_balance_sheets")
def balance_sheet_list(request, query: Query[StatementQuery]):
    sheets = _statements(request, query, statements.balance_sheets)
    return {"balance_sheets": sheets, "next_cursor": None}


@router.get("/income_statements", url_name="accounting_income_statements")
def income_statement_list(request, query: Query[StatementQuery]):
    found = _statements(request, query, statements.income_statements)
    return {"income_statements": found, "next_cursor": None}


@router.get("/cash_flow_statements", url_name="accounting_cash_flow_statements")
def cash_flow_statement_list(request, query: Query[StatementQuery]):
    found = _statements(request, query, statements.cash_flow_statements)
    return {"cash_flows": found, "next_cursor": None}


def _statements(request, query, build):
    connection = readable_connection(request, query)

    try:
        return build(connection, query.start_date, query.end_date)
    except statements.PeriodError as error:
        raise invalid_field(error.field, str(error)) from None
