"""Oura API v2: daily activity, sleep, workouts, heart rate. https://cloud.ouraring.com/v2/docs"""

import datetime as dt

from healthsync.models import DailyActivity, QuantitySample, SleepSession, Workout
from healthsync.providers.base import Provider
from healthsync.providers.declarations import Challenge, Endpoint, FromEndpoint, Hmac, NextToken, OAuth2, Since
from healthsync.providers.declarations import TypedSubscriptions, Webhook
from healthsync.providers.mapping import day, instant, number, optional_number

S = Workout.Sport
SPORTS = {"running": S.RUNNING, "cycling": S.CYCLING, "walking": S.WALKING, "hiking": S.HIKING,
          "swimming": S.SWIMMING, "strength_training": S.STRENGTH, "yoga": S.YOGA, "rowing": S.ROWING}
# Oura revises the last days (sleep is scored late, steps grow), and end_date is exclusive
DAYS = Since("start_date", "end_date", fmt="date", lookback=dt.timedelta(days=2), end_pad=dt.timedelta(days=1))


def feed(path: str, scope: str, since: Since = DAYS) -> Endpoint:
    return Endpoint(path, records="data", page=NextToken(), since=since, scope=scope)


class Oura(Provider):
    slug = "oura"
    auth = OAuth2(authorize_url="https://cloud.ouraring.com/oauth/authorize", token_url="https://api.ouraring.com/oauth/token",
                  scopes=["personal", "daily", "heartrate", "workout"], revoke_url="https://api.ouraring.com/oauth/revoke")
    api = "https://api.ouraring.com/v2/usercollection/"
    identity = FromEndpoint("personal_info", "id")
    app_limits = ("5000 per 5 minutes",)
    daily_activity = feed("daily_activity", "daily")
    sleep = feed("sleep", "daily")
    workouts = feed("workout", "workout")
    heartrate = feed("heartrate", "heartrate", Since("start_datetime", "end_datetime", fmt="iso",
                                                     lookback=dt.timedelta(hours=2)))
    # webhooks per data type and event type (client-credential headers, renewed before they expire), signed
    push = Webhook(TypedSubscriptions("https://api.ouraring.com/v2/webhook/subscription"),
                   Challenge("verification_token", "challenge"), signature=Hmac("x-oura-signature", "x-oura-timestamp"),
                   user="user_id", kind="data_type", action="event_type", object_id="object_id",
                   kinds={"daily_activity": ("daily_activity",), "sleep": ("sleep",), "workout": ("workouts",)})

    @daily_activity.maps
    def activity(a):
        return DailyActivity(external_id=a["id"], local_date=day(a["day"]), start=instant(a["timestamp"]),
                             steps=a["steps"], active_energy_kcal=number(a["active_calories"]),
                             total_energy_kcal=optional_number(a.get("total_calories")),
                             distance_m=optional_number(a.get("equivalent_walking_distance")))

    @sleep.maps
    def sleep_period(s):
        stages = [optional_number(s.get(f"{k}_sleep_duration")) for k in ("deep", "light", "rem")]
        return SleepSession(external_id=s["id"], start=instant(s["bedtime_start"]), end=instant(s["bedtime_end"]),
                            local_date=day(s["day"]), deep_s=stages[0], light_s=stages[1], rem_s=stages[2],
                            asleep_s=optional_number(s.get("total_sleep_duration")),
                            awake_s=optional_number(s.get("awake_time")),
                            avg_heart_rate=optional_number(s.get("average_heart_rate")))

    @workouts.maps
    def workout(w):
        start, end = instant(w["start_datetime"]), instant(w["end_datetime"])
        return Workout(external_id=w["id"], sport=SPORTS.get(w["activity"], S.OTHER), sport_raw=w["activity"],
                       name=w.get("label") or "", start=start, end=end, duration_s=(end - start).total_seconds(),
                       distance_m=optional_number(w.get("distance")), energy_kcal=optional_number(w.get("calories")),
                       local_date=day(w["day"]))

    @heartrate.maps
    def heart_rate(h):
        return QuantitySample(external_id=f"hr-{h['timestamp']}", kind=QuantitySample.Kind.HEART_RATE,
                              value=number(h["bpm"]), start=instant(h["timestamp"]))
