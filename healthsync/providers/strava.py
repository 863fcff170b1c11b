"""Strava API v3: workouts. https://developers.strava.com/docs/reference/"""

import datetime as dt

from healthsync.models import Workout
from healthsync.providers.base import Provider
from healthsync.providers.declarations import AppSubscription, Challenge, Endpoint, FromToken, OAuth2, PageNumber
from healthsync.providers.declarations import Since, Webhook
from healthsync.providers.mapping import day, instant, number, optional_number

S = Workout.Sport
SPORTS = {"Run": S.RUNNING, "TrailRun": S.RUNNING, "VirtualRun": S.RUNNING, "Ride": S.CYCLING,
          "VirtualRide": S.CYCLING, "MountainBikeRide": S.CYCLING, "GravelRide": S.CYCLING, "EBikeRide": S.CYCLING,
          "Walk": S.WALKING, "Hike": S.HIKING, "Swim": S.SWIMMING, "WeightTraining": S.STRENGTH, "Yoga": S.YOGA,
          "Rowing": S.ROWING, "AlpineSki": S.SKIING, "NordicSki": S.SKIING, "Soccer": S.TEAM_SPORT}


class Strava(Provider):
    slug = "strava"
    auth = OAuth2(authorize_url="https://www.strava.com/oauth/authorize", scope_sep=",",
                  token_url="https://www.strava.com/oauth/token", scopes=["read", "activity:read_all"],
                  revoke_url="https://www.strava.com/oauth/deauthorize")
    api = "https://www.strava.com/api/v3/"
    identity = FromToken("athlete.id")
    # the read limits, the tighter pair; Strava windows are fixed, at :00/:15/:30/:45 and midnight UTC
    app_limits = ("100 per 15 minutes aligned", "1000 per day aligned")
    # `after` filters on start time: a week's lookback catches late uploads, edits and deletions
    activities = Endpoint("athlete/activities", page=PageNumber(size=200), scope=("activity:read_all", "activity:read"),
                          since=Since("after", lookback=dt.timedelta(days=7)))
    # push: one app subscription, the hub.challenge check, no signature; athlete events with authorized=false revoke
    push = Webhook(AppSubscription("https://www.strava.com/api/v3/push_subscriptions"), deadline=2,
                   verify=Challenge("hub.verify_token", "hub.challenge"), user="owner_id", kind="object_type",
                   kinds={"activity": ("activities",)}, action="aspect_type", object_id="object_id",
                   revoked={"object_type": "athlete", "updates.authorized": "false"})

    @activities.maps
    def workout(a):
        start = instant(a["start_date"])
        return Workout(external_id=a["id"], sport=SPORTS.get(a["sport_type"], S.OTHER), sport_raw=a["sport_type"],
                       name=a["name"], start=start, end=start + dt.timedelta(seconds=number(a["elapsed_time"])),
                       local_date=day(a["start_date_local"][:10]), duration_s=number(a["moving_time"]),
                       distance_m=number(a["distance"]), energy_kcal=optional_number(a.get("kilojoules")),
                       avg_heart_rate=optional_number(a.get("average_heartrate")),
                       max_heart_rate=optional_number(a.get("max_heartrate")))
