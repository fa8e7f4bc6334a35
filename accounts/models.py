import uuid
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import (
    AbstractBaseUser,
    BaseUserManager,
    PermissionsMixin,
)
from django.db import models
from django.utils import timezone

from rutterdash import crypto
from rutterdash.environments import Environment
from rutterdash.scoping import ScopedModel


class UserManager(BaseUserManager):
    use_in_migrations = True

    def create_user(self, email, password=None, **fields):
        if not email:
            raise ValueError("Users need an email address")
        user = self.model(email=self.normalize_email(email).lower(), **fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email, password=None, **fields):
        fields.update(is_staff=True, is_superuser=True)
        return self.create_user(email, password, **fields)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    email = models.EmailField(unique=True)
    name = models.CharField(max_length=150, blank=True)
    is_active = models.BooleanField(default=True)
    is_staff = models.BooleanField(default=False)
    date_joined = models.DateTimeField(default=timezone.now)

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"

    def __str__(self):
        return self.email

    def get_full_name(self):
        return self.name or self.email

    def get_short_name(self):
        return self.name or self.email


class Organisation(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=120)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return self.name


class Role(models.TextChoices):
    ADMIN = "admin", "Admin"
    DEVELOPER = "developer", "Developer"


class Membership(models.Model):
    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    joined = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organisation"], name="one_membership_per_org"
            )
        ]

    @property
    def is_admin(self):
        return self.role == Role.ADMIN


class InviteQuerySet(models.QuerySet):
    def pending(self):
        return self.filter(
            accepted_at=None, revoked_at=None, expires_at__gt=timezone.now()
        )


def _invite_expiry():
    return timezone.now() + timedelta(days=settings.INVITE_VALID_DAYS)


class Invite(models.Model):
    """A single-use link that lets a new person join an organisation."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, related_name="invites"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.DEVELOPER)
    token_hash = models.CharField(max_length=64, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(default=_invite_expiry)
    accepted_at = models.DateTimeField(null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = InviteQuerySet.as_manager()

    @property
    def state(self):
        if self.accepted_at:
            return "used"
        if self.revoked_at:
            return "revoked"
        if self.expires_at <= timezone.now():
            return "expired"
        return "pending"


class ApiKey(ScopedModel):
    """An organisation's credentials for one environment.

    The secret is kept twice: a keyed hash to check requests against, and an
    encrypted copy because webhook signatures are keyed with it.
    """

    client_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    secret_hash = models.CharField(max_length=64)
    secret_encrypted = models.TextField()
    secret_hint = models.CharField(max_length=16)
    public_key = models.CharField(max_length=64, unique=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "environment"], name="one_key_per_environment"
            )
        ]

    def set_secret(self, secret):
        self.secret_hash = crypto.keyed_hash(secret)
        self.secret_encrypted = crypto.encrypt(secret)
        self.secret_hint = secret[:12]

    def secret(self):
        return crypto.decrypt(self.secret_encrypted)

    def check_secret(self, secret):
        return crypto.hashes_match(secret, self.secret_hash)

    @property
    def is_sandbox(self):
        return self.environment == Environment.SANDBOX


class ApiRequest(models.Model):
    """One request to the API, for the dashboard's request log.

    Bodies are never kept: they carry customers' books and secrets.
    """

    organisation = models.ForeignKey(
        Organisation, on_delete=models.CASCADE, null=True, related_name="+"
    )
    environment = models.CharField(
        max_length=16, choices=Environment.choices, blank=True
    )
    api_key = models.ForeignKey(
        ApiKey, on_delete=models.SET_NULL, null=True, related_name="+"
    )
    connection = models.ForeignKey(
        "connections.Connection",
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    request_id = models.UUIDField(unique=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=512)
    status = models.PositiveSmallIntegerField()
    duration_ms = models.PositiveIntegerField()
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        indexes = [
            models.Index(
                fields=["organisation", "environment", "-created"],
                name="api_request_listing",
            )
        ]


class IdempotencyKey(ScopedModel):
    """The first accepted response to a write sent with an Idempotency-Key.

    A row without a status is a claim: its request is still running.
    """

    key = models.CharField(max_length=255)
    request_hash = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(null=True)
    body = models.BinaryField(default=b"")
    content_type = models.CharField(max_length=100, blank=True)
    job_id = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "environment", "key"],
                name="one_response_per_idempotency_key",
            )
        ]


class RateLimitWindow(models.Model):
    """How many API requests an organisation was handed in its current window.

    ``count`` includes requests leased to workers and not yet used;
    ``granted`` is the size of the last lease (see rutterdash.ratelimit).
    """

    organisation = models.OneToOneField(
        Organisation, on_delete=models.CASCADE, related_name="+"
    )
    window = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)
    granted = models.PositiveIntegerField(default=0)
