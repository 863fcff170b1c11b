from django.contrib import admin

from diary.models import FoodEntry


@admin.register(FoodEntry)
class FoodEntryAdmin(admin.ModelAdmin):
    list_display = ["user", "date", "name", "energy_kcal"]
    list_filter = ["date"]
    search_fields = ["user__username", "name"]
