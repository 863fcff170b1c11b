from django.urls import path
from drf_spectacular.views import SpectacularAPIView

from healthsync.api import views

urlpatterns = [
    path("providers/", views.ProviderList.as_view(), name="api-providers"),
    path("connections/", views.ConnectionList.as_view(), name="api-connections"),
    path("connections/<slug:slug>/", views.ConnectionDetail.as_view(), name="api-connection"),
    path("connections/<slug:slug>/connect/", views.Connect.as_view(), name="api-connect"),
    path("connections/<slug:slug>/sync/", views.SyncNow.as_view(), name="api-sync"),
    path("runs/", views.RunList.as_view(), name="api-runs"),
    path("records/<slug:kind>/", views.RecordList.as_view(), name="api-records"),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
]
