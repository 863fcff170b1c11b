"""The client REST API: providers, the user's connections, connect, disconnect, sync now, records, runs.

Every query is scoped to ``request.user``: a user can neither see nor change another user's data.
"""

from __future__ import annotations

import datetime as dt

from django.shortcuts import get_object_or_404
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, status
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from healthsync.api import serializers as s
from healthsync.auth import connect
from healthsync.auth.views import callback_url, provider_or_404
from healthsync.models import Connection, SyncRun, record_models
from healthsync.providers import enabled_providers
from healthsync.scheduling import dispatch, policy
from healthsync.sync.lease import AlreadySyncing


class ProviderList(APIView):
    @extend_schema(responses=s.ProviderSerializer(many=True))
    def get(self, request: Request) -> Response:
        mine = set(Connection.objects.filter(user=request.user).values_list("provider", flat=True))
        data = [
            {"slug": cls.slug, "name": cls.name, "scopes": cls.scopes(), "connected": cls.slug in mine}
            for cls in enabled_providers()
        ]
        return Response(s.ProviderSerializer(data, many=True).data)


class ConnectionList(generics.ListAPIView):
    serializer_class = s.ConnectionSerializer
    pagination_class = None

    def get_queryset(self):  # noqa: ANN201
        return Connection.objects.filter(user=self.request.user).select_related("polling_state").order_by("provider")


def own_connection(request: Request, slug: str) -> Connection:
    return get_object_or_404(Connection, user=request.user, provider=slug)


class ConnectionDetail(APIView):
    @extend_schema(responses=s.ConnectionSerializer)
    def get(self, request: Request, slug: str) -> Response:
        return Response(s.ConnectionSerializer(own_connection(request, slug)).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, slug: str) -> Response:
        connect.disconnect(own_connection(request, slug))
        return Response(status=status.HTTP_204_NO_CONTENT)


class Connect(APIView):
    """Start connecting: answers the partner URL to open. From a browser session the callback must come back
    to the same login; from a mobile client the single-use state alone binds the flow to this user."""

    @extend_schema(request=s.ConnectRequestSerializer, responses=s.ConnectResponseSerializer)
    def post(self, request: Request, slug: str) -> Response:
        provider = provider_or_404(slug)
        body = s.ConnectRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return_to = body.validated_data["return_to"]
        if return_to and not return_to.startswith("/"):
            raise ValidationError({"return_to": "must be a path on this site"})
        session_bound = request.auth is None and request.session.session_key is not None
        url = connect.start(provider, request.user, callback_url(request, slug), return_to, session_bound)
        return Response({"authorize_url": url})


class SyncNow(APIView):
    """Ask for a sync now. The policy may refuse (429, with the next allowed time; nothing is written)."""

    @extend_schema(
        request=None,
        parameters=[OpenApiParameter("wait", bool, description="sync within the request and return the run")],
        responses={200: s.SyncRunSerializer, 202: s.SyncRunSerializer, 409: s.SyncRefusedSerializer,
                   429: s.SyncRefusedSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        connection = own_connection(request, slug)
        decision = policy.current().client_sync(connection)
        if not decision.allowed:
            return Response(
                {"detail": decision.reason, "next_allowed_at": decision.next_allowed_at},
                status=status.HTTP_429_TOO_MANY_REQUESTS,
            )
        try:
            if request.query_params.get("wait") in ("1", "true"):
                run = dispatch.sync_now(connection, SyncRun.Trigger.CLIENT)
                return Response(s.SyncRunSerializer(run).data)
            dispatch.enqueue(connection, SyncRun.Trigger.CLIENT)
        except AlreadySyncing:
            return Response({"detail": "already syncing", "next_allowed_at": None}, status=status.HTTP_409_CONFLICT)
        return Response({"detail": "queued"}, status=status.HTTP_202_ACCEPTED)


class RunList(generics.ListAPIView):
    serializer_class = s.SyncRunSerializer

    def get_queryset(self):  # noqa: ANN201
        runs = SyncRun.objects.filter(connection__user=self.request.user).select_related("connection")
        provider = self.request.query_params.get("provider")
        return runs.filter(connection__provider=provider) if provider else runs


class RecordPagination(CursorPagination):
    ordering = "-start"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


def parse_bound(name: str, value: str | None) -> dt.datetime | None:
    if not value:
        return None
    moment = parse_datetime(value)
    if moment is None and (date := parse_date(value)):
        moment = dt.datetime.combine(date, dt.time(), tzinfo=dt.UTC)
    if moment is None:
        raise ValidationError({name: f"not an ISO 8601 date or datetime: {value!r}"})
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


class RecordList(generics.ListAPIView):
    """Records of one type (daily_activity, workouts, samples, blood_pressure, sleep, nutrition)."""

    pagination_class = RecordPagination

    @extend_schema(
        parameters=[
            OpenApiParameter("start", str, description="ISO date or datetime, inclusive"),
            OpenApiParameter("end", str, description="ISO date or datetime, exclusive"),
            OpenApiParameter("provider", str),
            OpenApiParameter("kind", str, description="for samples: weight, body_fat, heart_rate, …"),
        ]
    )
    def get(self, request: Request, *args, **kwargs) -> Response:  # noqa: ANN002, ANN003
        return super().get(request, *args, **kwargs)

    def model(self):  # noqa: ANN201
        try:
            return record_models()[self.kwargs["kind"]]
        except KeyError:
            raise NotFound(f"unknown record type; one of {', '.join(record_models())}") from None

    def get_serializer_class(self):  # noqa: ANN201
        return s.RECORD_SERIALIZERS.get(self.kwargs.get("kind"), s.RECORD_SERIALIZERS["workouts"])

    def get_queryset(self):  # noqa: ANN201
        query = self.request.query_params
        records = self.model().objects.filter(user=self.request.user)
        if start := parse_bound("start", query.get("start")):
            records = records.filter(start__gte=start)
        if end := parse_bound("end", query.get("end")):
            records = records.filter(start__lt=end)
        if query.get("provider"):
            records = records.filter(provider=query["provider"])
        if query.get("kind") and hasattr(self.model(), "kind"):
            records = records.filter(kind=query["kind"])
        return records
