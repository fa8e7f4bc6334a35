"""The schema helper itself: it must accept Rutter's examples and catch misfits."""

import copy

import pytest
from django.http import JsonResponse
from openapi_core.validation.response.exceptions import InvalidData

from tests.openapi import assert_matches_schema, rutter_document


def _example(name):
    examples = rutter_document()["components"]["examples"]
    return copy.deepcopy(examples[name]["value"])


@pytest.fixture
def accounts_page():
    return _example("ListAccountResponseWithConnection_Example")


def test_rutters_own_example_passes(accounts_page):
    assert_matches_schema("get", "/accounting/accounts", JsonResponse(accounts_page))


def test_a_missing_required_property_fails(accounts_page):
    del accounts_page["accounts"][0]["balance"]

    with pytest.raises(InvalidData):
        assert_matches_schema(
            "get", "/accounting/accounts", JsonResponse(accounts_page)
        )


def test_a_value_outside_an_enum_fails(accounts_page):
    accounts_page["accounts"][0]["account_type"] = "savings"

    with pytest.raises(InvalidData):
        assert_matches_schema(
            "get", "/accounting/accounts", JsonResponse(accounts_page)
        )


def test_null_passes_where_rutter_marks_a_field_nullable(accounts_page):
    accounts_page["next_cursor"] = None
    accounts_page["accounts"][0]["nominal_code"] = None
    accounts_page["accounts"][0]["currency_code"] = None

    assert_matches_schema("get", "/accounting/accounts", JsonResponse(accounts_page))


def test_null_fails_where_rutter_does_not_allow_it(accounts_page):
    accounts_page["accounts"][0]["updated_at"] = None

    with pytest.raises(InvalidData):
        assert_matches_schema(
            "get", "/accounting/accounts", JsonResponse(accounts_page)
        )


def test_an_extra_property_fails_where_rutter_forbids_extras():
    created = _example("CreateConnectionResponse_Example")
    created["connection"]["store_name"] = "Extra"

    with pytest.raises(InvalidData):
        assert_matches_schema("post", "/connections/create", JsonResponse(created))


def test_an_error_status_never_passes(accounts_page):
    with pytest.raises(AssertionError):
        assert_matches_schema(
            "get", "/accounting/accounts", JsonResponse(accounts_page, status=400)
        )


def test_the_expense_line_minimum_reads_as_greater_than_zero():
    expense = rutter_document()["components"]["schemas"]["CreateExpense"]
    line = expense["properties"]["line_items"]["items"]
    total = line["properties"]["total_amount"]

    assert total["exclusiveMinimum"] == 0
    assert "minimum" not in total
