from healthsync.models.connection import Connection, EndpointState, PendingAuthorization
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

__all__ = [
    "BloodPressure",
    "Connection",
    "DailyActivity",
    "EndpointState",
    "HealthRecord",
    "NutritionEntry",
    "PendingAuthorization",
    "QuantitySample",
    "SleepSession",
    "SyncRun",
    "Workout",
    "record_models",
]
