"""Admin for every healthsync model. Token fields are never shown, not even as read-only values."""

from django.contrib import admin

from healthsync.models import Connection, EndpointState, PendingAuthorization, SyncRun, record_models


class EndpointStateInline(admin.TabularInline):
    model = EndpointState
    extra = 0
    readonly_fields = ["endpoint", "cursor", "last_success_at", "last_error", "record_types"]
    can_delete = False


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "provider", "status", "last_success_at", "next_sync_at", "consecutive_failures"]
    list_filter = ["provider", "status"]
    search_fields = ["user__username", "user__email", "external_user_id"]
    exclude = ["access_token", "refresh_token"]
    readonly_fields = ["token_expires_at", "token_version", "sync_epoch", "last_sync_at", "last_success_at",
                       "last_error", "created_at", "updated_at"]
    inlines = [EndpointStateInline]


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = ["id", "connection", "trigger", "outcome", "started_at", "records_new", "records_changed",
                    "records_deleted", "records_skipped", "requests"]
    list_filter = ["outcome", "trigger", "connection__provider"]
    search_fields = ["connection__user__username", "error"]
    date_hierarchy = "started_at"
    list_select_related = ["connection"]


@admin.register(PendingAuthorization)
class PendingAuthorizationAdmin(admin.ModelAdmin):
    list_display = ["user", "provider", "created_at", "session_bound"]
    list_filter = ["provider"]
    exclude = ["code_verifier", "state"]


class RecordAdmin(admin.ModelAdmin):
    list_filter = ["provider", "local_date"]
    search_fields = ["user__username", "external_id"]
    date_hierarchy = "start"
    list_select_related = ["user"]

    def get_list_display(self, request):  # noqa: ANN001, ANN201
        return ["user", "provider", "start", "local_date", *self.model.payload_fields()[3:8]]


for _model in record_models().values():
    admin.site.register(_model, RecordAdmin)
