from __future__ import annotations

from rest_framework import serializers

from healthsync.models import Connection, PollingState, SyncRun, record_models


class PollingStateSerializer(serializers.ModelSerializer):
    """What the polling policy has learned about a connection (operators and curious clients)."""

    class Meta:
        model = PollingState
        fields = ["policy", "rate", "poll_rate", "interval_seconds", "group", "polls", "hits", "last_data_at"]
        read_only_fields = fields


class ProviderSerializer(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    scopes = serializers.ListField(child=serializers.CharField())
    connected = serializers.BooleanField()


class ConnectionSerializer(serializers.ModelSerializer):
    status_display = serializers.CharField(source="get_status_display", read_only=True)
    reconnect_needed = serializers.SerializerMethodField()
    polling = PollingStateSerializer(source="polling_state", read_only=True, default=None)

    class Meta:
        model = Connection
        fields = [
            "provider",
            "status",
            "status_display",
            "reconnect_needed",
            "external_user_id",
            "scopes",
            "last_sync_at",
            "last_success_at",
            "next_sync_at",
            "last_error",
            "created_at",
            "polling",
        ]
        read_only_fields = fields

    def get_reconnect_needed(self, obj: Connection) -> bool:
        return obj.status == Connection.Status.REVOKED


class SyncRunSerializer(serializers.ModelSerializer):
    provider = serializers.CharField(source="connection.provider", read_only=True)

    class Meta:
        model = SyncRun
        fields = [
            "id",
            "provider",
            "trigger",
            "outcome",
            "started_at",
            "finished_at",
            "records_new",
            "records_changed",
            "records_unchanged",
            "records_deleted",
            "records_skipped",
            "requests",
            "error",
        ]
        read_only_fields = fields


class ConnectRequestSerializer(serializers.Serializer):
    return_to = serializers.CharField(required=False, allow_blank=True, default="")


class ConnectResponseSerializer(serializers.Serializer):
    authorize_url = serializers.URLField()


class SyncRefusedSerializer(serializers.Serializer):
    detail = serializers.CharField()
    next_allowed_at = serializers.DateTimeField(allow_null=True)


def record_serializer(model) -> type[serializers.ModelSerializer]:  # noqa: ANN001
    meta = type("Meta", (), {"model": model, "exclude": ["user", "connection", "id"]})
    return type(f"{model.__name__}Serializer", (serializers.ModelSerializer,), {"Meta": meta})


RECORD_SERIALIZERS = {name: record_serializer(model) for name, model in record_models().items()}
