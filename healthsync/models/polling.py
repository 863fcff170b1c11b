"""Polling policy state that survives restarts: one row per connection, one row per partner.

The next due time itself is ``Connection.next_sync_at`` (indexed, claimed by the scheduler tick); these rows
hold what the policy learned: the connection's rate estimate, planned poll rate, group and priority, and the
partner-wide shadow price, hour-of-week shape and clusters.
"""

from __future__ import annotations

from django.db import models


class PollingState(models.Model):
    connection = models.OneToOneField(
        "healthsync.Connection", on_delete=models.CASCADE, primary_key=True, related_name="polling_state"
    )
    provider = models.CharField(max_length=40)
    policy = models.CharField(max_length=40, blank=True)  # the policy that last wrote the row
    rate = models.FloatField(null=True, blank=True)  # events/day the policy plans with (incl. exploration)
    poll_rate = models.FloatField(null=True, blank=True)  # planned polls/day
    interval_seconds = models.FloatField(null=True, blank=True)  # the current interval (fixed, groups, Nutch)
    group = models.SmallIntegerField(null=True, blank=True)  # the thesis policy's cluster
    priority = models.FloatField(default=0.0)  # claim order among due connections, highest first
    events = models.FloatField(default=0.0)  # Gamma-Poisson pseudo-counts with forgetting (slow estimator)
    exposure_days = models.FloatField(default=0.0)
    fast_events = models.FloatField(default=0.0)  # the fast estimator (notices a returning user)
    fast_exposure_days = models.FloatField(default=0.0)
    polls = models.PositiveIntegerField(default=0)
    hits = models.PositiveIntegerField(default=0)  # polls that found new data
    last_poll_at = models.DateTimeField(null=True, blank=True)
    last_data_at = models.DateTimeField(null=True, blank=True)
    backoff_until = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        indexes = [
            models.Index(fields=["provider", "group"], name="healthsync_poll_group_idx"),
            models.Index(fields=["provider", "rate"], name="healthsync_poll_rate_idx"),
        ]

    def __str__(self) -> str:
        return f"polling state of connection {self.connection_id}: {self.rate or 0:.2f}/day, group {self.group}"


class PartnerPolicyState(models.Model):
    """Partner-wide policy state: shadow price, hour-of-week shape, group centres, webhook miss rate."""

    provider = models.CharField(max_length=40)
    policy = models.CharField(max_length=40)
    shared = models.JSONField(default=dict, blank=True)
    controlled_at = models.DateTimeField(null=True, blank=True)  # the last controller step
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["provider", "policy"], name="healthsync_partner_policy_once")
        ]

    def __str__(self) -> str:
        return f"{self.policy} state for {self.provider}"
