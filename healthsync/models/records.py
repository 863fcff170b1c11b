"""The normalized health data model.

Canonical units: kilograms, metres, seconds, kilocalories, millilitres, mmol/L, mmHg, beats per minute,
percent. Instants are timezone-aware UTC; ``local_date`` is the user's calendar day where a value is per day.
Each row is keyed on the partner's natural key ``(user, provider, external_id)``, so syncing again is a no-op.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models


class HealthRecord(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    connection = models.ForeignKey(
        "healthsync.Connection", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    provider = models.CharField(max_length=40)
    endpoint = models.CharField(max_length=60)
    external_id = models.CharField(max_length=200)
    start = models.DateTimeField()
    end = models.DateTimeField(null=True, blank=True)
    local_date = models.DateField(null=True, blank=True)
    synced_at = models.DateTimeField(auto_now=True)

    #: fields that say who and where a record came from, not what it says; excluded from change detection
    BOOKKEEPING = frozenset({"id", "user", "connection", "provider", "endpoint", "external_id", "synced_at"})

    class Meta:
        abstract = True
        ordering = ["-start"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "provider", "external_id"], name="%(app_label)s_%(class)s_natural_key"
            )
        ]
        indexes = [models.Index(fields=["user", "start"], name="hs_%(class)s_start")]

    @classmethod
    def payload_fields(cls) -> list[str]:
        return [f.attname for f in cls._meta.concrete_fields if f.name not in cls.BOOKKEEPING]

    def payload(self) -> tuple:
        return tuple(getattr(self, name) for name in self.payload_fields())

    def __str__(self) -> str:
        return f"{self._meta.verbose_name} {self.provider}:{self.external_id}"


class DailyActivity(HealthRecord):
    """One row per user, partner and local day; grows during the day as the device syncs."""

    steps = models.PositiveIntegerField(null=True, blank=True)
    active_energy_kcal = models.FloatField(null=True, blank=True)
    total_energy_kcal = models.FloatField(null=True, blank=True)
    distance_m = models.FloatField(null=True, blank=True)

    class Meta(HealthRecord.Meta):
        verbose_name_plural = "daily activity"


class Workout(HealthRecord):
    class Sport(models.TextChoices):
        RUNNING = "running"
        CYCLING = "cycling"
        WALKING = "walking"
        HIKING = "hiking"
        SWIMMING = "swimming"
        STRENGTH = "strength"
        YOGA = "yoga"
        ROWING = "rowing"
        SKIING = "skiing"
        TEAM_SPORT = "team_sport"
        OTHER = "other"

    sport = models.CharField(max_length=20, choices=Sport.choices)
    sport_raw = models.CharField(max_length=60, blank=True)  # the partner's own name, kept when we map to OTHER
    name = models.CharField(max_length=200, blank=True)
    duration_s = models.FloatField(null=True, blank=True)
    distance_m = models.FloatField(null=True, blank=True)
    energy_kcal = models.FloatField(null=True, blank=True)
    avg_heart_rate = models.FloatField(null=True, blank=True)
    max_heart_rate = models.FloatField(null=True, blank=True)


class QuantitySample(HealthRecord):
    """A single measured value; ``kind`` fixes its unit."""

    class Kind(models.TextChoices):
        WEIGHT = "weight", "Body weight (kg)"
        BODY_FAT = "body_fat", "Body fat (%)"
        RESTING_HEART_RATE = "resting_heart_rate", "Resting heart rate (bpm)"
        HEART_RATE = "heart_rate", "Heart rate (bpm)"
        BLOOD_GLUCOSE = "blood_glucose", "Blood glucose (mmol/L)"
        HYDRATION = "hydration", "Water intake (mL)"

    kind = models.CharField(max_length=24, choices=Kind.choices)
    value = models.FloatField()

    class Meta(HealthRecord.Meta):
        indexes = [
            *HealthRecord.Meta.indexes,
            models.Index(fields=["user", "kind", "start"], name="hs_sample_kind_start"),
        ]


class BloodPressure(HealthRecord):
    systolic_mmhg = models.FloatField()
    diastolic_mmhg = models.FloatField()
    pulse_bpm = models.FloatField(null=True, blank=True)


class SleepSession(HealthRecord):
    asleep_s = models.FloatField(null=True, blank=True)
    deep_s = models.FloatField(null=True, blank=True)
    light_s = models.FloatField(null=True, blank=True)
    rem_s = models.FloatField(null=True, blank=True)
    awake_s = models.FloatField(null=True, blank=True)
    avg_heart_rate = models.FloatField(null=True, blank=True)


class NutritionEntry(HealthRecord):
    name = models.CharField(max_length=200, blank=True)
    meal = models.CharField(max_length=20, blank=True)
    energy_kcal = models.FloatField(null=True, blank=True)
    protein_g = models.FloatField(null=True, blank=True)
    carbohydrate_g = models.FloatField(null=True, blank=True)
    fat_g = models.FloatField(null=True, blank=True)

    class Meta(HealthRecord.Meta):
        verbose_name_plural = "nutrition entries"


def record_models() -> dict[str, type[HealthRecord]]:
    """The record types by their API name."""
    return {
        "daily_activity": DailyActivity,
        "workouts": Workout,
        "samples": QuantitySample,
        "blood_pressure": BloodPressure,
        "sleep": SleepSession,
        "nutrition": NutritionEntry,
    }
