import uuid

from django.db import models

from rutterdash.scoping import ScopedModel


class PayloadVersion(models.TextChoices):
    V2023_03_14 = "2023-03-14", "2023-03-14"
    V2024_08_31 = "2024-08-31", "2024-08-31"


class Destination(ScopedModel):
    """A URL of the organisation's that receives webhook events."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Checked by netguard, not Django's URLValidator, so the form and the API
    # accept the same URLs.
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=200, blank=True)
    # Event types sent here; an empty list means every type.
    event_types = models.JSONField(default=list, blank=True)
    payload_version = models.CharField(
        max_length=16,
        choices=PayloadVersion.choices,
        default=PayloadVersion.V2023_03_14,
    )
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=300, blank=True)
    # Standard Webhooks signing secret ("whsec_..."), and the one it replaced
    # while the rotation overlap lasts.
    secret_encrypted = models.TextField()
    previous_secret_encrypted = models.TextField(blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    # Start of the current run of failed messages; None while deliveries succeed.
    failing_since = models.DateTimeField(null=True, blank=True)
    # After a timeout, refused connection or Retry-After, other messages wait
    # until then instead of each spending a worker's deadline on it.
    paused_until = models.DateTimeField(null=True, blank=True)
    # Health at a glance, kept up to date by every attempt.
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self):
        return self.url


class Event(ScopedModel):
    """Something that happened, written in the transaction that caused it."""

    id = models.CharField(primary_key=True, max_length=40, editable=False)
    type = models.CharField(max_length=64)
    # Not a foreign key: the event outlives a deleted connection.
    connection_id = models.UUIDField(null=True, blank=True, db_index=True)
    # The payload without its access token, which is kept encrypted and put
    # back only into the bytes sent.
    payload = models.JSONField()
    access_token_encrypted = models.TextField(blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    # Strictly increasing within a process, so events recorded in the same
    # instant keep their order; rows from before it was added hold 0.
    sequence = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-created"]
        indexes = [
            models.Index(fields=["organisation", "environment", "type", "-created"]),
        ]

    def __str__(self):
        return f"{self.type} {self.id}"


class MessageStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    RETRYING = "retrying", "Retrying"
    FAILED = "failed", "Failed"


class Message(models.Model):
    """One event on its way to one destination, over as many attempts as it takes."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="messages")
    destination = models.ForeignKey(
        Destination, on_delete=models.CASCADE, related_name="messages"
    )
    status = models.CharField(
        max_length=16, choices=MessageStatus.choices, default=MessageStatus.PENDING
    )
    # Test events are sent once and never retried.
    is_test = models.BooleanField(default=False)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    # Attempts made before the current cycle (a resend starts a new one with
    # the full retry schedule).
    cycle_start = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=300, blank=True)
    # A worker holds the message until then while it sends; a worker that
    # died mid-send lets the lease run out and the message is sent again.
    lease_until = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # What a worker claims: open messages by due time, read in index
            # order so a batch costs the same however long the backlog.
            models.Index(
                fields=["next_attempt_at"],
                condition=models.Q(status__in=["pending", "retrying"]),
                name="webhooks_message_due",
            ),
            # The same per destination: each claim takes turns across them.
            models.Index(
                fields=["destination", "next_attempt_at", "created"],
                condition=models.Q(status__in=["pending", "retrying"]),
                name="webhooks_message_due_in_order",
            ),
            models.Index(fields=["destination", "-created"]),
            models.Index(fields=["destination", "status", "created"]),
        ]

    def __str__(self):
        return f"{self.event_id} → {self.destination_id}"


class Attempt(models.Model):
    """One HTTP request made for a message, and what came back."""

    message = models.ForeignKey(
        Message, on_delete=models.CASCADE, related_name="attempts"
    )
    number = models.PositiveSmallIntegerField()
    started_at = models.DateTimeField()
    duration_ms = models.PositiveIntegerField(default=0)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    request_headers = models.JSONField(default=dict)
    response_headers = models.JSONField(default=dict)
    response_excerpt = models.TextField(blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["number"]
        indexes = [models.Index(fields=["started_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["message", "number"], name="one_attempt_per_number"
            )
        ]

    def __str__(self):
        return f"attempt {self.number} of {self.message_id}"
