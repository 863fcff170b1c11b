"""The host app's own data: what the user ate. healthsync brings in what they burned."""

from django.conf import settings
from django.db import models


class FoodEntry(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="food_entries")
    date = models.DateField()
    name = models.CharField(max_length=200)
    energy_kcal = models.FloatField()

    class Meta:
        ordering = ["-date"]
        verbose_name_plural = "food entries"

    def __str__(self) -> str:
        return f"{self.date} {self.name} ({self.energy_kcal:.0f} kcal)"
