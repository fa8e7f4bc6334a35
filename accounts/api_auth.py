"""HTTP Basic authentication for the API: client id and secret of an ApiKey.

The key decides both the organisation and the environment, so an
authenticated request carries a ``Scope`` exactly like a dashboard request.
The API layer resolves the key once, before rate limiting and idempotency
need it (``identify``); the endpoint's auth then reuses that result.

On PostgreSQL, ``identify`` reads the key, its organisation, the
connection the request's ``access_token`` opens and that connection's
books version in one small read-only statement, prepared once per
database connection (rutterdash.prepared). It returns their ids and row
versions (``xmin`` and ``ctid``: every update of a row writes a new
version), not their columns. Each worker keeps the columns of rows it has
read under their row versions and builds instances from them only when
the request needs them (``Admission.admit``), so an unchanged row costs
nothing to read. A kept row could only be taken for a newer one if a
transaction id came round again (about four billion transactions later)
and rewrote that row into the same place while this worker still kept
the old version.

When the worker holds no request leased from the organisation's rate
limit (rutterdash.ratelimit), the same statement takes a lease; only a
key whose secret matches takes one. While it holds one, the statement's
row is kept (accounts.admission_cache) and a repeated request by the same
key with the same token is admitted from it without a round trip: the
secret is still hashed and compared, and the request spends the lease
locally. So a key revoked, rotated or deleted, or a connection disabled,
deleted or changed, or its books written, is seen by this process's very
next request, and by other processes' requests once PostgreSQL's
notification of the change has reached them (milliseconds; at most
API_ADMISSION_CACHE_SECONDS if their listening connection is lost
silently).

The statement is the first a request sends, so it stands in for Django's
connection health check (a ``SELECT 1`` per request): a connection that
PostgreSQL dropped fails it, and it is sent once more on a new connection.
A request admitted without it gets Django's check if it uses the database.
"""

import functools
import hmac
import logging
import threading
import uuid
from collections import OrderedDict
from dataclasses import dataclass

from django.db import InterfaceError, OperationalError
from django.db import connection as db
from ninja.security import HttpBasicAuth
from ninja.security.http import DecodeError

from accounts.admission_cache import admission_cache
from accounts.models import ApiKey, Organisation
from connections.models import Connection
from rutterdash import bookkeeping, crypto, prepared, ratelimit
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


# Building one reads ninja's OpenAPI attributes: do it once.
_BASIC_AUTH = ApiKeyAuth()


@dataclass
class Admission:
    """An authenticated request: its key, whether it must wait, its connection.

    ``versions`` names the state this request read: the key's organisation,
    the connection (None if the token opens none) and its books, by id and
    row version. The key and connection instances are built on demand
    (``admit``), so a request answered from a kept page builds none.
    """

    api_key_id: int
    organisation_id: int
    environment: str
    retry_after: int | None
    token: str | None = None
    connection_id: str | None = None
    versions: tuple = ()
    api_key: ApiKey | None = None
    connection: Connection | None = None

    def admit(self, request):
        """Give the request its key and scope, building them if needed.

        A key deleted since the admission read it leaves ``request.api_key``
        None, so the endpoint's auth refuses the request.
        """
        if self.api_key is None:
            self.api_key, self.connection = _instances(self)
        if self.api_key is not None:
            _admit(request, self.api_key)

    def connection_for(self, token):
        """(True, connection or None) if ``token`` was looked up, else (False, None)."""
        if self.token is None or token != self.token:
            return False, None
        if self.connection is None and self.connection_id is not None:
            self.api_key, self.connection = _instances(self)
        return True, self.connection


def identify(request):
    """Check the credentials and count the request: an Admission, or None.

    Sets ``request.api_key`` to None; ``Admission.admit`` sets it, and
    ``request.scope``, once the request needs them.
    """
    request.api_key = None
    credentials = _basic_credentials(request.META.get("HTTP_AUTHORIZATION"))
    if credentials is None:
        return None

    client_id, client_secret = credentials
    if db.vendor != "postgresql":
        return _identify_step_by_step(request, client_id, client_secret)

    token = request.GET.get("access_token") or None
    admission = _admission(client_id, client_secret, token)
    if admission is None:
        log.debug("Refused API credentials for %r", client_id[:40])
    return admission


def _identify_step_by_step(request, client_id, client_secret):
    api_key = ApiKeyAuth().authenticate(request, client_id, client_secret)
    if api_key is None:
        return None
    retry_after = ratelimit.retry_after(api_key.organisation)
    return Admission(
        api_key.pk,
        api_key.organisation_id,
        api_key.environment,
        retry_after,
        api_key=api_key,
    )


def _admit(request, api_key):
    request.api_key = api_key
    request.scope = Scope(api_key.organisation, api_key.environment)


def _basic_credentials(header):
    if not header or not header.startswith("Basic "):
        return None
    try:
        return _BASIC_AUTH.decode_authorization(header)
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

# A row version: the transaction that wrote it and where it lies. Every
# update writes a new version, so both change together only across
# transactions; ``ctid`` tells apart the versions one transaction wrote.
_ROW_VERSIONS = {
    f"{name}_version": f"{alias}.xmin::text || {alias}.ctid::text"
    for name, alias in [
        ("key", "api_key"),
        ("organisation", "organisation"),
        ("connection", "connection"),
    ]
}
# Every column as text: see rutterdash.prepared.
_ADMISSION = """
    WITH api_key AS (
        SELECT id, xmin, ctid, secret_hash, organisation_id, environment
        FROM {key_table} WHERE client_id = %(client_id)s::uuid
    ){lease}
    SELECT api_key.id::text, {key_version}, api_key.secret_hash,
        api_key.organisation_id::text, api_key.environment,
        {organisation_version}, connection.id::text, {connection_version},
        books.version::text{leased_columns}
    FROM api_key
    JOIN {organisation_table} organisation
        ON organisation.id = api_key.organisation_id
    LEFT JOIN {connection_table} connection
        ON connection.access_token_hash = %(token_hash)s
        AND connection.organisation_id = api_key.organisation_id
        AND connection.environment = api_key.environment
    LEFT JOIN {books_table} books ON books.connection_id = connection.id
    {lease_join}
"""
# Only the key's owner takes a lease: a wrong secret changes no row.
_LEASING_ROWS = """
    SELECT organisation_id FROM api_key WHERE secret_hash = %(secret_hash)s
"""
# Which organisation each client id belongs to, learnt from earlier
# requests: whether this process holds a leased request for it decides,
# before the statement, whether the statement takes a lease.
_organisation_of = {}


def _admission(client_id, client_secret, token):
    parsed = _client_uuid(client_id)
    secret_hash = crypto.keyed_hash(client_secret)
    if parsed is None:
        hmac.compare_digest(secret_hash, _NO_SECRET_HASH)
        return None

    window = ratelimit.current_window()
    organisation_id = _organisation_of.get(parsed)
    leasing = not ratelimit.leases.holds(organisation_id, window)
    generation = admission_cache.generation()
    row = None if leasing else admission_cache.get(parsed, token, generation)
    kept = row is not None
    if not kept:
        row = _admission_row(parsed, secret_hash, token, window, leasing)

    expected_hash = row[2] if row else _NO_SECRET_HASH
    if not hmac.compare_digest(secret_hash, expected_hash) or row is None:
        return None
    if not kept:
        _organisation_of[parsed] = row[3]
        admission_cache.put(parsed, token, row[:9], generation)
    retry_after = _counted(row, window, leasing)
    if retry_after is _NOT_HELD:
        # Another thread spent the lease this statement counted on.
        row = _admission_row(parsed, secret_hash, token, window, True)
        if row is None:
            return None
        retry_after = _counted(row, window, True)
    return _admission_from(row, retry_after, token)


_NOT_HELD = object()


def _counted(row, window, leased):
    organisation_id = row[3]
    if leased:
        count, granted = int(row[9]), int(row[10])
        return ratelimit.leases.admit(organisation_id, window, count, granted)
    if ratelimit.leases.spend(organisation_id, window):
        return None
    return _NOT_HELD


def _admission_row(client_id, secret_hash, token, window, leasing):
    parameters = {
        "client_id": client_id,
        "secret_hash": secret_hash,
        # A hash no token has, when the request names none.
        "token_hash": crypto.keyed_hash(token) if token else "",
    }
    if leasing:
        parameters.update(ratelimit.lease_parameters(window))
    # The lease is bookkeeping: its commit need not wait for the disk.
    unhurried = leasing and bookkeeping.can_be_unhurried()
    statement = _admission_statement(leasing, unhurried)
    row = _first_row(statement, parameters)
    if row is None:
        return None
    return (int(row[0]), row[1], row[2], int(row[3]), *row[4:])


def _first_row(statement, parameters):
    """Run the request's first statement; once more if its connection died.

    Django's health check (a ``SELECT 1`` before the first query of each
    request) is skipped on the API's path (rutterdash.api): this statement
    is the check.
    """
    db.health_check_done = True
    try:
        return prepared.fetch_one(statement, parameters)
    except (OperationalError, InterfaceError):
        if db.in_atomic_block:
            raise
        log.warning("The API's database connection was lost; reconnecting")
        db.close()
        return prepared.fetch_one(statement, parameters)


@functools.cache
def _admission_statement(leasing, unhurried):
    lease = ""
    if leasing:
        upsert = ratelimit.lease_sql(_LEASING_ROWS)
        lease = f", leased AS ({upsert})"
    if unhurried:
        lease += f", {bookkeeping.UNHURRIED_CTE}"
    join = "LEFT JOIN leased ON true" if leasing else ""
    if unhurried:
        join += " CROSS JOIN unhurried"
    sql = _ADMISSION.format(
        **_ROW_VERSIONS,
        key_table=_table(ApiKey),
        organisation_table=_table(Organisation),
        connection_table=_table(Connection),
        books_table=_table(BooksVersion),
        lease=lease,
        leased_columns=LEASED_COLUMNS if leasing else "",
        lease_join=join,
    )
    return prepared.Statement(sql)


LEASED_COLUMNS = ", leased.count::text, leased.granted::text"


def _admission_from(row, retry_after, token):
    key_id, key_version, _, organisation_id, environment, organisation_version = row[:6]
    connection_id, connection_version, books_version = row[6:9]
    versions = (
        (key_id, key_version),
        (organisation_id, organisation_version),
        (connection_id, connection_version, int(books_version or 0)),
    )
    return Admission(
        key_id,
        organisation_id,
        environment,
        retry_after,
        token,
        connection_id,
        versions,
    )


# Rows kept per row version, to build instances without reading them.


class _KeptRows:
    """Column values of rows this process read, under their row versions."""

    MAX_ROWS = 1024

    def __init__(self):
        self._rows = OrderedDict()
        self._lock = threading.Lock()

    def get(self, model, pk, version):
        with self._lock:
            kept = self._rows.get((model, str(pk)))
        if kept is None or kept[0] != version:
            return None
        return kept[1]

    def put(self, model, pk, version, values):
        key = (model, str(pk))
        with self._lock:
            self._rows[key] = (version, values)
            self._rows.move_to_end(key)
            while len(self._rows) > self.MAX_ROWS:
                self._rows.popitem(last=False)

    def forget_all(self):
        with self._lock:
            self._rows.clear()


kept_rows = _KeptRows()

_ROWS = """
    SELECT {key_columns}, {key_version},
        {organisation_columns}, {organisation_version},
        {connection_columns}, {connection_version}
    FROM {key_table} api_key
    JOIN {organisation_table} organisation
        ON organisation.id = api_key.organisation_id
    LEFT JOIN {connection_table} connection ON connection.id = %(connection_id)s
    WHERE api_key.id = %(key_id)s
"""


def _instances(admission):
    """The admission's key (with its organisation) and connection, or None."""
    (key_id, key_version), (organisation_id, organisation_version), third = (
        admission.versions
    )
    connection_id, connection_version, books_version = third
    wanted = [
        (ApiKey, key_id, key_version),
        (Organisation, organisation_id, organisation_version),
    ]
    if connection_id is not None:
        wanted.append((Connection, connection_id, connection_version))
    values = [kept_rows.get(*entry) for entry in wanted]
    if any(v is None for v in values):
        values = _read_rows(key_id, connection_id)
        if values is None:
            return None, None

    api_key = _instance(ApiKey, values[0])
    api_key.organisation = _instance(Organisation, values[1])
    if connection_id is None or values[2] is None:
        return api_key, None
    connection = _instance(Connection, values[2])
    connection.organisation = api_key.organisation
    # Read in the admission statement, so no change to the books older than
    # what this request reads can hide behind it (see connections.page_cache).
    connection.books_version = books_version
    return api_key, connection


def _read_rows(key_id, connection_id):
    parameters = {"key_id": key_id, "connection_id": connection_id}
    with db.cursor() as cursor:
        cursor.execute(_rows_statement(), parameters)
        row = cursor.fetchone()
    if row is None:
        return None

    values = iter(row)
    read = []
    for model in (ApiKey, Organisation, Connection):
        columns = tuple(next(values) for _ in _attnames(model))
        version = next(values)
        if version is None:
            read.append(None)
            continue
        kept_rows.put(model, columns[_pk_index(model)], version, columns)
        read.append(columns)
    return read


@functools.cache
def _rows_statement():
    return _ROWS.format(
        **_ROW_VERSIONS,
        key_table=_table(ApiKey),
        key_columns=_columns(ApiKey, "api_key"),
        organisation_table=_table(Organisation),
        organisation_columns=_columns(Organisation, "organisation"),
        connection_table=_table(Connection),
        connection_columns=_columns(Connection, "connection"),
    )


def _instance(model, values):
    return model.from_db(db.alias, _attnames(model), values)


@functools.cache
def _pk_index(model):
    return _attnames(model).index(model._meta.pk.attname)


@functools.cache
def _attnames(model):
    return [field.attname for field in model._meta.concrete_fields]


def _columns(model, alias):
    quote = db.ops.quote_name
    return ", ".join(f"{alias}.{quote(f.column)}" for f in model._meta.concrete_fields)


def _table(model):
    return db.ops.quote_name(model._meta.db_table)
