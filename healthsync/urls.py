"""Include with ``path("healthsync/", include("healthsync.urls"))``: OAuth views and the REST API."""

from django.urls import include, path

from healthsync.auth import views

app_name = "healthsync"

urlpatterns = [
    path("connect/<slug:slug>/", views.connect_view, name="connect"),
    path("callback/<slug:slug>/", views.callback_view, name="callback"),
    path("disconnect/<slug:slug>/", views.disconnect_view, name="disconnect"),
    path("api/", include("healthsync.api.urls")),
]
