"""Deterministic synthetic users whose devices upload data over time (on the emulator clock).

The world is partner-neutral: records carry neutral field names (documented on ``Record``); each partner
module renders them in its own raw shape. Content for a (user, local day) is a pure function of
``(seed, user index, day)``, so two worlds with the same seed agree. History starts ``history_days`` before
the clock's "now" at creation and is extended lazily as the clock moves forward. A record is visible once
``upload_at <= now`` and it is not deleted.
"""

from __future__ import annotations

import hashlib
import random
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from .clock import Clock

KINDS = ("workout", "weight", "bp", "sleep", "daily")
SPORTS = ("run", "ride", "walk", "swim", "hike", "strength", "yoga")
TIMEZONES = (
    "Europe/Stockholm",
    "America/Los_Angeles",
    "Europe/London",
    "Asia/Tokyo",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
)
FIRST_NAMES = ("Alva", "Ben", "Chloe", "Dev", "Elin", "Farid", "Greta", "Hiro", "Ines", "Jonas")
LAST_NAMES = ("Berg", "Carter", "Dubois", "Eriksen", "Fischer", "Garcia", "Hansen", "Ito", "Jensen", "Khan")
SYNC_INTERVAL = 3600  # devices sync hourly
# sport -> (speed m/s or None, kcal per minute, elevation per km)
SPORT_TRAITS: dict[str, tuple[float | None, float, float]] = {
    "run": (2.9, 11.0, 8.0),
    "ride": (7.0, 9.0, 10.0),
    "walk": (1.4, 4.5, 4.0),
    "swim": (0.8, 9.5, 0.0),
    "hike": (1.2, 7.0, 40.0),
    "strength": (None, 6.0, 0.0),
    "yoga": (None, 3.5, 0.0),
}


@dataclass
class Profile:
    steps_mean: int
    workouts_per_week: float
    sports: tuple[str, ...]
    weight_kg: float
    height_m: float
    fat_ratio: float
    resting_hr: int
    max_hr: int
    sleep_hours: float
    bedtime_hour: float
    weighins_per_week: float
    bp_per_week: float
    age: int
    sex: str


@dataclass
class User:
    index: int
    username: str
    partner_user_id: str
    tz: str
    firstname: str
    lastname: str
    profile: Profile
    sync_offset: int  # seconds after the hour when the device syncs
    created_at: float

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)

    def day_start(self, day: date) -> float:
        return datetime.combine(day, time(0), self.zone).timestamp()

    def local_day(self, epoch: float) -> date:
        return datetime.fromtimestamp(epoch, self.zone).date()


@dataclass
class Record:
    """One neutral record.

    Neutral ``data`` fields per kind:
      workout: sport, name, start (epoch), duration, moving_time, distance (m), elevation (m),
               calories (kcal), avg_hr, max_hr, steps, private (bool), intensity (easy|moderate|hard)
      weight:  at (epoch), weight_kg, fat_ratio (%), fat_mass_kg
      bp:      at (epoch), systolic, diastolic, pulse
      sleep:   start, end (epochs), deep, light, rem, awake (s), wakeup_count, avg_hr, min_hr, max_hr,
               avg_hrv, latency (s), efficiency (%)
      daily:   day (YYYY-MM-DD), steps, distance, active_calories, total_calories, elevation, soft, moderate,
               intense (s), hr_average, hr_min, hr_max   -- totals for the full day; they grow during the day
    """

    kind: str
    id: int
    user: int
    day: date
    data: dict[str, Any]
    upload_at: float
    modified_at: float
    created_at: float
    deleted: bool = False
    overridden: bool = False
    rev: int = 0  # bumped by every update and delete (push notices changes even on a frozen clock)

    def visible(self, now: float) -> bool:
        return not self.deleted and self.upload_at <= now


def _rng(*parts: object) -> random.Random:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def stable_id(*parts: object, low: int = 1_000_000_000, span: int = 8_000_000_000) -> int:
    digest = hashlib.sha256(":".join(map(str, parts)).encode()).digest()
    return low + int.from_bytes(digest[:8], "big") % span


def stable_uuid(*parts: object) -> str:
    h = hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-a{h[17:20]}-{h[20:32]}"


class World:
    def __init__(
        self,
        seed: int,
        users: int,
        clock: Clock,
        user_id: Callable[[int], str],
        username: Callable[[int], str],
        history_days: int = 30,
    ) -> None:
        self.seed = seed
        self.clock = clock
        self.lock = threading.RLock()
        self.records: dict[int, Record] = {}
        self._generated: dict[int, date] = {}
        origin = clock.now() - history_days * 86400
        self.users: list[User] = [self._make_user(i, user_id(i), username(i), origin) for i in range(users)]
        self.origin = origin
        self.ensure()

    # -- users ----------------------------------------------------------------------------------------
    def _make_user(self, i: int, pid: str, username: str, origin: float) -> User:
        r = _rng(self.seed, "user", i)
        sex = r.choice(("female", "male"))
        height = round(r.gauss(1.78 if sex == "male" else 1.66, 0.06), 2)
        sports = tuple(r.sample(SPORTS, k=r.randint(2, 4)))
        profile = Profile(
            steps_mean=r.randint(5000, 12000),
            workouts_per_week=round(r.uniform(2.0, 5.0), 1),
            sports=sports,
            weight_kg=round(22.5 * height * height + r.uniform(-8, 12), 1),
            height_m=height,
            fat_ratio=round(r.uniform(14, 30), 1),
            resting_hr=r.randint(50, 68),
            max_hr=r.randint(175, 195),
            sleep_hours=round(r.uniform(6.5, 8.2), 2),
            bedtime_hour=round(r.uniform(21.8, 23.9), 2),
            weighins_per_week=2.8,
            bp_per_week=round(r.uniform(0.0, 1.5), 1),
            age=r.randint(22, 64),
            sex=sex,
        )
        return User(
            index=i,
            username=username,
            partner_user_id=pid,
            tz=TIMEZONES[(self.seed + i) % len(TIMEZONES)],
            firstname=r.choice(FIRST_NAMES),
            lastname=r.choice(LAST_NAMES),
            profile=profile,
            sync_offset=r.randint(60, 3500),
            created_at=origin - r.randint(100, 900) * 86400,
        )

    def user(self, ref: str | int) -> User:
        for u in self.users:
            if str(ref) in (u.partner_user_id, u.username, str(u.index)):
                return u
        raise KeyError(f"unknown user {ref!r}")

    # -- generation -----------------------------------------------------------------------------------
    def ensure(self) -> None:
        """Generate every day up to tomorrow (local) of each user; uploads stay hidden until due."""
        now = self.clock.now()
        with self.lock:
            for u in self.users:
                last = self._generated.get(u.index)
                day = u.local_day(self.origin) if last is None else last + timedelta(days=1)
                until = u.local_day(now) + timedelta(days=1)
                while day <= until:
                    self._generate_day(u, day)
                    self._generated[u.index] = day
                    day += timedelta(days=1)

    def _add(self, rec: Record) -> None:
        self.records[rec.id] = rec

    def _generate_day(self, u: User, day: date) -> None:
        p, r, start = u.profile, _rng(self.seed, u.index, day.isoformat()), u.day_start(day)
        rid = lambda kind, n=0: stable_id(self.seed, u.index, day.isoformat(), kind, n)  # noqa: E731
        workouts: list[dict[str, Any]] = []
        n_workouts = 1 if r.random() < p.workouts_per_week / 7 else 0
        if n_workouts and r.random() < 0.12:
            n_workouts = 2
        for n in range(n_workouts):
            w = self.workout_data(u, r, start + r.uniform(6.0, 19.5) * 3600)
            workouts.append(w)
            upload = w["start"] + w["duration"] + r.randint(120, 1800)
            self._add(Record("workout", rid("workout", n), u.index, day, w, upload, upload, upload))
        if r.random() < p.weighins_per_week / 7:
            at = start + r.uniform(6.3, 8.7) * 3600
            data = self.weight_data(u, r, at, day)
            upload = at + r.randint(20, 200)
            self._add(Record("weight", rid("weight"), u.index, day, data, upload, upload, upload))
        if r.random() < p.bp_per_week / 7:
            at = start + r.uniform(7.0, 21.0) * 3600
            data = {
                "at": int(at),
                "systolic": r.randint(108, 135),
                "diastolic": r.randint(66, 88),
                "pulse": p.resting_hr + r.randint(2, 15),
            }
            upload = at + r.randint(20, 200)
            self._add(Record("bp", rid("bp"), u.index, day, data, upload, upload, upload))
        sleep = self.sleep_data(u, r, start)
        upload = sleep["end"] + r.randint(300, 2400)
        self._add(Record("sleep", rid("sleep"), u.index, day, sleep, upload, upload, upload))
        daily = self.daily_data(u, r, day, workouts)
        first = start + u.sync_offset
        self._add(Record("daily", rid("daily"), u.index, day, daily, first, first, first))

    def workout_data(self, u: User, r: random.Random, begin: float, sport: str | None = None) -> dict[str, Any]:
        p = u.profile
        sport = sport or r.choice(p.sports)
        speed, kcal_min, elev_km = SPORT_TRAITS.get(sport, (None, 6.0, 0.0))
        duration = r.randint(20, 95) * 60
        moving = int(duration * r.uniform(0.88, 1.0)) if speed else duration
        distance = round(moving * speed * r.uniform(0.85, 1.15), 1) if speed else 0.0
        intensity = r.choice(("easy", "moderate", "hard"))
        factor = {"easy": 0.85, "moderate": 1.0, "hard": 1.2}[intensity]
        avg_hr = int(p.resting_hr + (p.max_hr - p.resting_hr) * r.uniform(0.45, 0.75) * factor)
        label = (
            {
                "run": "Run",
                "ride": "Ride",
                "walk": "Walk",
                "swim": "Swim",
                "hike": "Hike",
                "strength": "Weight Training",
                "yoga": "Yoga",
            }[sport]
            if sport in SPORT_TRAITS
            else sport
        )
        part = datetime.fromtimestamp(begin, u.zone).hour
        when = "Morning" if part < 12 else "Afternoon" if part < 17 else "Evening"
        return {
            "sport": sport,
            "name": f"{when} {label}",
            "start": int(begin),
            "duration": duration,
            "moving_time": moving,
            "distance": distance,
            "elevation": round(distance / 1000 * elev_km * r.uniform(0.5, 1.5), 1),
            "calories": round(duration / 60 * kcal_min * factor * p.weight_kg / 70, 1),
            "avg_hr": min(avg_hr, p.max_hr - 10),
            "max_hr": min(p.max_hr, avg_hr + r.randint(12, 30)),
            "steps": int(distance / 0.9) if sport in ("run", "walk", "hike") else 0,
            "private": r.random() < 0.1,
            "intensity": intensity,
        }

    def weight_data(self, u: User, r: random.Random, at: float, day: date) -> dict[str, Any]:
        p = u.profile
        drift = ((day.toordinal() % 60) - 30) / 60 * 1.2
        weight = round(p.weight_kg + drift + r.gauss(0, 0.35), 2)
        fat_ratio = round(p.fat_ratio + r.gauss(0, 0.4), 1)
        return {
            "at": int(at),
            "weight_kg": weight,
            "fat_ratio": fat_ratio,
            "fat_mass_kg": round(weight * fat_ratio / 100, 2),
        }

    def sleep_data(self, u: User, r: random.Random, day_start: float) -> dict[str, Any]:
        """The night that ends on the morning of ``day``."""
        p = u.profile
        bed = day_start - (24 - p.bedtime_hour) * 3600 + r.uniform(-2400, 2400)
        in_bed = int(max(4.0, r.gauss(p.sleep_hours, 0.6)) * 3600 + r.randint(600, 2400))
        awake = int(in_bed * r.uniform(0.05, 0.12))
        asleep = in_bed - awake
        deep, rem = int(asleep * r.uniform(0.13, 0.22)), int(asleep * r.uniform(0.18, 0.26))
        return {
            "start": int(bed),
            "end": int(bed + in_bed),
            "deep": deep,
            "rem": rem,
            "light": asleep - deep - rem,
            "awake": awake,
            "wakeup_count": r.randint(0, 5),
            "avg_hr": p.resting_hr + r.randint(-2, 5),
            "min_hr": p.resting_hr - r.randint(2, 8),
            "max_hr": p.resting_hr + r.randint(15, 30),
            "avg_hrv": r.randint(25, 90),
            "latency": r.randint(240, 1500),
            "efficiency": int(round(100 * asleep / in_bed)),
        }

    def daily_data(self, u: User, r: random.Random, day: date, workouts: list[dict[str, Any]]) -> dict[str, Any]:
        p = u.profile
        steps = max(300, int(r.gauss(p.steps_mean, p.steps_mean * 0.3))) + sum(w["steps"] for w in workouts)
        active = int(steps * 0.045 + sum(w["calories"] for w in workouts) * 0.8)
        bmr = int(10 * p.weight_kg + 625 * p.height_m - 5 * p.age + (5 if p.sex == "male" else -161))
        moderate = int(steps / 11) + sum(w["duration"] // 2 for w in workouts)
        intense = sum(w["duration"] // 2 for w in workouts if w["intensity"] != "easy")
        return {
            "day": day.isoformat(),
            "steps": steps,
            "distance": round(steps * 0.76, 1),
            "active_calories": active,
            "total_calories": bmr + active,
            "elevation": round(steps / 900, 1),
            "soft": int(steps / 4),
            "moderate": moderate,
            "intense": intense,
            "hr_average": p.resting_hr + r.randint(15, 25),
            "hr_min": p.resting_hr - r.randint(0, 6),
            "hr_max": max([p.resting_hr + 60] + [w["max_hr"] for w in workouts]),
        }

    # -- time-dependent views -------------------------------------------------------------------------
    def last_sync(self, u: User, now: float) -> float:
        return now - ((now - u.sync_offset) % SYNC_INTERVAL)

    def daily_view(self, rec: Record, now: float) -> tuple[dict[str, Any], float]:
        """Totals as uploaded by the last device sync <= now, and when they last changed."""
        if rec.overridden:
            return dict(rec.data), rec.modified_at
        u = self.users[rec.user]
        start = u.day_start(rec.day)
        first = start + u.sync_offset
        syncs = [first + k * SYNC_INTERVAL for k in range(30)]
        last = max(s for s in syncs if s <= now) if now >= first else first

        def frac(t: float) -> float:
            return min(1.0, max(0.0, ((t - start) / 3600 - 7) / 15))

        f = frac(last)
        modified = next(s for s in syncs if frac(s) == f)
        modified = max(modified, rec.modified_at)
        data = dict(rec.data)
        if f < 1.0:
            for key in ("steps", "distance", "active_calories", "elevation", "soft", "moderate", "intense"):
                value = rec.data[key] * f
                data[key] = round(value, 1) if isinstance(rec.data[key], float) else int(value)
            bmr = rec.data["total_calories"] - rec.data["active_calories"]
            data["total_calories"] = int(bmr * min(1.0, (last - start) / 86400)) + data["active_calories"]
        return data, modified

    def heart_rate_series(self, u: User, t0: int, t1: int) -> list[tuple[int, int, str]]:
        """Deterministic 5-minute heart-rate samples (epoch, bpm, source) with t0 <= t < t1."""
        p = u.profile
        first = t0 + (-t0 % 300)
        days = (u.local_day(t0) - timedelta(days=1), u.local_day(t1) + timedelta(days=1))
        spans = [
            (
                r.data["start"],
                r.data["start"] + r.data["duration"],
                r.data["avg_hr"],
                r.data["max_hr"],
                "workout",
            )
            if r.kind == "workout"
            else (r.data["start"], r.data["end"], r.data["min_hr"], r.data["avg_hr"] + 4, "sleep")
            for r in self.records_for(u, ("workout", "sleep"), None, days=days)
            if not r.deleted
        ]
        out = []
        for t in range(first, t1, 300):
            r = _rng(self.seed, u.index, "hr", t)
            low, high, source = p.resting_hr + 5, p.resting_hr + 35, "awake"
            for s0, s1, lo, hi, src in spans:
                if s0 <= t < s1:
                    low, high, source = (lo - 12 if src == "workout" else lo), hi, src
                    break
            out.append((t, int(r.uniform(low, high)), source))
        return out

    # -- queries and mutations ------------------------------------------------------------------------
    def records_for(
        self, u: User, kinds: tuple[str, ...], now: float | None, days: tuple[date, date] | None = None
    ) -> Iterator[Record]:
        """Records of ``u`` of ``kinds``; only the visible ones when ``now`` is given."""
        if now is not None:
            self.ensure()
        with self.lock:
            recs = [r for r in self.records.values() if r.user == u.index and r.kind in kinds]
        for rec in recs:
            if days and not (days[0] <= rec.day <= days[1]):
                continue
            if now is None or rec.visible(now):
                yield rec

    def find(self, u: User, kind: str, rid: int) -> Record | None:
        with self.lock:
            rec = self.records.get(rid)
        if rec is None or rec.user != u.index or (kind and rec.kind != kind) or rec.deleted:
            return None
        return rec

    def upload(self, u: User, kind: str, fields: dict[str, Any]) -> Record:
        now = self.clock.now()
        self.ensure()
        with self.lock:
            r = random.Random(f"{self.seed}:{u.index}:upload:{len(self.records)}:{now}")
            rid = stable_id(self.seed, u.index, "manual", len(self.records), now)
            if kind == "workout":
                data = self.workout_data(u, r, now - 3600, fields.get("sport"))
                data.update(fields)
                if "start" not in fields:
                    data["start"] = int(now - data["duration"])
                day = u.local_day(data["start"])
            elif kind == "weight":
                at = float(fields.get("at", now))
                data = self.weight_data(u, r, at, u.local_day(at))
                data.update(fields)
                if "weight_kg" in fields and "fat_mass_kg" not in fields:
                    data["fat_mass_kg"] = round(data["weight_kg"] * data["fat_ratio"] / 100, 2)
                day = u.local_day(at)
            elif kind == "bp":
                data = {"at": int(now), "systolic": 120, "diastolic": 80, "pulse": u.profile.resting_hr}
                data.update(fields)
                day = u.local_day(data["at"])
            elif kind == "sleep":
                data = self.sleep_data(u, r, u.day_start(u.local_day(now)))
                data.update(fields)
                day = u.local_day(data["end"])
            else:
                raise ValueError(f"cannot upload kind {kind!r}; use update for daily totals")
            rec = Record(kind, rid, u.index, day, data, now, now, now)
            self.records[rid] = rec
            return rec

    def update(self, u: User, kind: str, rid: int | None, day: str | None, fields: dict[str, Any]) -> Record:
        now = self.clock.now()
        self.ensure()
        with self.lock:
            if kind == "daily":
                target = date.fromisoformat(day) if day else u.local_day(now)
                rec = next((r for r in self.records_for(u, ("daily",), None) if r.day == target), None)
                if rec is None:
                    raise KeyError(f"no daily record for {target}")
                if not rec.overridden:
                    rec.data, _ = self.daily_view(rec, now)
                    rec.overridden = True
                rec.upload_at = min(rec.upload_at, now)
            else:
                rec = self.find(u, kind, rid or 0)
                if rec is None:
                    raise KeyError(f"no {kind} record {rid}")
            rec.data.update(fields)
            rec.modified_at = now
            rec.rev += 1
            return rec

    def delete(self, u: User, kind: str, rid: int) -> Record:
        with self.lock:
            rec = self.find(u, kind, rid)
            if rec is None:
                raise KeyError(f"no {kind} record {rid}")
            rec.deleted = True
            rec.modified_at = self.clock.now()
            rec.rev += 1
            return rec


def iso_utc(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_local(epoch: float, tz: ZoneInfo) -> str:
    return datetime.fromtimestamp(int(epoch), tz).isoformat()
