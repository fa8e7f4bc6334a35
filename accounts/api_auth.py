"""HTTP Basic authentication for the API: client id and secret of an ApiKey.

The key decides both the organisation and the environment, so an
authenticated request carries a ``Scope`` exactly like a dashboard request.
The API layer resolves the key once, before rate limiting and idempotency
need it (``identify``); the endpoint's auth then reuses that result.

On PostgreSQL, ``identify`` also counts the request against the
organisation's rate limit and finds the connection its ``access_token``
opens, with its books version, all in the one statement that reads the
key: three round trips become one, and every part still reads the
current rows.
"""

import functools
import logging
import uuid
from dataclasses import dataclass

from django.db import connection as db
from ninja.security import HttpBasicAuth
from ninja.security.http import DecodeError

from accounts.models import ApiKey, Organisation
from connections.models import Connection
from rutterdash import bookkeeping, crypto, ratelimit
from rutterdash.models import BooksVersion
from rutterdash.scoping import Scope

log = logging.getLogger(__name__)

# Compared against when the client id is unknown, so that a wrong id costs
# the same hash-and-compare as a wrong secret.
_NO_SECRET_HASH = "0" * 64


class ApiKeyAuth(HttpBasicAuth):
    def authenticate(self, request, client_id, client_secret):
        if getattr(request, "api_key", None) is not None:
            return request.api_key

        api_key = api_key_for(client_id, client_secret)
        if api_key is None:
            log.debug("Refused API credentials for %r", client_id[:40])
            return None

        _admit(request, api_key)
        return api_key


@dataclass(frozen=True)
class Admission:
    """An authenticated request: its key, whether it must wait, its connection.

    ``connection`` is what ``token`` opens within the key's scope (None if
    nothing); both are None when the connection was not looked up.
    """

    api_key: ApiKey
    retry_after: int | None
    token: str | None = None
    connection: Connection | None = None

    def connection_for(self, token):
        """(True, connection or None) if ``token`` was looked up, else (False, None)."""
        if self.token is None or token != self.token:
            return False, None
        return True, self.connection


def identify(request):
    """Check the credentials and count the request: an Admission, or None.

    Sets ``request.api_key`` and ``request.scope`` when the credentials fit,
    and ``request.api_key`` to None when they do not.
    """
    request.api_key = None
    credentials = _basic_credentials(request.headers.get("Authorization"))
    if credentials is None:
        return None

    client_id, client_secret = credentials
    if db.vendor != "postgresql":
        return _identify_step_by_step(request, client_id, client_secret)

    token = request.GET.get("access_token") or None
    admission = _admission(client_id, client_secret, token)
    if admission is None:
        log.debug("Refused API credentials for %r", client_id[:40])
        return None
    _admit(request, admission.api_key)
    return admission


def _identify_step_by_step(request, client_id, client_secret):
    api_key = ApiKeyAuth().authenticate(request, client_id, client_secret)
    if api_key is None:
        return None
    return Admission(api_key, ratelimit.retry_after(api_key.organisation))


def _admit(request, api_key):
    request.api_key = api_key
    request.scope = Scope(api_key.organisation, api_key.environment)


def _basic_credentials(header):
    if not header or not header.startswith("Basic "):
        return None
    try:
        return ApiKeyAuth().decode_authorization(header)
    except DecodeError:
        return None


def api_key_for(client_id, client_secret):
    """The key these credentials open, or None, in constant time per secret."""
    api_key = _key_by_client_id(client_id)
    expected_hash = api_key.secret_hash if api_key else _NO_SECRET_HASH
    if crypto.hashes_match(client_secret, expected_hash) and api_key:
        return api_key
    return None


def _key_by_client_id(client_id):
    parsed = _client_uuid(client_id)
    if parsed is None:
        return None
    keys = ApiKey.objects.select_related("organisation")
    return keys.filter(client_id=parsed).first()


def _client_uuid(client_id):
    try:
        return uuid.UUID(client_id)
    except ValueError:
        return None


# The one-statement admission (PostgreSQL).

_ADMISSION = """
    WITH api_key AS (
        SELECT {key_columns} FROM {key_table} WHERE client_id = %(client_id)s
    ), counted AS (
        {count}
    ){unhurried}
    SELECT {key_row}, {organisation_columns}, counted.count, {connection_columns},
        books.version
    FROM api_key
    JOIN {organisation_table} organisation
        ON organisation.id = api_key.organisation_id
    LEFT JOIN counted ON true
    LEFT JOIN {connection_table} connection
        ON connection.access_token_hash = %(token_hash)s
        AND connection.organisation_id = api_key.organisation_id
        AND connection.environment = api_key.environment
    LEFT JOIN {books_table} books ON books.connection_id = connection.id
    {unhurried_join}
"""
# Only the key's owner is counted: a wrong secret changes no row.
_COUNTED_ROWS = """
    SELECT organisation_id, %(window)s, 1 FROM api_key
    WHERE secret_hash = %(secret_hash)s
"""


def _admission(client_id, client_secret, token):
    parsed = _client_uuid(client_id)
    secret_hash = crypto.keyed_hash(client_secret)
    if parsed is None:
        crypto.hashes_match(client_secret, _NO_SECRET_HASH)
        return None

    window = ratelimit.current_window()
    parameters = {
        "client_id": parsed,
        "secret_hash": secret_hash,
        "window": window.number,
        # A hash no token has, when the request names none.
        "token_hash": crypto.keyed_hash(token) if token else "",
    }
    with db.cursor() as cursor:
        cursor.execute(_admission_sql(), parameters)
        row = cursor.fetchone()

    api_key, count, connection = _parse(row)
    expected_hash = api_key.secret_hash if api_key else _NO_SECRET_HASH
    if not crypto.hashes_match(client_secret, expected_hash) or api_key is None:
        return None
    retry_after = window.retry_after(count)
    return Admission(api_key, retry_after, token, connection)


def _admission_sql():
    # The count is bookkeeping: its commit need not wait for the disk.
    return _admission_statement(bookkeeping.can_be_unhurried())


@functools.cache
def _admission_statement(unhurried):
    return _ADMISSION.format(
        key_table=_table(ApiKey),
        key_columns=_columns(ApiKey),
        key_row=_columns(ApiKey, "api_key"),
        organisation_table=_table(Organisation),
        organisation_columns=_columns(Organisation, "organisation"),
        connection_table=_table(Connection),
        connection_columns=_columns(Connection, "connection"),
        books_table=_table(BooksVersion),
        count=ratelimit.counting_upsert(_COUNTED_ROWS),
        unhurried=f", {bookkeeping.UNHURRIED_CTE}" if unhurried else "",
        unhurried_join="CROSS JOIN unhurried" if unhurried else "",
    )


def _parse(row):
    if row is None:
        return None, None, None
    values = iter(row)
    api_key = _instance(ApiKey, values)
    api_key.organisation = _instance(Organisation, values)
    count = next(values)
    connection = _instance(Connection, values)
    books_version = next(values)
    if connection.pk is None:
        return api_key, count, None
    connection.organisation = api_key.organisation
    # Read in this statement, so no change to the books older than what
    # this request reads can hide behind it (see connections.page_cache).
    connection.books_version = books_version
    return api_key, count, connection


def _instance(model, values):
    attnames = _attnames(model)
    return model.from_db(db.alias, attnames, [next(values) for _ in attnames])


@functools.cache
def _attnames(model):
    return [field.attname for field in model._meta.concrete_fields]


def _columns(model, alias=None):
    quote = db.ops.quote_name
    prefix = f"{alias}." if alias else ""
    return ", ".join(prefix + quote(f.column) for f in model._meta.concrete_fields)


def _table(model):
    return db.ops.quote_name(model._meta.db_table)
