from django.urls import path

from diary import views

urlpatterns = [
    path("", views.home, name="home"),
    path("sync/<slug:slug>/", views.sync_now, name="diary-sync"),
    path("food/", views.add_food, name="diary-food"),
    path("status.json", views.status, name="diary-status"),
]
