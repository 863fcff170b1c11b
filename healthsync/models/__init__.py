from healthsync.models.connection import Connection, EndpointState, PendingAuthorization
from healthsync.models.polling import PartnerPolicyState, PollingState
from healthsync.models.records import (
    BloodPressure,
    DailyActivity,
    HealthRecord,
    NutritionEntry,
    QuantitySample,
    SleepSession,
    Workout,
    record_models,
)
from healthsync.models.runs import SyncRun
from healthsync.models.webhooks import PushObservation, WebhookEvent, WebhookSubscription

__all__ = [
    "BloodPressure",
    "Connection",
    "DailyActivity",
    "EndpointState",
    "HealthRecord",
    "NutritionEntry",
    "PartnerPolicyState",
    "PendingAuthorization",
    "PushObservation",
    "PollingState",
    "QuantitySample",
    "SleepSession",
    "SyncRun",
    "WebhookEvent",
    "WebhookSubscription",
    "Workout",
    "record_models",
]
