"""HTTP Basic authentication for the API: client id and secret of an ApiKey.

The key decides both the organisation and the environment, so an
authenticated request carries a ``Scope`` exactly like a dashboard request.
The API layer resolves the key once, before rate limiting and idempotency
need it (``identify``); the endpoint's auth then reuses that result.
"""

import logging
import uuid

from ninja.security import HttpBasicAuth
from ninja.security.http import DecodeError

from accounts.models import ApiKey
from rutterdash import crypto
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

        request.api_key = api_key
        request.scope = Scope(api_key.organisation, api_key.environment)
        return api_key


def identify(request):
    """Set ``request.api_key`` and ``request.scope`` if the credentials fit."""
    request.api_key = None
    credentials = _basic_credentials(request.headers.get("Authorization"))
    if credentials is None:
        return None
    return ApiKeyAuth().authenticate(request, *credentials)


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
    try:
        parsed = uuid.UUID(client_id)
    except ValueError:
        return None
    keys = ApiKey.objects.select_related("organisation")
    return keys.filter(client_id=parsed).first()
