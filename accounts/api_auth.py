"""HTTP Basic authentication for the API: client id and secret of an ApiKey.

The key decides both the organisation and the environment, so an
authenticated request carries a ``Scope`` exactly like a dashboard request.
"""

import logging
import uuid

from ninja.security import HttpBasicAuth

from accounts.models import ApiKey
from rutterdash import crypto
from rutterdash.scoping import Scope

log = logging.getLogger(__name__)

# Compared against when the client id is unknown, so that a wrong id costs
# the same hash-and-compare as a wrong secret.
_NO_SECRET_HASH = "0" * 64


class ApiKeyAuth(HttpBasicAuth):
    def authenticate(self, request, client_id, client_secret):
        api_key = api_key_for(client_id, client_secret)
        if api_key is None:
            log.debug("Refused API credentials for %r", client_id[:40])
            return None

        request.api_key = api_key
        request.scope = Scope(api_key.organisation, api_key.environment)
        return api_key


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
