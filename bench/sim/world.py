"""A random world: connections, their uploads at the partner, webhook deliveries and app opens.

Generated once per (config, seed) and replayed identically for every policy (common random numbers).
Times are seconds since the simulation start, which is a Monday 00:00 UTC.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from healthsync.scheduling.core import DAY, HOUR, WEEK_HOURS, PartnerSpec

T0 = 1_704_067_200.0  # 2024-01-01 00:00 UTC, a Monday; the policy core runs on Unix time


def _day(peaks: dict[tuple[int, int], float], base: float) -> np.ndarray:
    d = np.full(24, base)
    for (a, b), v in peaks.items():
        d[a:b] = v
    return d


def _week(day: np.ndarray, weekday_mult: list[float] | None = None, weekend: np.ndarray | None = None) -> np.ndarray:
    days = [day.copy() for _ in range(7)]
    if weekend is not None:
        days[5], days[6] = weekend.copy(), weekend.copy()
    if weekday_mult:
        days = [d * m for d, m in zip(days, weekday_mult, strict=False)]
    w = np.concatenate(days)
    return w / w.mean()


# hour-of-week intensity shapes, local time, mean 1
SHAPES = {
    "daily": _week(_day({(0, 1): 0.4, (1, 6): 0.05, (6, 10): 2.6, (10, 18): 0.9, (18, 20): 1.2, (20, 23): 2.2}, 0.5)),
    "dumper": _week(_day({(1, 7): 0.02, (7, 17): 0.6, (17, 23): 2.5}, 0.3)),
    "weigh": _week(_day({(0, 5): 0.01, (5, 6): 1.0, (6, 9): 5.0, (9, 12): 1.0, (21, 23): 0.6}, 0.25)),
    "athlete": _week(_day({(0, 5): 0.01, (6, 8): 1.0, (12, 13): 0.8, (17, 21): 3.0}, 0.2),
                     weekday_mult=[0.9, 1.3, 0.9, 1.2, 0.8, 1.0, 1.1],
                     weekend=_day({(0, 6): 0.01, (8, 13): 3.5, (13, 18): 1.5}, 0.2)),
}


def partner_specs() -> list[PartnerSpec]:
    """The simulated partners with their real limits (reads; see polling.md §6)."""
    return [
        # a tracker with one-bit observations (e.g. Fitbit: "changed since lastSyncTime?"), 150/user/hour
        PartnerSpec("fitbit", app_limits=(), user_limits=((150, 3600.0),), push=True, complete=False,
                    min_interval=5 * 60.0, max_interval=DAY),
        # Withings: 120/minute across the application; measure groups carry exact times
        PartnerSpec("withings", app_limits=((120, 60.0),), push=True, complete=True,
                    min_interval=5 * 60.0, max_interval=DAY),
        # Strava: 100 reads per 15 minutes and 1,000 a day per application; activities carry exact times
        PartnerSpec("strava", app_limits=((100, 900.0), (1000, DAY)), push=True, complete=True,
                    min_interval=10 * 60.0, max_interval=2 * DAY),
    ]


@dataclass
class WorldConfig:
    connections: int = 20_000
    days: float = 60.0
    warmup_days: float = 14.0
    seed: int = 1
    sigma: float = 0.8  # log-normal spread of rates within a segment
    dormant_start: float = 0.25  # share of connections dormant at the start
    dormancy_6mo: float = 0.35  # six-month hazard of going dormant
    intermittent: float = 0.15  # share of users who switch on and off (mean 12 days on, 15 off)
    webhook_loss: float = 0.05
    webhook_dup: float = 0.03
    webhook_delay_median_s: float = 20.0
    app_opens_per_day: float = 0.5
    mix: dict = field(default_factory=lambda: {"daily": 0.45, "dumper": 0.15, "weigh": 0.30, "athlete": 0.10})

    @property
    def total_days(self) -> float:
        return self.warmup_days + self.days


SEGMENT_PARTNER = {"daily": 0, "dumper": 0, "weigh": 1, "athlete": 2}


@dataclass
class World:
    config: WorldConfig
    partners: list[PartnerSpec]
    partner: np.ndarray  # per connection
    segment: np.ndarray  # index into SEGMENTS
    tz: np.ndarray  # hours
    rate: np.ndarray  # active upload rate, events/day
    switches: np.ndarray  # [N, K] activity switch times (inf padded); active at t iff initial xor odd count
    active0: np.ndarray
    up_conn: np.ndarray  # uploads sorted by (conn, time)
    up_time: np.ndarray
    up_start: np.ndarray  # per connection: first upload index (len N + 1)
    wh_time: np.ndarray  # webhook deliveries sorted by time (duplicates included)
    wh_conn: np.ndarray
    wh_first: np.ndarray  # per upload: first webhook arrival (inf when lost)
    app_time: np.ndarray  # app opens ("sync now" requests) sorted by time
    app_conn: np.ndarray

    @property
    def n(self) -> int:
        return len(self.partner)

    def active_at(self, t: float) -> np.ndarray:
        flips = (self.switches <= t).sum(axis=1)
        return self.active0 ^ (flips % 2 == 1)

    def true_rate(self, t: float) -> np.ndarray:
        return np.where(self.active_at(t), self.rate, 0.0)


SEGMENTS = ("daily", "dumper", "weigh", "athlete")


def build(config: WorldConfig, perfect_push: bool = False) -> World:
    rng = np.random.default_rng(config.seed)
    n = config.connections
    horizon = config.total_days * DAY
    names = list(config.mix)
    probs = np.array([config.mix[k] for k in names], float)
    seg = rng.choice(len(names), size=n, p=probs / probs.sum())
    seg = np.array([SEGMENTS.index(names[s]) for s in seg])
    partner = np.array([SEGMENT_PARTNER[SEGMENTS[s]] for s in seg], dtype=np.int16)
    tz = rng.choice([-8, -7, -6, -5, -3, 0, 1, 2, 3, 5.5, 8, 9], size=n,
                    p=[0.1, 0.05, 0.1, 0.15, 0.05, 0.1, 0.15, 0.1, 0.05, 0.05, 0.05, 0.05]).astype(float)
    median = np.array([3.0, 1 / 6.0, 0.4, 0.5])[seg]  # daily, dumper (one dump every ~6 days), weigh, athlete
    rate = median * np.exp(rng.normal(0, config.sigma, n))
    rate = np.where(seg == 1, 1 / rng.uniform(2, 10, n), rate)
    rate = np.where(seg == 3, rng.uniform(1, 6, n) / 7 * np.exp(rng.normal(0, config.sigma / 2, n)), rate)
    rate = np.clip(rate, 0.02, 20.0)

    # on/off activity: a churn hazard for everyone, fast switching for the intermittent
    h_off = -np.log(1 - config.dormancy_6mo) / 182.0
    intermittent = rng.random(n) < config.intermittent
    mean_on = np.where(intermittent, 12.0, 1 / h_off)
    mean_off = np.where(intermittent, 15.0, 40.0)
    active0 = rng.random(n) >= config.dormant_start
    k = 24
    draws = rng.exponential(1.0, (n, k))
    scale = np.empty((n, k))
    scale[:, 0::2] = np.where(active0, mean_on, mean_off)[:, None]
    scale[:, 1::2] = np.where(active0, mean_off, mean_on)[:, None]
    switches = np.cumsum(draws * scale * DAY, axis=1)
    switches[switches > horizon] = np.inf

    # uploads: hourly bins of a non-homogeneous Poisson process in local time, dumps as a renewal process
    hours = int(np.ceil(horizon / HOUR))
    times, conns = [], []
    chunk = 2000
    for a in range(0, n, chunk):
        b = min(n, a + chunk)
        h = np.arange(hours)[None, :]
        local = ((h + tz[a:b, None] + 0) % WEEK_HOURS).astype(int)  # t=0 is Monday 00:00 UTC
        shape = np.stack([SHAPES[s] for s in SEGMENTS])[seg[a:b, None], local]
        mid = (h + 0.5) * HOUR
        flips = (switches[a:b, :, None] <= mid[:, None, :]).sum(axis=1)
        act = active0[a:b, None] ^ (flips % 2 == 1)
        lam = rate[a:b, None] * shape / 24.0 * act
        lam[seg[a:b] == 1] = 0.0
        cnt = rng.poisson(lam)
        ci, hi = np.nonzero(cnt)
        reps = cnt[ci, hi]
        conns.append(np.repeat(ci + a, reps))
        times.append((np.repeat(hi, reps) + rng.random(reps.sum())) * HOUR)
    dumpers = np.nonzero(seg == 1)[0]
    for i in dumpers:  # a week's data uploaded at once, in the evening, every 2-10 days while active
        t = rng.uniform(0, 1 / rate[i]) * DAY
        out = []
        while t < horizon:
            day0 = np.floor((t / HOUR + tz[i]) / 24) * 24
            when = (day0 + rng.uniform(18, 23) - tz[i]) * HOUR
            if 0 <= when < horizon:
                out.append(when)
            t += rng.uniform(0.5, 1.5) / rate[i] * DAY
        if out:
            out = np.array(out)
            flips = (switches[i][None, :] <= out[:, None]).sum(axis=1)
            out = out[active0[i] ^ (flips % 2 == 1)]
            conns.append(np.full(len(out), i))
            times.append(out)
    up_conn = np.concatenate(conns)
    up_time = np.concatenate(times)
    order = np.lexsort((up_time, up_conn))
    up_conn, up_time = up_conn[order], up_time[order]
    up_start = np.searchsorted(up_conn, np.arange(n + 1))

    # webhooks: lost, delayed (log-normal), duplicated
    m = len(up_time)
    if perfect_push:
        delivered = np.ones(m, bool)
        delay = np.zeros(m)
        dup = np.zeros(m, bool)
    else:
        delivered = rng.random(m) >= config.webhook_loss
        delay = config.webhook_delay_median_s * np.exp(rng.normal(0, 1.2, m))
        dup = delivered & (rng.random(m) < config.webhook_dup)
    first = np.where(delivered, up_time + delay, np.inf)
    dup_t = first[dup] + rng.exponential(300.0, dup.sum())
    wh_time = np.concatenate([first[delivered], dup_t])
    wh_conn = np.concatenate([up_conn[delivered], up_conn[dup]])
    o = np.argsort(wh_time, kind="stable")

    # app opens: independent ones in waking hours, plus some right after a tracker sync (the app syncs the device)
    opens_t, opens_c = [], []
    exp_opens = config.app_opens_per_day * config.total_days
    cnt = rng.poisson(exp_opens, n)
    oc = np.repeat(np.arange(n), cnt)
    ot = rng.uniform(0, horizon, cnt.sum())
    local_h = ((ot / HOUR + tz[oc]) % 24)
    keep = (local_h > 7) & (local_h < 23)
    flips = (switches[oc] <= ot[:, None]).sum(axis=1)
    keep &= active0[oc] ^ (flips % 2 == 1)
    opens_t.append(ot[keep])
    opens_c.append(oc[keep])
    coupled = (partner[up_conn] == 0) & (rng.random(m) < 0.3)
    opens_t.append(up_time[coupled] + rng.uniform(5, 60, coupled.sum()))
    opens_c.append(up_conn[coupled])
    app_time = np.concatenate(opens_t)
    app_conn = np.concatenate(opens_c)
    ao = np.argsort(app_time, kind="stable")

    return World(config, partner_specs(), partner, seg, tz, rate, switches, active0, up_conn, up_time, up_start,
                 wh_time[o], wh_conn[o], first, app_time[ao], app_conn[ao])
