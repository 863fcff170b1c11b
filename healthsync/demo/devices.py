"""Simulated devices for the demo: the connected people keep walking, training and weighing themselves.

The devices run on an accelerated clock (``speed`` simulated seconds per real second, 60 by default: a
person's hour every real minute). Each simulated hour a person's watch or ring adds that hour's steps and
calories to today's totals (Withings, Oura); a workout is recorded with the person's usual probability per
waking hour (Strava, Oura), a weigh-in once per simulated morning (Withings). Uploads go straight into the
emulators' in-process worlds, stamped at the real time, so the partners serve them exactly like data from a
real device: healthsync only sees them when it polls.
"""

from __future__ import annotations

import logging
import random
import threading
from collections import Counter
from typing import Any

from healthsync.emulators import EmulatorServer
from healthsync.models import Connection

log = logging.getLogger(__name__)

#: which record kinds each partner's device produces
DEVICE_KINDS = {"strava": ("workout",), "withings": ("daily", "weight"), "oura": ("daily", "workout")}


class DeviceSimulator:
    def __init__(self, emulators: dict[str, EmulatorServer], speed: float = 60.0, seed: int = 2013) -> None:
        self.emulators = emulators
        self.speed = speed
        self.random = random.Random(seed)
        self.uploads: Counter[str] = Counter()
        self.simulated_hours = 0
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    @property
    def real_seconds_per_hour(self) -> float:
        return 3600.0 / self.speed

    def connected_partner_users(self) -> dict[str, list[str]]:
        """Per partner: the emulator users some demo user has connected (only their uploads matter)."""
        out: dict[str, list[str]] = {}
        for slug, external in Connection.objects.exclude(status=Connection.Status.REVOKED).values_list(
            "provider", "external_user_id"
        ):
            if slug in self.emulators and external:
                out.setdefault(slug, []).append(external)
        return out

    def hour(self) -> Counter[str]:
        """One simulated hour for every connected person; returns what was uploaded."""
        done: Counter[str] = Counter()
        self.simulated_hours += 1
        for slug, externals in self.connected_partner_users().items():
            state = self.emulators[slug].state
            for external in externals:
                try:
                    person = state.world.user(external)
                except KeyError:
                    continue
                for kind in DEVICE_KINDS.get(slug, ()):
                    if self._device_hour(state, person, kind):
                        done[f"{slug} {kind}"] += 1
        self.uploads.update(done)
        return done

    def _device_hour(self, state: Any, person: Any, kind: str) -> bool:
        r, profile = self.random, person.profile
        world = state.world
        if kind == "daily":
            record = world.update(person, "daily", None, None, {})  # today's totals as the device last saw them
            steps = int(profile.steps_mean / 15 * r.uniform(0.3, 1.8))
            data = record.data
            world.update(person, "daily", None, None, {
                "steps": int(data.get("steps") or 0) + steps,
                "distance": round(float(data.get("distance") or 0) + steps * 0.74, 1),
                "active_calories": round(float(data.get("active_calories") or 0) + steps * 0.045, 1),
                "total_calories": round(float(data.get("total_calories") or 0) + steps * 0.045 + 70, 1),
            })
            return True
        if kind == "workout":
            if r.random() < profile.workouts_per_week / 7 / 6:  # about their weekly habit, over ~6 active hours
                state.upload(person.username, "workout")
                return True
            return False
        if kind == "weight" and (self.simulated_hours % 24 == 7 or r.random() < 0.02):  # the morning weigh-in
            drift = r.gauss(0, 0.35)
            state.upload(person.username, "weight", weight_kg=round(profile.weight_kg + drift, 1))
            return True
        return False

    def run_forever(self) -> None:
        while not self.stopping.wait(self.real_seconds_per_hour):
            try:
                self.hour()
            except Exception:  # the demo keeps going; the next hour tries again
                log.exception("device simulation hour failed")

    def start(self) -> None:
        self.thread = threading.Thread(target=self.run_forever, name="demo-devices", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
