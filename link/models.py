from datetime import timedelta

from django.db import models
from django.utils import timezone

from rutterdash.scoping import ScopedModel

PUBLIC_TOKEN_LIFETIME = timedelta(minutes=30)


def _public_token_expiry():
    return timezone.now() + PUBLIC_TOKEN_LIFETIME


class PublicToken(ScopedModel):
    """The single-use proof that a business finished Link, for the fintech's backend.

    Only a keyed hash is kept; the token itself reaches the fintech's page
    once, through the SDK's onSuccess or a redirect_url.
    """

    token_hash = models.CharField(max_length=64, unique=True)
    connection = models.ForeignKey(
        "connections.Connection", on_delete=models.CASCADE, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_public_token_expiry)
    used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Public token for {self.connection_id}"


class AwaitingLink(models.Model):
    """A connection created through the API that its business has not authorised.

    It has an id and an access token already; it starts syncing once the
    business completes Link at the connection's link_url.
    """

    connection = models.OneToOneField(
        "connections.Connection",
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="awaiting_link",
    )
    created = models.DateTimeField(auto_now_add=True)
