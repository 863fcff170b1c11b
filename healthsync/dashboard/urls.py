from django.urls import path

from healthsync.dashboard import views

urlpatterns = [path("", views.dashboard, name="dashboard")]
