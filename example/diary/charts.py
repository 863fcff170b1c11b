"""The user's charts: steps, weight, sleep, workouts, and calories burned beside calories eaten, per day.

Two partners may report the same day (a watch and a ring): per day we take the largest step count and energy,
and the longest night, rather than adding them up.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict

from django.db.models import Sum

from diary.models import FoodEntry
from healthsync.dashboard.charts import Series, chart
from healthsync.models import DailyActivity, NutritionEntry, QuantitySample, SleepSession, Workout

SPORT_COLORS = {
    "running": "#e0702d", "cycling": "#2f6fde", "walking": "#2a9d63", "hiking": "#8a6d3b", "swimming": "#1b9aaa",
    "strength": "#9b4fd1", "yoga": "#d6407a", "rowing": "#6b7a8f", "skiing": "#5bc0eb", "team_sport": "#c9a227",
    "other": "#98a2b3",
}


def days_between(start: dt.date, end: dt.date) -> list[dt.date]:
    return [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]


def label(day: dt.date, span: int) -> str:
    return day.strftime("%-d %b") if span <= 120 else day.strftime("%b %y")


def user_charts(user, start: dt.date, end: dt.date) -> dict[str, dict]:  # noqa: ANN001
    days = days_between(start, end)
    labels = [label(d, len(days)) for d in days]
    index = {d: i for i, d in enumerate(days)}
    n = len(days)

    steps: list[float | None] = [None] * n
    burned: list[float | None] = [None] * n
    for row in DailyActivity.objects.filter(user=user, local_date__range=(start, end)).values(
        "local_date", "steps", "total_energy_kcal", "active_energy_kcal"
    ):
        i = index[row["local_date"]]
        if row["steps"] is not None:
            steps[i] = max(steps[i] or 0, row["steps"])
        energy = row["total_energy_kcal"] or row["active_energy_kcal"]
        if energy:
            burned[i] = max(burned[i] or 0, energy)

    eaten: list[float | None] = [None] * n
    for row in FoodEntry.objects.filter(user=user, date__range=(start, end)).values("date").annotate(
        kcal=Sum("energy_kcal")
    ):
        eaten[index[row["date"]]] = (eaten[index[row["date"]]] or 0) + row["kcal"]
    for row in NutritionEntry.objects.filter(user=user, local_date__range=(start, end)).values(
        "local_date").annotate(kcal=Sum("energy_kcal")):
        if row["kcal"]:
            eaten[index[row["local_date"]]] = (eaten[index[row["local_date"]]] or 0) + row["kcal"]

    weight_sum: dict[int, list[float]] = defaultdict(list)
    for row in QuantitySample.objects.filter(
        user=user, kind=QuantitySample.Kind.WEIGHT, local_date__range=(start, end)
    ).values("local_date", "value"):
        weight_sum[index[row["local_date"]]].append(row["value"])
    weight = [round(sum(weight_sum[i]) / len(weight_sum[i]), 1) if weight_sum.get(i) else None for i in range(n)]

    nights: dict[int, SleepSession] = {}
    for night in SleepSession.objects.filter(user=user, local_date__range=(start, end)):
        i = index[night.local_date]
        if i not in nights or (night.asleep_s or 0) > (nights[i].asleep_s or 0):
            nights[i] = night
    stages = {"Deep": "deep_s", "Light": "light_s", "REM": "rem_s"}
    sleep_series = []
    colors = {"Deep": "#3b3fb6", "Light": "#8fa8f0", "REM": "#b58ee6", "Asleep": "#6f7fd8"}
    staged = any(nights[i].deep_s is not None for i in nights)
    if staged:
        for name, attr in stages.items():
            values = [round((getattr(nights[i], attr) or 0) / 3600, 2) if i in nights else None for i in range(n)]
            sleep_series.append(Series(name, values, colors[name], unit="h", stack="sleep"))
    else:
        values = [round((nights[i].asleep_s or 0) / 3600, 2) if i in nights else None for i in range(n)]
        sleep_series.append(Series("Asleep", values, colors["Asleep"], unit="h"))

    minutes: dict[str, list[float | None]] = {}
    workout_count = 0
    for w in Workout.objects.filter(user=user, local_date__range=(start, end)).values(
        "local_date", "sport", "duration_s"
    ):
        workout_count += 1
        per_sport = minutes.setdefault(w["sport"], [None] * n)
        i = index[w["local_date"]]
        per_sport[i] = round((per_sport[i] or 0) + (w["duration_s"] or 0) / 60, 1)
    workout_series = [
        Series(sport.replace("_", " ").capitalize(), values, SPORT_COLORS.get(sport, ""), unit="min", stack="w")
        for sport, values in sorted(minutes.items())
    ]

    def total(values: list[float | None]) -> float:
        return sum(v for v in values if v)

    def count(values: list[float | None]) -> int:
        return sum(1 for v in values if v)

    return {
        "steps": {
            "title": "Steps",
            "summary": f"{total(steps) / max(count(steps), 1):,.0f} a day on average" if count(steps) else "",
            "svg": chart(labels, [Series("Steps", steps, "#2a9d63")], title="Steps per day", chart_id="chart-steps",
                         empty_message="No steps yet: connect Withings or Oura"),
        },
        "calories": {
            "title": "Calories burned and eaten",
            "summary": (f"{total(burned) - total(eaten):+,.0f} kcal balance over days with both"
                        if count(burned) and count(eaten) else ""),
            "svg": chart(labels, [Series("Burned", burned, "#e0702d", unit="kcal"),
                                  Series("Eaten", eaten, "#2f6fde", unit="kcal")],
                         title="Calories burned and eaten per day", chart_id="chart-calories",
                         empty_message="Log a meal below, or connect a service that counts calories"),
        },
        "workouts": {
            "title": "Workouts",
            "summary": f"{workout_count} workouts, {total([v for s in minutes.values() for v in s]):,.0f} minutes"
            if workout_count else "",
            "svg": chart(labels, workout_series, title="Workout minutes per day", chart_id="chart-workouts",
                         empty_message="No workouts yet: connect Strava"),
        },
        "sleep": {
            "title": "Sleep",
            "summary": f"{sum((s.asleep_s or 0) for s in nights.values()) / 3600 / max(len(nights), 1):.1f} h "
            f"a night on average" if nights else "",
            "svg": chart(labels, sleep_series, title="Hours asleep per night", chart_id="chart-sleep",
                         empty_message="No sleep yet: connect Oura or Withings"),
        },
        "weight": {
            "title": "Weight",
            "summary": f"latest {next(v for v in reversed(weight) if v is not None)} kg" if count(weight) else "",
            "svg": chart(labels, [Series("Weight", weight, "#9b4fd1", kind="line", unit="kg")], title="Weight",
                         chart_id="chart-weight", empty_message="No weigh-ins yet: connect Withings"),
        },
    }
