"""Cursor pagination and the query parameters every list endpoint shares.

Pages are cut by keyset on the primary key, not by offset: a row is never
served twice or skipped because others were inserted meanwhile. The cursor
is opaque to clients (URL-safe base64 of the entity and the last row's
id), and a cursor from one entity's list is refused by another's.
"""

import base64
import binascii
import uuid
from datetime import UTC, datetime

from ninja import Field, Schema

from rutterdash.api_errors import invalid_field

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


class ConnectionQuery(Schema):
    access_token: str
    force_fetch: bool = False


class ListQuery(ConnectionQuery):
    cursor: str | None = None
    limit: int = Field(DEFAULT_LIMIT, ge=1, le=MAX_LIMIT)
    updated_at_min: int | None = None
    updated_at_max: int | None = None
    expand: str | None = None


def paginate(queryset, query, updated_field="platform_updated_at"):
    """One page of the queryset as (rows, next_cursor or None)."""
    rows = _updated_between(queryset, query, updated_field).order_by("pk")
    entity = queryset.model._meta.label_lower
    if query.cursor:
        rows = rows.filter(pk__gt=decode_cursor(query.cursor, entity))

    page = list(rows[: query.limit + 1])
    if len(page) <= query.limit:
        return page, None
    page = page[: query.limit]
    return page, encode_cursor(entity, page[-1].pk)


def encode_cursor(entity, pk):
    return base64.urlsafe_b64encode(f"{entity}:{pk}".encode()).decode()


def decode_cursor(cursor, entity):
    try:
        decoded = base64.urlsafe_b64decode(cursor.encode()).decode()
        issued_for, _, pk = decoded.rpartition(":")
        if issued_for != entity:
            raise ValueError(decoded)
        return uuid.UUID(pk)
    except (binascii.Error, UnicodeError, ValueError):
        raise invalid_field("cursor", "not a cursor this API issued.") from None


def _updated_between(queryset, query, field):
    bounds = {
        f"{field}__gte": _from_unix_ms("updated_at_min", query.updated_at_min),
        f"{field}__lte": _from_unix_ms("updated_at_max", query.updated_at_max),
    }
    return queryset.filter(**{k: v for k, v in bounds.items() if v is not None})


def _from_unix_ms(name, value):
    if value is None:
        return None
    try:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    except (OverflowError, OSError, ValueError):
        problem = "not a Unix timestamp in milliseconds."
        raise invalid_field(name, problem) from None
