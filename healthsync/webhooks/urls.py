"""Included by ``healthsync.urls`` under ``webhooks/``: ``webhooks/<slug>/`` for every provider that declares push."""

from django.urls import path

from healthsync.webhooks import views

urlpatterns = [path("<slug:slug>/", views.receive, name="webhook")]
