"""Include with ``path("healthsync/", include("healthsync.urls"))``: OAuth views, the REST API, the operator
dashboard (staff only) and the Prometheus ``metrics`` endpoint."""

from django.urls import include, path

from healthsync import metrics
from healthsync.auth import views

app_name = "healthsync"

urlpatterns = [
    path("connect/<slug:slug>/", views.connect_view, name="connect"),
    path("callback/<slug:slug>/", views.callback_view, name="callback"),
    path("disconnect/<slug:slug>/", views.disconnect_view, name="disconnect"),
    path("api/", include("healthsync.api.urls")),
    path("webhooks/", include("healthsync.webhooks.urls")),  # one callback per push provider: webhooks/<slug>/
    path("dashboard/", include("healthsync.dashboard.urls")),
    path("metrics", metrics.metrics_view, name="metrics"),
]
