"""Business rules for accounts, teams, invites and API keys."""

import logging

from django.db import IntegrityError, transaction

from accounts.models import ApiKey
from rutterdash import crypto
from rutterdash.environments import Environment

log = logging.getLogger(__name__)

SECRET_PREFIXES = {Environment.SANDBOX: "sk_test_", Environment.PRODUCTION: "sk_live_"}
PUBLIC_KEY_PREFIXES = {
    Environment.SANDBOX: "pk_test_",
    Environment.PRODUCTION: "pk_live_",
}


def new_secret(environment):
    return crypto.new_token(SECRET_PREFIXES[environment], nbytes=32)


def api_key_create(organisation, environment):
    """Create the organisation's key for one environment.

    Returns the key and its secret, which is shown in full only now.
    """
    secret = new_secret(environment)
    api_key = ApiKey(
        organisation=organisation,
        environment=environment,
        public_key=crypto.new_token(PUBLIC_KEY_PREFIXES[environment]),
    )
    api_key.set_secret(secret)
    api_key.save()
    log.info("Created %s API key for organisation %s", environment, organisation.pk)
    return api_key, secret
