"""One row per sync attempt: the audit trail operators and tests read."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class SyncRun(models.Model):
    class Outcome(models.TextChoices):
        RUNNING = "running"
        SUCCESS = "success"
        PARTIAL = "partial"  # some endpoints failed, the others were stored
        FAILED = "failed"
        REVOKED = "revoked"  # the partner refused our tokens
        LEASE_LOST = "lease_lost"  # another worker took over; nothing of ours was committed after that

    class Trigger(models.TextChoices):
        SCHEDULED = "scheduled"
        CLIENT = "client"
        WEBHOOK = "webhook"
        MANUAL = "manual"
        CONNECT = "connect"

    connection = models.ForeignKey("healthsync.Connection", on_delete=models.CASCADE, related_name="runs")
    trigger = models.CharField(max_length=16, choices=Trigger.choices, default=Trigger.SCHEDULED)
    outcome = models.CharField(max_length=16, choices=Outcome.choices, default=Outcome.RUNNING)
    epoch = models.PositiveBigIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    records_new = models.PositiveIntegerField(default=0)
    records_changed = models.PositiveIntegerField(default=0)
    records_unchanged = models.PositiveIntegerField(default=0)
    records_deleted = models.PositiveIntegerField(default=0)
    records_skipped = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    details = models.JSONField(default=dict, blank=True)  # per endpoint: counts, skip reasons, errors

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"run {self.pk} of connection {self.connection_id}: {self.outcome}"

    @property
    def found_new_data(self) -> bool:
        return bool(self.records_new or self.records_changed or self.records_deleted)
