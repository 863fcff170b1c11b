"""Withings Public API: body measures, blood pressure, daily activity, workouts, sleep. RPC style, enveloped."""

import datetime as dt

from healthsync.models import BloodPressure, DailyActivity, QuantitySample, SleepSession, Workout
from healthsync.providers.base import Provider
from healthsync.providers.declarations import Endpoint, Envelope, FromToken, HeadCheck, OAuth2, OffsetMore, Since
from healthsync.providers.declarations import UserSubscriptions, Webhook
from healthsync.providers.mapping import SkipRecord, day, day_start, epoch, number, optional_number

S, K = Workout.Sport, QuantitySample.Kind
SPORTS = {1: S.WALKING, 2: S.RUNNING, 3: S.HIKING, 6: S.CYCLING, 7: S.SWIMMING, 16: S.STRENGTH, 28: S.YOGA,
          34: S.SKIING, 187: S.ROWING, 306: S.WALKING, 307: S.RUNNING, 308: S.CYCLING, 498: S.RUNNING}
SAMPLES = {1: K.WEIGHT, 6: K.BODY_FAT, 11: K.HEART_RATE}  # meastype -> kind; 9/10 are blood pressure
CHANGED = Since("lastupdate", by="modified", lookback=dt.timedelta(minutes=10))


def feed(path: str, action: str, records: str, scope: str, **params: str) -> Endpoint:
    return Endpoint(path, method="POST", params={"action": action, **params}, records=records, page=OffsetMore(),
                    since=CHANGED, scope=scope)


class Withings(Provider):
    slug = "withings"
    auth = OAuth2(authorize_url="https://account.withings.com/oauth2_user/authorize2", scope_sep=",",
                  token_url="https://wbsapi.withings.net/v2/oauth2", token_root="body",
                  token_params={"action": "requesttoken"},
                  scopes=["user.info", "user.metrics", "user.activity", "user.sleepevents"])
    api = "https://wbsapi.withings.net/"
    envelope = Envelope(rate_limited=frozenset({601}), auth_failed=frozenset({100, 101, 102, 200, 401}))
    identity = FromToken("userid")
    app_limits = ("120 per minute",)
    measures = feed("measure", "getmeas", "measuregrps", "user.metrics", meastypes="1,6,9,10,11", category="1")
    activity = feed("v2/measure", "getactivity", "activities", "user.activity",
                    data_fields="steps,distance,calories,totalcalories")
    workouts = feed("v2/measure", "getworkouts", "series", "user.activity")
    sleep = feed("v2/sleep", "getsummary", "series", "user.sleepevents",
                 data_fields="deepsleepduration,lightsleepduration,remsleepduration,wakeupduration,hr_average")
    # Notify: per user and `appli` category (1 weight, 4 blood pressure, 16 activity, 44 sleep), form-encoded,
    # with the data's time window; the callback must answer HEAD
    push = Webhook(UserSubscriptions("notify"), HeadCheck(), form=True, user="userid", kind="appli",
                   kinds={"1": ("measures",), "4": ("measures",), "16": ("activity", "workouts"), "44": ("sleep",)},
                   start="startdate", end="enddate")

    def revoke_request(self, connection):
        creds = self.settings()
        return self.url(self.auth.token_url), {"action": "revoke", "userid": connection.external_user_id,
                                               "client_id": creds["client_id"], "client_secret": creds["client_secret"]}

    @measures.maps
    def measure_group(g):
        at, values = epoch(g["date"]), {m["type"]: number(m["value"]) * 10 ** m["unit"] for m in g["measures"]}
        for kind in values.keys() - {*SAMPLES, 9, 10}:
            yield SkipRecord(f"unknown measure type {kind} in group {g['grpid']}")
        for kind in values.keys() & SAMPLES.keys():
            yield QuantitySample(external_id=f"{g['grpid']}-{kind}", kind=SAMPLES[kind], value=values[kind], start=at)
        if {9, 10} <= values.keys():
            yield BloodPressure(external_id=f"{g['grpid']}-bp", start=at, systolic_mmhg=values[10],
                                diastolic_mmhg=values[9], pulse_bpm=values.get(11))

    @activity.maps
    def daily(a):
        return DailyActivity(external_id=a["date"], local_date=day(a["date"]), start=day_start(day(a["date"]),
                             a.get("timezone")), steps=a.get("steps"), distance_m=optional_number(a.get("distance")),
                             active_energy_kcal=optional_number(a.get("calories")),
                             total_energy_kcal=optional_number(a.get("totalcalories")))

    @workouts.maps
    def workout(w):
        d = w["data"]
        return Workout(external_id=w["id"], sport=SPORTS.get(w["category"], S.OTHER), sport_raw=str(w["category"]),
                       start=epoch(w["startdate"]), end=epoch(w["enddate"]), duration_s=w["enddate"] - w["startdate"],
                       distance_m=optional_number(d.get("distance")), energy_kcal=optional_number(d.get("calories")),
                       avg_heart_rate=optional_number(d.get("hr_average")), local_date=day(w["date"]))

    @sleep.maps
    def sleep_summary(s):
        d = s["data"]
        stages = [optional_number(d.get(f"{k}sleepduration")) for k in ("deep", "light", "rem")]
        return SleepSession(external_id=s["id"], start=epoch(s["startdate"]), end=epoch(s["enddate"]),
                            local_date=day(s["date"]), deep_s=stages[0], light_s=stages[1], rem_s=stages[2],
                            asleep_s=sum(x or 0 for x in stages), awake_s=optional_number(d.get("wakeupduration")),
                            avg_heart_rate=optional_number(d.get("hr_average")))
