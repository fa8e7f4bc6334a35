"""Link's business rules: who may open it, connecting, and public tokens."""

import logging
from dataclasses import dataclass
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from django.db import transaction
from django.http import Http404
from django.utils import timezone

from accounts.models import ApiKey
from connections import services as connection_services
from connections.models import ENTITIES, Connection, EntitySync
from customize import services as customize_services
from link.models import AwaitingLink, PublicToken
from platforms import catalog
from rutterdash import crypto
from rutterdash.scoping import Scope
from webhooks import events as webhook_events
from webhooks import outbox as webhook_outbox

log = logging.getLogger(__name__)

MAX_URL_LENGTH = 2000


class LinkRefused(ValueError):
    """Link refuses what the business asked; the message is for them to read."""


class PublicTokenRefused(ValueError):
    """A public token that cannot be exchanged; the message says why."""


def scope_for_public_key(public_key):
    """The organisation and environment a public key opens Link for, or None."""
    api_key = ApiKey.objects.select_related("organisation")
    api_key = api_key.filter(public_key=public_key).first()
    if api_key is None:
        return None
    return Scope(api_key.organisation, api_key.environment)


def platform_code(requested):
    """The catalog code for a platform as the SDK spells it ("quickbooks",
    "sagebusinesscloud", "woo_commerce"), or "" when it names none."""
    wanted = requested.upper().replace("_", "")
    for platform in catalog.PLATFORMS:
        if platform.code.replace("_", "") == wanted:
            return platform.code
    return ""


def checked_redirect_url(value):
    """An absolute http(s) URL to send the business back to, or None."""
    if not value or len(value) > MAX_URL_LENGTH:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    if parts.username or parts.password or any(ch.isspace() for ch in value):
        return None
    return value


def origin_of(url):
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.lower()}"


def with_public_token(redirect_url, public_token):
    """``redirect_url`` with ``public_token`` added, its other parameters kept."""
    parts = urlsplit(redirect_url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query = [(name, value) for name, value in query if name != "public_token"]
    query.append(("public_token", public_token))
    return urlunsplit(parts._replace(query=urlencode(query)))


def origin_allowed(scope, origin):
    return customize_services.origin_allowed(scope, origin)


@dataclass(frozen=True)
class PickerEntry:
    platform: catalog.Platform
    available: bool
    reason: str = ""


def picker_entries(scope):
    """The platforms Link lists for this scope, each marked available or not."""
    entries = []
    for state in customize_services.link_platforms(scope):
        reason = _unavailable_reason(scope, state)
        entries.append(PickerEntry(state.platform, not reason, reason))
    return entries


def _unavailable_reason(scope, state):
    return "" if state.available else "Not available"


def pickable(scope, code):
    """The platform if Link may connect it for this scope, else None."""
    for entry in picker_entries(scope):
        if entry.platform.code == code:
            return entry.platform if entry.available else None
    return None


def connection_await_link(scope, code=""):
    """A connection for the business to authorise at its link_url.

    It has its id and access token now and starts syncing once authorised.
    """
    token = connection_services.new_access_token(scope.environment)
    connection = scope.stamp(Connection(platform=code))
    connection.set_access_token(token)

    with transaction.atomic():
        connection.save()
        EntitySync.objects.bulk_create(
            EntitySync(connection=connection, entity=entity) for entity in ENTITIES
        )
        AwaitingLink.objects.create(connection=connection)
    log.info(
        "Connection %s awaits authorisation through Link (organisation %s)",
        connection.id,
        scope.organisation.pk,
    )
    return connection, token


def awaiting_link(connection):
    return AwaitingLink.objects.filter(connection=connection).exists()


def link_complete(scope, code, store_name, existing_id=None, on_connected=None):
    """Connect the business (or authorise an existing connection again).

    Returns the connection and a fresh public token for it.
    """
    with transaction.atomic():
        if existing_id:
            connection = _authorise_existing(scope, existing_id, code, store_name)
        else:
            connection, _ = connection_services.connection_create(
                scope, code, store_name
            )
        if on_connected is not None:
            on_connected(connection)
        public_token = public_token_issue(connection)
    return connection, public_token


def _authorise_existing(scope, connection_id, code, store_name):
    connections = scope.all(Connection).select_for_update()
    try:
        connection = connections.get(pk=connection_id)
    except Connection.DoesNotExist:
        raise Http404("This connection no longer exists.") from None

    awaiting = AwaitingLink.objects.filter(connection=connection)
    if awaiting.exists():
        _first_authorisation(connection, code, store_name)
        awaiting.delete()
        return connection

    connection.needs_reauth = False
    connection.needs_reauth_reason = ""
    connection.save(update_fields=["needs_reauth", "needs_reauth_reason", "updated"])
    updated = webhook_events.connection_updated(connection)
    webhook_outbox.record_for_connection(connection, updated)
    log.info("Connection %s re-authorised through Link", connection.id)
    return connection


def _first_authorisation(connection, code, store_name):
    platform = catalog.get(code)
    connection.platform = platform.code
    connection_services.name_store(connection, platform, store_name)
    connection.save()
    transaction.on_commit(lambda: connection_services.enqueue_sync(connection))
    log.info(
        "Connection %s authorised through Link for %s", connection.id, platform.code
    )


def public_token_issue(connection):
    environment = connection.environment
    token = crypto.new_token(f"public-{environment}-")
    PublicToken.objects.create(
        organisation_id=connection.organisation_id,
        environment=environment,
        connection=connection,
        token_hash=crypto.keyed_hash(token),
    )
    return token


def public_token_exchange(scope, token):
    """The connection a public token was issued for, claiming the token.

    The claim is one conditional UPDATE, so of two concurrent exchanges of
    the same token exactly one succeeds.
    """
    now = timezone.now()
    tokens = scope.all(PublicToken).filter(token_hash=crypto.keyed_hash(token or ""))
    claimed = tokens.filter(used_at=None, expires_at__gt=now).update(used_at=now)
    if not claimed:
        raise PublicTokenRefused(_refusal(tokens.first()))

    exchanged = tokens.select_related("connection").get()
    log.info("Public token exchanged for connection %s", exchanged.connection_id)
    return exchanged.connection


def _refusal(token):
    if token is None:
        return "The public_token is not valid for this API key."
    if token.used_at is not None:
        return "The public_token has already been exchanged; it works once."
    return "The public_token has expired; public tokens last 30 minutes."


# The sandbox's documented test credentials (README, and the sign-in page).
SANDBOX_PASSWORD = "pass_good"
SANDBOX_CONNECTS = "user_good"
SANDBOX_NEEDS_REAUTH = "user_reauth"
REAUTH_REASON = "The sandbox user_reauth login asks to be authorised again."
BAD_CREDENTIALS = (
    "The username or password is incorrect. In the sandbox, sign in as "
    "user_good with the password pass_good."
)


def sandbox_sign_in(username, password):
    """Whether the sandbox accepts these credentials, and what follows.

    Returns True when the connection should at once need re-authorisation
    (user_reauth), False for an ordinary connection; refuses the rest.
    """
    known = username in (SANDBOX_CONNECTS, SANDBOX_NEEDS_REAUTH)
    if not known or password != SANDBOX_PASSWORD:
        raise LinkRefused(BAD_CREDENTIALS)
    return username == SANDBOX_NEEDS_REAUTH
