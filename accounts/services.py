"""Business rules for accounts, teams, invites and API keys."""

import logging

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import ApiKey, Invite, Membership, Organisation, Role, User
from rutterdash import crypto
from rutterdash.environments import Environment

log = logging.getLogger(__name__)

SECRET_PREFIXES = {
    Environment.SANDBOX: "sk_test_",
    Environment.PRODUCTION: "sk_live_",
}
PUBLIC_KEY_PREFIXES = {
    Environment.SANDBOX: "pk_test_",
    Environment.PRODUCTION: "pk_live_",
}
SECRET_FIELDS = ["secret_hash", "secret_encrypted", "secret_hint"]
INVITE_PREFIX = "inv_"


class EmailTaken(ValueError):
    """Another account already signs in with this email address."""


class InviteUnavailable(ValueError):
    """The invite link is unknown, used, revoked or expired."""

    def __init__(self, state):
        super().__init__(f"This invite link is {state}.")
        self.state = state


class TeamRuleBroken(ValueError):
    """The change would leave the organisation without an admin."""


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
    log.info(
        "Created %s API key for organisation %s", environment, organisation.pk
    )
    return api_key, secret


def api_key_for(scope):
    """The key of a scope, created if missing; the secret is None unless new."""
    api_key = scope.all(ApiKey).first()
    if api_key is not None:
        return api_key, None

    try:
        with transaction.atomic():
            return api_key_create(scope.organisation, scope.environment)
    except IntegrityError:
        # Another request created it a moment ago; theirs is the one to show.
        return scope.all(ApiKey).get(), None


def api_key_rotate_secret(api_key):
    """Replace the secret; requests signed with the old one stop working."""
    secret = new_secret(api_key.environment)
    api_key.set_secret(secret)
    api_key.save(update_fields=SECRET_FIELDS)
    log.info("Rotated API secret for key %s", api_key.client_id)
    return secret


def user_create(name, email, password):
    try:
        with transaction.atomic():
            return User.objects.create_user(email, password, name=name)
    except IntegrityError:
        raise EmailTaken(email) from None


def email_taken(email):
    return User.objects.filter(email__iexact=email).exists()


@transaction.atomic
def sign_up(name, email, password, organisation_name):
    """Create a person, their organisation and its API keys.

    Returns the user and the new secrets by environment, to be shown once.
    """
    user = user_create(name, email, password)
    secrets = organisation_create(user, organisation_name)
    return user, secrets


@transaction.atomic
def organisation_create(user, name):
    """A new organisation with `user` as its admin, and its API keys.

    Returns the new secrets by environment, to be shown once.
    """
    organisation = Organisation.objects.create(name=name)
    Membership.objects.create(user=user, organisation=organisation, role=Role.ADMIN)

    secrets = {}
    for environment in Environment.values:
        _key, secrets[environment] = api_key_create(organisation, environment)
    log.info("User %s created organisation %s", user.pk, organisation.pk)
    return secrets


def _sign_in_failures_key(email):
    return f"sign-in-failures:{crypto.keyed_hash(email.strip().lower())}"


def sign_in_locked(email):
    """Whether this email has failed to sign in too often just now."""
    failures = cache.get(_sign_in_failures_key(email), 0)
    return failures >= settings.SIGN_IN_MAX_FAILURES


def sign_in_failed(email):
    key = _sign_in_failures_key(email)
    window = settings.SIGN_IN_LOCKOUT_SECONDS
    if not cache.add(key, 1, window):
        failures = cache.incr(key)
        if failures == settings.SIGN_IN_MAX_FAILURES:
            log.warning("Sign-in locked for %s seconds after failures", window)


def sign_in_succeeded(email):
    cache.delete(_sign_in_failures_key(email))


def invite_create(organisation, role, created_by):
    """Returns the invite and its token; only the token's hash is kept."""
    token = crypto.new_token(INVITE_PREFIX)
    invite = Invite.objects.create(
        organisation=organisation,
        role=role,
        created_by=created_by,
        token_hash=crypto.keyed_hash(token),
    )
    log.info("User %s created invite %s", created_by.pk, invite.public_id)
    return invite, token


def invite_revoke(invite):
    """Revoke a pending invite; one already used or expired stays as it is."""
    revoked = Invite.objects.pending().filter(pk=invite.pk)
    return revoked.update(revoked_at=timezone.now()) == 1


def invite_find(token):
    """The invite a link's token points at, or None."""
    return (
        Invite.objects.select_related("organisation")
        .filter(token_hash=crypto.keyed_hash(token))
        .first()
    )


def invite_accept(token, user):
    """Add the user to the invite's organisation, once per invite.

    The row lock makes a second, concurrent accept wait and then see the
    invite as used.
    """
    with transaction.atomic():
        invite = _locked_invite(token)
        if user.memberships.exists():
            raise TeamRuleBroken("You already belong to an organisation.")
        membership = Membership.objects.create(
            user=user, organisation=invite.organisation, role=invite.role
        )
        invite.accepted_at = timezone.now()
        invite.accepted_by = user
        invite.save(update_fields=["accepted_at", "accepted_by"])
    log.info("User %s joined organisation %s", user.pk, invite.organisation_id)
    return membership


@transaction.atomic
def invite_sign_up(token, name, email, password):
    """Create an account and join with the invite, or neither."""
    user = user_create(name, email, password)
    invite_accept(token, user)
    return user


def _locked_invite(token):
    invite = (
        Invite.objects.select_for_update()
        .select_related("organisation")
        .filter(token_hash=crypto.keyed_hash(token))
        .first()
    )
    if invite is None:
        raise InviteUnavailable("unknown")
    if invite.state != "pending":
        raise InviteUnavailable(invite.state)
    return invite


def member_remove(membership):
    """Remove someone from their team, keeping at least one admin."""
    with transaction.atomic():
        admins = _locked_admins(membership.organisation_id)
        if membership.is_admin and len(admins) <= 1:
            raise TeamRuleBroken(
                "The last admin cannot be removed. Invite another admin first."
            )
        membership.delete()
    log.info(
        "Removed user %s from organisation %s",
        membership.user_id,
        membership.organisation_id,
    )


def _locked_admins(organisation_id):
    # Locking every admin row stops two admins removing each other at once.
    admins = Membership.objects.select_for_update().filter(
        organisation_id=organisation_id, role=Role.ADMIN
    )
    return list(admins.order_by("pk").values_list("pk", flat=True))
