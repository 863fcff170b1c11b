"""A user's link to one partner account: tokens (encrypted), status, sync bookkeeping."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.timezone import now

from healthsync.crypto import EncryptedTextField


class Connection(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Connected"
        REVOKED = "revoked", "Reconnect needed"  # the partner refused our refresh token or the user revoked
        ERROR = "error", "Failing"  # recent syncs failed; still polled, with backoff

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="health_connections")
    provider = models.CharField(max_length=40)
    external_user_id = models.CharField(max_length=200, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    scopes = models.JSONField(default=list, blank=True)  # what the user actually granted
    timezone = models.CharField(max_length=64, default="UTC")  # the user's zone, for local dates

    access_token = EncryptedTextField(blank=True, editable=False)
    refresh_token = EncryptedTextField(blank=True, editable=False)
    token_expires_at = models.DateTimeField(null=True, blank=True)
    token_version = models.PositiveIntegerField(default=0)  # bumps on every token write (compare-and-set)

    sync_epoch = models.PositiveBigIntegerField(default=0)  # fencing token: bumped by each lease holder
    next_sync_at = models.DateTimeField(default=now, db_index=True)
    last_sync_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "provider"], name="healthsync_one_connection_per_provider"),
            models.UniqueConstraint(
                fields=["provider", "external_user_id"],
                condition=~models.Q(external_user_id=""),
                name="healthsync_partner_account_once",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_sync_at"],
                condition=models.Q(status__in=["active", "error"]),
                name="healthsync_due_idx",
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} connection of user {self.user_id} ({self.status})"

    def __repr__(self) -> str:  # never show tokens
        return f"<Connection {self.pk} {self.provider} user={self.user_id} {self.status}>"


class EndpointState(models.Model):
    """Per (connection, endpoint): the cursor, advanced in the same transaction as the data it covers."""

    connection = models.ForeignKey(Connection, on_delete=models.CASCADE, related_name="endpoint_states")
    endpoint = models.CharField(max_length=60)
    cursor = models.CharField(max_length=200, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    record_types = models.JSONField(default=list, blank=True)  # models this feed has produced (for deletions)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "endpoint"], name="healthsync_endpoint_state_once")
        ]

    def __str__(self) -> str:
        return f"{self.connection_id}/{self.endpoint} @ {self.cursor or 'start'}"


class PendingAuthorization(models.Model):
    """An OAuth authorization in flight: its state is single-use and bound to the user who started it."""

    state = models.CharField(max_length=80, unique=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    provider = models.CharField(max_length=40)
    code_verifier = EncryptedTextField(blank=True)
    redirect_uri = models.URLField(max_length=500)
    return_to = models.CharField(max_length=500, blank=True)  # where to send the user afterwards
    session_bound = models.BooleanField(default=True)  # started in a browser session: the callback must match it
    created_at = models.DateTimeField(default=now)
