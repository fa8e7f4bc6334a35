"""Bodies for the accounting write endpoints, and a chart to write against."""

import json
import uuid
from datetime import date

from connections import writes
from tests.openapi import rutter_document

CHART = [
    ("bank", "1000", "Checking"),
    ("accounts_receivable", "1100", "Accounts Receivable"),
    ("fixed_asset", "1500", "Equipment"),
    ("accounts_payable", "2000", "Accounts Payable"),
    ("equity", "3000", "Owner Capital"),
    ("income", "4000", "Sales"),
    ("cost_of_goods_sold", "5000", "Cost of Goods Sold"),
    ("expense", "6000", "Rent"),
    ("expense", "6100", "Depreciation"),
]
PATHS = {
    "account": "/accounting/accounts",
    "customer": "/accounting/customers",
    "vendor": "/accounting/vendors",
    "invoice": "/accounting/invoices",
    "bill": "/accounting/bills",
    "expense": "/accounting/expenses",
    "journal_entry": "/accounting/journal_entries",
    "invoice_payment": "/accounting/invoice_payments",
    "bill_payment": "/accounting/bill_payments",
}
# The resource half of each Create response (the other half is the job).
RESOURCE_SCHEMAS = {
    "account": "AccountResponse",
    "customer": "AccountingCustomer_2023_02_07Response",
    "vendor": "VendorResponse",
    "invoice": "InvoiceResponse",
    "bill": "BillResponse",
    "expense": "ExpenseResponse",
    "journal_entry": "JournalEntryResponse",
    "invoice_payment": "InvoicePayment_2023_02_07Response",
    "bill_payment": "BillPaymentResponse",
}


def add_chart(connection):
    """The chart of CHART written through the services, keyed by code."""
    return {
        code: writes.account_create(connection, _account(kind, code, name))
        for kind, code, name in CHART
    }


def _account(kind, code, name):
    return {
        "account_type": kind,
        "currency_code": "USD",
        "name": name,
        "nominal_code": code,
    }


def add_parties(connection):
    customer = writes.customer_create(connection, {"customer_name": "Acme"})
    vendor = writes.vendor_create(
        connection, {"vendor_name": "Office Co", "currency_code": "USD"}
    )
    return customer, vendor


def add_invoice(connection, chart, customer, total, day=date(2024, 3, 1)):
    invoice = invoice_body(chart, customer, total, day.isoformat())["invoice"]
    invoice["issue_date"] = invoice["due_date"] = day
    return writes.invoice_create(connection, invoice)


def add_bill(connection, chart, vendor, total, day=date(2024, 3, 1)):
    bill = bill_body(chart, vendor, total, day.isoformat())["bill"]
    bill["issue_date"] = bill["due_date"] = day
    return writes.bill_create(connection, bill)


def account_body(kind="bank", code="1010", name="Savings"):
    return {"account": _account(kind, code, name)}


def customer_body(name="Globex"):
    return {
        "customer": {
            "customer_name": name,
            "contact_name": "Hank Scorpio",
            "email": "hank@globex.example",
            "phone": "555-0100",
        }
    }


def vendor_body(name="Paper Supply"):
    return {
        "vendor": {
            "vendor_name": name,
            "contact_name": "Michael Scott",
            "currency_code": "USD",
            "addresses": [
                {
                    "type": "billing",
                    "address1": "1725 Slough Avenue",
                    "address2": None,
                    "city": "Scranton",
                    "country": "US",
                    "postal_code": "18505",
                    "region": "PA",
                }
            ],
        }
    }


def invoice_body(chart, customer, total, day="2024-03-01", due="2024-03-31"):
    return {
        "invoice": {
            "customer_id": str(customer.id),
            "issue_date": day,
            "due_date": max(day, due),
            "currency_code": "USD",
            "line_items": [
                {
                    "account_id": str(chart["4000"].id),
                    "description": "Consulting",
                    "total_amount": total,
                    "item": {"quantity": 1, "unit_amount": total},
                }
            ],
        }
    }


def bill_body(chart, vendor, total, day="2024-03-01", code="6000"):
    return {
        "bill": {
            "vendor_id": str(vendor.id),
            "issue_date": day,
            "due_date": day,
            "currency_code": "USD",
            "document_number": "B-1",
            "line_items": [{"account_id": str(chart[code].id), "total_amount": total}],
        }
    }


def expense_body(chart, total, day="2024-03-05", expense_type="expense"):
    return {
        "expense": {
            "account_id": str(chart["1000"].id),
            "transaction_date": day,
            "currency_code": "USD",
            "expense_type": expense_type,
            "line_items": [
                {"account_id": str(chart["6000"].id), "total_amount": total}
            ],
        }
    }


def journal_body(chart, postings, day="2024-01-01"):
    lines = [
        {"account_id": str(chart[code].id), "total_amount": amount}
        for code, amount in postings
    ]
    return {
        "journal_entry": {
            "transaction_date": day,
            "currency_code": "USD",
            "memo": "Opening capital",
            "line_items": lines,
        }
    }


def invoice_payment_body(chart, invoice, amount, day="2024-03-20"):
    return {
        "invoice_payment": {
            "account_id": str(chart["1000"].id),
            "customer_id": str(invoice.customer_id),
            "txn_date": day,
            "currency_code": "USD",
            "total_amount": amount,
            "linked_invoices": [{"id": str(invoice.id), "amount": amount}],
        }
    }


def bill_payment_body(chart, bill, amount, day="2024-03-20"):
    return {
        "bill_payment": {
            "account_id": str(chart["1000"].id),
            "vendor_id": str(bill.vendor_id),
            "transaction_date": day,
            "currency_code": "USD",
            "linked_bills": [
                {
                    "id": str(bill.id),
                    "allocated_date": day,
                    "allocated_amount": amount,
                }
            ],
        }
    }


def post_write(client, token, entity, body):
    return client.post(
        f"/versioned{PATHS[entity]}?access_token={token}",
        data=json.dumps(body),
        content_type="application/json",
    )


def post_raw(client, token, entity, raw):
    return client.post(
        f"/versioned{PATHS[entity]}?access_token={token}",
        data=raw,
        content_type="application/json",
    )


def assert_resource_matches_schema(entity, body):
    """Check the created record itself against Rutter's resource schema.

    The Create responses are ``anyOf`` the resource and the async payload,
    and the async branch alone accepts any extra keys; so the record must
    be checked on its own too.
    """
    from openapi_schema_validator import OAS31Validator

    document = rutter_document()
    schema = {
        "$ref": f"#/components/schemas/{RESOURCE_SCHEMAS[entity]}",
        "components": document["components"],
    }
    OAS31Validator(schema).validate({entity: body[entity]})


def job_id(response):
    return uuid.UUID(response["X-Rutter-Job-ID"])
