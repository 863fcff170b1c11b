"""Admin for every healthsync model, with filters and search operators use. Tokens are never shown.

Token-bearing fields (every ``EncryptedTextField``: access and refresh tokens, PKCE verifiers) and OAuth states
are excluded from every form, list and search, not even shown read-only. Synced records and sync runs are
read-only: they are the partner's truth and the audit trail. Any model added to the app later is registered
with the same guarantees (see the end of this module).
"""

from __future__ import annotations

import datetime as dt
import json

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from healthsync.crypto import EncryptedTextField
from healthsync.models import (
    BloodPressure,
    Connection,
    DailyActivity,
    EndpointState,
    NutritionEntry,
    PendingAuthorization,
    QuantitySample,
    SleepSession,
    SyncRun,
    Workout,
    record_models,
)

#: never in a form, a list, a filter or a search, whatever the model
SECRET_NAMES = ("token", "secret", "verifier", "password")


def secret_fields(model) -> list[str]:  # noqa: ANN001
    return [
        f.name for f in model._meta.concrete_fields
        if isinstance(f, EncryptedTextField) or any(word in f.name for word in SECRET_NAMES)
        and f.name not in ("token_expires_at", "token_version")
    ]


class NoSecretsMixin:
    """Drops secret fields from forms, read-only views, lists and searches, even if a subclass names them."""

    def get_exclude(self, request: HttpRequest, obj=None):  # noqa: ANN001, ANN201
        return [*(super().get_exclude(request, obj) or []), *secret_fields(self.model)]

    def get_readonly_fields(self, request: HttpRequest, obj=None):  # noqa: ANN001, ANN201
        hidden = set(secret_fields(self.model))
        return [f for f in super().get_readonly_fields(request, obj) if f not in hidden]

    def get_list_display(self, request: HttpRequest):  # noqa: ANN201
        hidden = set(secret_fields(self.model))
        return [f for f in super().get_list_display(request) if f not in hidden]

    def get_search_fields(self, request: HttpRequest):  # noqa: ANN201
        hidden = set(secret_fields(self.model))
        return [f for f in super().get_search_fields(request) if f.lstrip("^=@").split("__")[0] not in hidden]


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


# --- filters ----------------------------------------------------------------------------------------------------


class HasErrorFilter(admin.SimpleListFilter):
    title = "last error"
    parameter_name = "has_error"

    def lookups(self, request, model_admin):  # noqa: ANN001, ANN201
        return [("yes", "has an error"), ("no", "no error")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:  # noqa: ANN001
        field = "error" if queryset.model is SyncRun else "last_error"
        if self.value() == "yes":
            return queryset.exclude(**{field: ""})
        if self.value() == "no":
            return queryset.filter(**{field: ""})
        return queryset


class TokenExpiryFilter(admin.SimpleListFilter):
    title = "access token"
    parameter_name = "token"

    def lookups(self, request, model_admin):  # noqa: ANN001, ANN201
        return [("expired", "expired"), ("soon", "expires within an hour"), ("valid", "valid for an hour or more")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:  # noqa: ANN001
        now = timezone.now()
        hour = now + dt.timedelta(hours=1)
        if self.value() == "expired":
            return queryset.filter(token_expires_at__lte=now)
        if self.value() == "soon":
            return queryset.filter(token_expires_at__gt=now, token_expires_at__lte=hour)
        if self.value() == "valid":
            return queryset.filter(Q(token_expires_at__gt=hour) | Q(token_expires_at__isnull=True))
        return queryset


class DueFilter(admin.SimpleListFilter):
    title = "schedule"
    parameter_name = "due"

    def lookups(self, request, model_admin):  # noqa: ANN001, ANN201
        return [("overdue", "due now"), ("hour", "due within an hour"), ("later", "due later")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:  # noqa: ANN001
        now = timezone.now()
        if self.value() == "overdue":
            return queryset.filter(next_sync_at__lte=now)
        if self.value() == "hour":
            return queryset.filter(next_sync_at__gt=now, next_sync_at__lte=now + dt.timedelta(hours=1))
        if self.value() == "later":
            return queryset.filter(next_sync_at__gt=now + dt.timedelta(hours=1))
        return queryset


class FoundDataFilter(admin.SimpleListFilter):
    title = "found new data"
    parameter_name = "found"

    def lookups(self, request, model_admin):  # noqa: ANN001, ANN201
        return [("yes", "yes"), ("no", "no")]

    def queryset(self, request, queryset: QuerySet) -> QuerySet:  # noqa: ANN001
        found = Q(records_new__gt=0) | Q(records_changed__gt=0) | Q(records_deleted__gt=0)
        if self.value() == "yes":
            return queryset.filter(found)
        if self.value() == "no":
            return queryset.exclude(found)
        return queryset


# --- connections ------------------------------------------------------------------------------------------------


class EndpointStateInline(NoSecretsMixin, admin.TabularInline):
    model = EndpointState
    extra = 0
    fields = readonly_fields = ["endpoint", "cursor", "last_success_at", "last_error", "record_types"]
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:  # noqa: ANN001
        return False


@admin.register(Connection)
class ConnectionAdmin(NoSecretsMixin, admin.ModelAdmin):
    list_display = ["id", "user", "provider", "status_badge", "last_success_at", "next_sync_at",
                    "consecutive_failures", "runs_link"]
    list_filter = ["provider", "status", HasErrorFilter, DueFilter, TokenExpiryFilter, "created_at"]
    search_fields = ["user__username", "user__email", "external_user_id", "last_error"]
    list_select_related = ["user"]
    date_hierarchy = "created_at"
    exclude = ["access_token", "refresh_token"]
    readonly_fields = ["user", "provider", "external_user_id", "scopes", "token_expires_at", "token_version",
                       "sync_epoch", "last_sync_at", "last_success_at", "last_error", "consecutive_failures",
                       "created_at", "updated_at"]
    inlines = [EndpointStateInline]
    actions = ["sync_soon", "make_due_now"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # connections are made by the user's OAuth consent, never typed in

    @admin.display(description="status", ordering="status")
    def status_badge(self, obj: Connection) -> str:
        colour = {"active": "#1f8a4c", "error": "#b7791f", "revoked": "#c53030"}.get(obj.status, "#333")
        return format_html('<b style="color:{}">{}</b>', colour, obj.get_status_display())

    @admin.display(description="runs")
    def runs_link(self, obj: Connection) -> str:
        url = reverse("admin:healthsync_syncrun_changelist") + f"?connection__id__exact={obj.pk}"
        return format_html('<a href="{}">runs</a>', url)

    @admin.action(description="Sync the selected connections soon (on the configured executor)")
    def sync_soon(self, request: HttpRequest, queryset: QuerySet) -> None:
        from healthsync.scheduling import dispatch

        count = 0
        for connection in queryset.exclude(status=Connection.Status.REVOKED):
            dispatch.enqueue(connection, SyncRun.Trigger.MANUAL)
            count += 1
        self.message_user(request, f"{count} connection(s) queued for a sync.", messages.SUCCESS)

    @admin.action(description="Make the selected connections due now (the scheduler picks them up)")
    def make_due_now(self, request: HttpRequest, queryset: QuerySet) -> None:
        updated = queryset.exclude(status=Connection.Status.REVOKED).update(next_sync_at=timezone.now())
        self.message_user(request, f"{updated} connection(s) are due now.", messages.SUCCESS)


@admin.register(EndpointState)
class EndpointStateAdmin(NoSecretsMixin, admin.ModelAdmin):
    list_display = ["connection", "endpoint", "cursor", "last_success_at", "short_error"]
    list_filter = ["connection__provider", "endpoint", HasErrorFilter]
    search_fields = ["connection__user__username", "endpoint", "last_error"]
    list_select_related = ["connection"]
    readonly_fields = ["connection", "endpoint", "last_success_at", "last_error", "record_types"]

    @admin.display(description="last error")
    def short_error(self, obj: EndpointState) -> str:
        return obj.last_error[:80]


@admin.register(SyncRun)
class SyncRunAdmin(NoSecretsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["id", "connection", "trigger", "outcome", "started_at", "took", "records_new",
                    "records_changed", "records_deleted", "records_skipped", "requests"]
    list_filter = ["outcome", "trigger", "connection__provider", FoundDataFilter, HasErrorFilter, "started_at"]
    search_fields = ["connection__user__username", "connection__external_user_id", "error"]
    date_hierarchy = "started_at"
    list_select_related = ["connection"]
    readonly_fields = ["connection", "trigger", "outcome", "epoch", "started_at", "finished_at", "records_new",
                       "records_changed", "records_unchanged", "records_deleted", "records_skipped", "requests",
                       "error", "details_pretty"]
    exclude = ["details"]

    @admin.display(description="took")
    def took(self, obj: SyncRun) -> str:
        if not obj.finished_at:
            return "…"
        return f"{(obj.finished_at - obj.started_at).total_seconds():.1f} s"

    @admin.display(description="details per endpoint")
    def details_pretty(self, obj: SyncRun) -> str:
        return format_html("<pre>{}</pre>", json.dumps(obj.details, indent=2, sort_keys=True))


@admin.register(PendingAuthorization)
class PendingAuthorizationAdmin(NoSecretsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_display = ["user", "provider", "created_at", "session_bound", "return_to"]
    list_filter = ["provider", "session_bound", "created_at"]
    search_fields = ["user__username"]
    exclude = ["code_verifier", "state"]
    readonly_fields = ["user", "provider", "redirect_uri", "return_to", "session_bound", "created_at"]


# --- synced records: read-only, one admin per type --------------------------------------------------------------


class RecordAdmin(NoSecretsMixin, ReadOnlyMixin, admin.ModelAdmin):
    list_filter = ["provider", "endpoint", "local_date"]
    search_fields = ["user__username", "external_id"]
    date_hierarchy = "start"
    list_select_related = ["user"]
    list_per_page = 50
    columns: list[str] = []

    def get_list_display(self, request: HttpRequest):  # noqa: ANN201
        return ["user", "provider", "start", "local_date", *self.columns]


@admin.register(DailyActivity)
class DailyActivityAdmin(RecordAdmin):
    columns = ["steps", "active_energy_kcal", "total_energy_kcal", "distance_m"]


@admin.register(Workout)
class WorkoutAdmin(RecordAdmin):
    columns = ["sport", "name", "duration_s", "distance_m", "energy_kcal", "avg_heart_rate"]
    list_filter = ["provider", "sport", "local_date"]
    search_fields = [*RecordAdmin.search_fields, "name", "sport_raw"]


@admin.register(QuantitySample)
class QuantitySampleAdmin(RecordAdmin):
    columns = ["kind", "value"]
    list_filter = ["provider", "kind", "local_date"]


@admin.register(BloodPressure)
class BloodPressureAdmin(RecordAdmin):
    columns = ["systolic_mmhg", "diastolic_mmhg", "pulse_bpm"]


@admin.register(SleepSession)
class SleepSessionAdmin(RecordAdmin):
    columns = ["end", "asleep_s", "deep_s", "rem_s", "avg_heart_rate"]


@admin.register(NutritionEntry)
class NutritionEntryAdmin(RecordAdmin):
    columns = ["meal", "name", "energy_kcal", "protein_g", "carbohydrate_g", "fat_g"]
    list_filter = ["provider", "meal", "local_date"]
    search_fields = [*RecordAdmin.search_fields, "name"]


for _model in record_models().values():  # a record type added later still gets an admin
    if not admin.site.is_registered(_model):
        admin.site.register(_model, RecordAdmin)


# --- anything else in the app (e.g. the scheduler's per-connection state) ---------------------------------------


def register_remaining() -> None:
    """Every other healthsync model gets a read-only admin with the same no-secrets guarantee."""
    from django.apps import apps

    for model in apps.get_app_config("healthsync").get_models():
        if admin.site.is_registered(model):
            continue
        fields = [f.name for f in model._meta.concrete_fields if f.name not in secret_fields(model)]
        related = [f.name for f in model._meta.concrete_fields if f.is_relation][:2]
        usual = ("provider", "policy", "status", "endpoint", "group", "kind", "outcome", "trigger")
        choice = [f.name for f in model._meta.concrete_fields
                  if (f.choices or f.get_internal_type() == "BooleanField" or f.name in usual) and f.name in fields][:4]
        attrs = {
            "list_display": fields[:8],
            "list_filter": choice,
            "search_fields": [{"connection": "connection__user__username", "user": "user__username"}[name]
                              for name in related if name in ("connection", "user")],
            "list_select_related": related,
        }
        admin.site.register(model, type(f"{model.__name__}Admin", (NoSecretsMixin, ReadOnlyMixin, admin.ModelAdmin),
                                        attrs))


register_remaining()
