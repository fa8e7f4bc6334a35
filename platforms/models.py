from django.db import models

from platforms import catalog
from rutterdash import crypto
from rutterdash.scoping import ScopedModel


class PlatformSetting(ScopedModel):
    """One platform's switch and developer credentials for a scope.

    A platform without a row is enabled with no credentials: sandbox needs
    none, and production flags the missing ones where the platform signs in
    through the customer's own developer app.
    """

    platform = models.CharField(max_length=32, choices=catalog.choices())
    enabled = models.BooleanField(default=True)
    client_id = models.CharField(max_length=300, blank=True)
    client_secret_encrypted = models.TextField(blank=True)
    client_secret_hint = models.CharField(max_length=16, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "environment", "platform"],
                name="one_setting_per_platform",
            )
        ]

    def __str__(self):
        return f"{self.platform} ({self.environment})"

    def set_client_secret(self, secret):
        self.client_secret_encrypted = crypto.encrypt(secret) if secret else ""
        self.client_secret_hint = f"…{secret[-4:]}" if len(secret) >= 12 else ""

    def client_secret(self):
        if not self.client_secret_encrypted:
            return ""
        return crypto.decrypt(self.client_secret_encrypted)

    @property
    def has_credentials(self):
        return bool(self.client_id and self.client_secret_encrypted)


class PlatformGrant(models.Model):
    """The OAuth tokens a business granted for one production connection.

    Both tokens are kept encrypted: the access token is sent to the platform
    on every read, and the refresh token renews it.
    """

    connection = models.OneToOneField(
        "connections.Connection", on_delete=models.CASCADE, related_name="grant"
    )
    access_token_encrypted = models.TextField()
    access_token_expires_at = models.DateTimeField(null=True, blank=True)
    refresh_token_encrypted = models.TextField(blank=True)
    refresh_token_expires_at = models.DateTimeField(null=True, blank=True)
    scopes = models.CharField(max_length=1000, blank=True)
    tenant_id = models.CharField(max_length=200, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    refreshed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self):
        return f"Grant for connection {self.connection_id}"

    def set_tokens(self, access_token, refresh_token):
        self.access_token_encrypted = crypto.encrypt(access_token)
        self.refresh_token_encrypted = (
            crypto.encrypt(refresh_token) if refresh_token else ""
        )

    def access_token(self):
        return crypto.decrypt(self.access_token_encrypted)

    def refresh_token(self):
        if not self.refresh_token_encrypted:
            return ""
        return crypto.decrypt(self.refresh_token_encrypted)
