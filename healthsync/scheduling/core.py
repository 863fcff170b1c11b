"""The pure core of every polling policy: state + observations + now -> next due time. No Django, no clock.

Everything is vectorised over connections (numpy arrays in a ``State``) so that the same classes serve the
production scheduler (a batch of one connection, loaded from and saved to ``PollingState`` rows by
``healthsync.scheduling.policy``) and the simulation benchmark (``bench.polling``: 20k+ connections and a
simulated clock). Times are float seconds since the Unix epoch (UTC); rates are events per day.

Policies (``POLICIES``):

- ``FixedCore``: one interval per partner.
- ``GroupsCore``: the 2013 thesis. Connections are re-clustered periodically (1-D k-means on the log of their
  observed update frequency) into k groups; each group waits ``factor`` × its mean inter-arrival time.
- ``NutchCore``: Apache Nutch's AdaptiveFetchSchedule (× (1 + inc) when unchanged, × (1 - dec) when changed).
- ``WebhookOnlyCore``: never polls; fetches only on a webhook.
- ``AdaptiveCore`` (the default): Gamma-Poisson rate per connection with forgetting (exact counts when the
  partner gives them, the changed/unchanged bit otherwise), a partner-wide hour-of-week shape in local time,
  harmonic/square-root allocation of the partner budget through one shadow price per partner (bisection
  controller), minimum and maximum intervals, an exploration bonus (upper posterior quantile plus a fast
  estimator, so a returning user is noticed quickly), and push awareness (poll only for what webhooks miss).
- ``KnownRateCore``: ``AdaptiveCore`` told the true current rates (a benchmark bound, not for production).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

DAY = 86400.0
HOUR = 3600.0
WEEK_HOURS = 168
_MONDAY_OFFSET_H = 72.0  # 1970-01-01 was a Thursday: shift so hour-of-week 0 is Monday 00:00


@dataclass(frozen=True)
class PartnerSpec:
    """What a policy must know about one partner."""

    slug: str
    app_limits: tuple[tuple[int, float], ...] = ()  # (requests, window seconds), fixed aligned windows
    user_limits: tuple[tuple[int, float], ...] = ()
    push: bool = False  # webhooks are configured and expected to work
    complete: bool = False  # a poll returns exact counts and times of new uploads (else only "changed?")
    interval: float = HOUR  # the fixed policy's interval, seconds
    min_interval: float = 5 * 60.0
    max_interval: float = DAY
    utilisation: float = 0.9  # share of the app-wide limit the speculative polls may plan to use

    def app_per_day(self) -> float:
        """The most requests a day the app-wide limits allow (inf when none)."""
        if not self.app_limits:
            return math.inf
        return min(n * DAY / w for n, w in self.app_limits)

    def user_min_interval(self) -> float:
        """The per-user limits as a minimum interval between polls of one connection."""
        if not self.user_limits:
            return 0.0
        return max(w / n for n, w in self.user_limits)


_FIELDS: dict[str, tuple[type, float]] = {
    "partner": (np.int16, 0),
    "tz": (np.float64, 0.0),  # the user's UTC offset, hours
    "mu": (np.float64, 1.0),  # importance weight
    "next_due": (np.float64, 0.0),
    "last_poll": (np.float64, np.nan),
    "last_hit": (np.float64, np.nan),
    "polls": (np.int64, 0),
    "hits": (np.int64, 0),
    "A": (np.float64, 0.0),  # slow Gamma pseudo-events
    "B": (np.float64, 0.0),  # slow Gamma exposure (shape-weighted days)
    "Af": (np.float64, 0.0),  # fast estimator
    "Bf": (np.float64, 0.0),
    "rate": (np.float64, np.nan),  # the rate the policy plans with (events/day), for operators and controllers
    "poll_rate": (np.float64, np.nan),  # planned polls/day
    "interval": (np.float64, np.nan),  # the policy's current interval (Nutch, groups, fixed), seconds
    "group": (np.int16, -1),
    "true_rate": (np.float64, np.nan),  # only KnownRateCore reads it
    "backoff_until": (np.float64, 0.0),
}


class State:
    """Per-connection policy state, one numpy array per field."""

    fields = tuple(_FIELDS)

    def __init__(self, n: int, **values: object) -> None:
        self.n = n
        for name, (dtype, default) in _FIELDS.items():
            setattr(self, name, np.full(n, default, dtype=dtype))
        for name, value in values.items():
            getattr(self, name)[:] = value

    def row(self, i: int) -> dict[str, float]:
        return {name: getattr(self, name)[i].item() for name in self.fields}


@dataclass
class Shared:
    """Partner-wide state: shadow prices, hour-of-week shapes, group centres, webhook miss statistics."""

    n_partners: int
    theta: np.ndarray = field(init=False)
    shape: np.ndarray = field(init=False)  # [P, 168], mean 1
    hist: np.ndarray = field(init=False)  # [P, 168] decayed event counts by local hour of week
    mean_rate: np.ndarray = field(init=False)
    push_found: np.ndarray = field(init=False)  # events found by any fetch (decayed)
    push_missed: np.ndarray = field(init=False)  # events a poll found that no webhook had announced (decayed)
    group_wait: list = field(init=False)  # per partner: array of k waits (seconds)
    group_centres: list = field(init=False)
    last_control: float = -math.inf
    last_recluster: float = -math.inf

    def __post_init__(self) -> None:
        p = self.n_partners
        self.theta = np.full(p, 1.0)
        self.shape = np.ones((p, WEEK_HOURS))
        self.hist = np.zeros((p, WEEK_HOURS))
        self.mean_rate = np.full(p, 1.0)
        self.push_found = np.zeros(p)
        self.push_missed = np.zeros(p)
        self.group_wait = [None] * p
        self.group_centres = [None] * p
        self._tables(np.arange(p))

    def _tables(self, partners: np.ndarray) -> None:
        """Cumulative tables of the shape (exposure) and of its square root (the warped poll clock)."""
        if not hasattr(self, "cum_s"):
            self.cum_s = np.zeros((self.n_partners, WEEK_HOURS + 1))
            self.cum_w = np.zeros((self.n_partners, WEEK_HOURS + 1))
        for p in partners:
            s = self.shape[p]
            self.cum_s[p, 1:] = np.cumsum(s) / 24.0  # shape-weighted days
            w = np.sqrt(s + 0.02)
            w = w / w.mean()
            self.cum_w[p, 1:] = np.cumsum(w) / 24.0
        # one globally sorted copy of the warped tables for vectorised inversion (row p offset by p * 100)
        self._flat_w = (self.cum_w + 100.0 * np.arange(self.n_partners)[:, None]).ravel()

    def to_json(self, p: int) -> dict:
        return {
            "theta": float(self.theta[p]),
            "shape": [round(float(x), 5) for x in self.shape[p]],
            "hist": [round(float(x), 4) for x in self.hist[p]],
            "mean_rate": float(self.mean_rate[p]),
            "push_found": float(self.push_found[p]),
            "push_missed": float(self.push_missed[p]),
            "group_wait": None if self.group_wait[p] is None else [float(x) for x in self.group_wait[p]],
            "group_centres": None if self.group_centres[p] is None else [float(x) for x in self.group_centres[p]],
        }

    def load_json(self, p: int, data: dict) -> None:
        if not data:
            return
        self.theta[p] = data.get("theta", 1.0)
        if data.get("shape"):
            self.shape[p] = data["shape"]
        if data.get("hist"):
            self.hist[p] = data["hist"]
        self.mean_rate[p] = data.get("mean_rate", 1.0)
        self.push_found[p] = data.get("push_found", 0.0)
        self.push_missed[p] = data.get("push_missed", 0.0)
        if data.get("group_wait") is not None:
            self.group_wait[p] = np.array(data["group_wait"])
            self.group_centres[p] = np.array(data["group_centres"])
        self._tables(np.array([p]))


def local_hours(t: np.ndarray, tz: np.ndarray) -> np.ndarray:
    """Hours since a Monday 00:00 local time (unbounded; take mod 168 for the hour of week)."""
    return t / HOUR + tz + _MONDAY_OFFSET_H


def _cum(table: np.ndarray, p: np.ndarray, h: np.ndarray) -> np.ndarray:
    """The cumulative table value at local hour ``h`` (unbounded, weeks included), per partner row."""
    weeks = np.floor(h / WEEK_HOURS)
    r = h - weeks * WEEK_HOURS
    k = np.minimum(r.astype(np.int64), WEEK_HOURS - 1)
    frac = r - k
    lo = table[p, k]
    return weeks * table[p, WEEK_HOURS] + lo + frac * (table[p, k + 1] - lo)


def sqrt_rate(mu: np.ndarray, delta: np.ndarray, theta: np.ndarray | float, power: float = 0.5) -> np.ndarray:
    """The square-root law, the optimum for mean time-to-data under a budget: rho = sqrt(μΔ/θ).
    ``power`` > 0.5 tilts polls toward fast changers (lower median delay, longer tail)."""
    return (mu * np.maximum(delta, 1e-9) / theta) ** power


def harmonic_rate(mu: np.ndarray, delta: np.ndarray, theta: np.ndarray | float) -> np.ndarray:
    """LambdaCrawl's optimum: rho = (-Δ + sqrt(Δ² + 4μΔ/θ)) / 2, written to stay exact for tiny Δ."""
    delta = np.maximum(delta, 1e-9)
    b = 4.0 * mu * delta / theta
    return b / (2.0 * (delta + np.sqrt(delta * delta + b)))


class Core:
    """Base policy. Subclasses override ``_plan`` (the next due time after an observation)."""

    name = "base"
    knob = ""  # the attribute the benchmark sweeps

    def __init__(self, partners: list[PartnerSpec], seed: int = 0) -> None:
        self.partners = partners
        self.P = len(partners)
        self.min_iv = np.array([max(s.min_interval, s.user_min_interval()) for s in partners])
        self.max_iv = np.array([s.max_interval for s in partners])
        self.push = np.array([s.push for s in partners])
        self.complete = np.array([s.complete for s in partners])
        self.shared = Shared(self.P)
        self.rng = np.random.default_rng(seed)
        self.debounce = 60.0  # a webhook's fetch waits this long to coalesce bursts and duplicates
        self.client_min_gap = 60.0

    # ---- lifecycle -------------------------------------------------------------------------------------------------
    def new_state(self, n: int, partner: np.ndarray, tz: np.ndarray | None = None) -> State:
        st = State(n, partner=partner, tz=0.0 if tz is None else tz)
        st.interval[:] = np.array([s.interval for s in self.partners])[st.partner]
        return st

    def start(self, st: State, idx: np.ndarray, now: float) -> np.ndarray:
        """A new connection: its first poll soon (spread over a few minutes), then the policy takes over."""
        st.last_poll[idx] = now
        due = now + self.rng.uniform(0, np.minimum(self.min_iv[st.partner[idx]], 600.0))
        st.next_due[idx] = due
        return due

    # ---- observations ----------------------------------------------------------------------------------------------
    def observe(
        self,
        st: State,
        idx: np.ndarray,
        now: float,
        new: np.ndarray,
        times: tuple[np.ndarray, np.ndarray] | None = None,
        announced: np.ndarray | None = None,
        failed: np.ndarray | None = None,
        retry_at: np.ndarray | None = None,
    ) -> np.ndarray:
        """A fetch of ``idx`` finished at ``now`` and found ``new`` upload events (a count; for a partner whose
        polls only tell "changed or not", any positive number means "changed"). ``times``: the events' exact
        times when known, as (flat times, count per connection); ``announced``: how many of them a webhook had
        announced. ``now`` may be one time or one per connection. Returns the next due times.
        """
        idx = np.asarray(idx)
        now = np.broadcast_to(np.asarray(now, dtype=np.float64), idx.shape).copy()
        new = np.asarray(new, dtype=np.float64)
        if failed is not None and failed.any():
            new = np.where(failed, 0.0, new)
            ok = ~failed
            if times is not None:
                flat, lengths = times
                keep = np.repeat(ok, lengths)
                times = (flat[keep], np.where(ok, lengths, 0)[ok])
        else:
            ok = np.ones(len(idx), bool)
        self._learn(st, idx[ok], now[ok], new[ok], times,
                    None if announced is None else np.asarray(announced)[ok])
        hit = new > 0
        st.polls[idx[ok]] += 1
        st.hits[idx[ok & hit]] += 1
        st.last_hit[idx[ok & hit]] = now[ok & hit]
        due = self._plan(st, idx, now, hit)
        due = np.clip(due, now + self.min_iv[st.partner[idx]], now + self.max_iv[st.partner[idx]])
        if failed is not None and failed.any():
            fails = failed
            back = now + np.minimum(self.max_iv[st.partner[idx]], 600.0 * 2.0 ** self.rng.uniform(0, 4, len(idx)))
            due = np.where(fails, np.maximum(due, back), due)
        if retry_at is not None:
            due = np.maximum(due, np.nan_to_num(retry_at, nan=0.0))
            st.backoff_until[idx] = np.nan_to_num(retry_at, nan=0.0)
        st.last_poll[idx[ok]] = now[ok]
        st.next_due[idx] = due
        return due

    def _learn(self, st: State, idx: np.ndarray, now: np.ndarray, new: np.ndarray,
               times: tuple[np.ndarray, np.ndarray] | None, announced: np.ndarray | None) -> None:
        """Default: count hits per observation window (for groups), nothing else."""

    def _plan(self, st: State, idx: np.ndarray, now: float, hit: np.ndarray) -> np.ndarray:
        return now + st.interval[idx]

    def on_push(self, st: State, idx: np.ndarray, now: float) -> np.ndarray:
        """A webhook for ``idx`` arrived at ``now``: fetch after a short debounce (earlier due stays)."""
        now = np.asarray(now, dtype=np.float64)
        due = np.minimum(st.next_due[idx], np.maximum(now + self.debounce, st.backoff_until[idx]))
        st.next_due[idx] = due
        return due

    def priority(self, st: State, idx: np.ndarray, now: float) -> np.ndarray:
        """Order of service when a partner's tokens are short: most overdue first."""
        return now - st.next_due[idx]

    def client_sync(self, st: State, idx: np.ndarray, now: float, tokens_ok: np.ndarray | bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
        """May a client's "sync now" run? Returns (allowed, next allowed time)."""
        earliest = np.maximum(np.nan_to_num(st.last_poll[idx], nan=-np.inf) + self.client_min_gap,
                              st.backoff_until[idx])
        allowed = (earliest <= now) & tokens_ok
        nxt = np.where(allowed, now, np.maximum(earliest, now + 1.0))
        return allowed, nxt

    def control(self, st: State, now: float, active: np.ndarray | None = None) -> None:
        """Periodic partner-wide step (clustering, shadow prices). ``active``: connections still pollable."""


class FixedCore(Core):
    name = "fixed"
    knob = "interval"

    def __init__(self, partners: list[PartnerSpec], interval: float | None = None, seed: int = 0) -> None:
        if interval is not None:
            partners = [_replace(s, interval=interval) for s in partners]
        super().__init__(partners, seed)

    def _plan(self, st: State, idx: np.ndarray, now: float, hit: np.ndarray) -> np.ndarray:
        iv = np.array([s.interval for s in self.partners])[st.partner[idx]]
        return now + iv * self.rng.uniform(0.9, 1.1, len(idx))  # spread connections that were due together


def _replace(spec: PartnerSpec, **changes: object) -> PartnerSpec:
    from dataclasses import replace

    return replace(spec, **changes)


class WebhookOnlyCore(Core):
    """Fetch on webhooks only; never a speculative poll."""

    name = "webhook-only"

    def __init__(self, partners: list[PartnerSpec], seed: int = 0) -> None:
        super().__init__([_replace(s, max_interval=1e12) for s in partners], seed)
        self.debounce = 0.0

    def start(self, st: State, idx: np.ndarray, now: float) -> np.ndarray:
        st.last_poll[idx] = now
        st.next_due[idx] = np.inf
        return st.next_due[idx]

    def _plan(self, st: State, idx: np.ndarray, now: float, hit: np.ndarray) -> np.ndarray:
        return np.full(len(idx), np.inf)

    def observe(self, st: State, idx: np.ndarray, now: float, new: np.ndarray, *args: object, **kw: object
                ) -> np.ndarray:
        due = super().observe(st, idx, now, new, *args, **kw)
        st.next_due[idx] = np.where(np.isfinite(st.backoff_until[idx]) & (st.backoff_until[idx] > now),
                                    st.backoff_until[idx], np.inf)
        return due


class NutchCore(Core):
    """Apache Nutch AdaptiveFetchSchedule: multiply the interval by (1 + inc) if unchanged, (1 - dec) if changed."""

    name = "nutch"
    knob = "inc"

    def __init__(self, partners: list[PartnerSpec], inc: float = 0.4, dec: float = 0.2,
                 start_interval: float = 6 * HOUR, seed: int = 0) -> None:
        super().__init__([_replace(s, interval=start_interval) for s in partners], seed)
        self.inc, self.dec = inc, dec

    def _plan(self, st: State, idx: np.ndarray, now: float, hit: np.ndarray) -> np.ndarray:
        p = st.partner[idx]
        iv = st.interval[idx] * np.where(hit, 1.0 - self.dec, 1.0 + self.inc)
        iv = np.clip(iv, self.min_iv[p], self.max_iv[p])
        st.interval[idx] = iv
        return now + iv


class GroupsCore(Core):
    """The thesis: k groups of similar update frequency, re-clustered periodically, one wait per group."""

    name = "groups"
    knob = "factor"

    def __init__(self, partners: list[PartnerSpec], k: int = 4, factor: float = 0.5, window_days: float = 14.0,
                 recluster_every: float = DAY, seed: int = 0) -> None:
        super().__init__(partners, seed)
        self.k, self.factor, self.window_days, self.recluster_every = k, factor, window_days, recluster_every

    def _learn(self, st: State, idx: np.ndarray, now: np.ndarray, new: np.ndarray,
               times: tuple[np.ndarray, np.ndarray] | None, announced: np.ndarray | None) -> None:
        # observed update frequency: decayed count of polls that found data over decayed observed time
        dt_days = (now - np.where(np.isnan(st.last_poll[idx]), now, st.last_poll[idx])) / DAY
        decay = np.exp(-dt_days / self.window_days)
        st.A[idx] = st.A[idx] * decay + (new > 0)
        st.B[idx] = st.B[idx] * decay + dt_days
        st.rate[idx] = (st.A[idx] + 0.1) / (st.B[idx] + 0.1)

    def _plan(self, st: State, idx: np.ndarray, now: float, hit: np.ndarray) -> np.ndarray:
        out = now + st.interval[idx]
        for p in np.unique(st.partner[idx]):
            waits = self.shared.group_wait[p]
            if waits is None:
                continue
            sel = st.partner[idx] == p
            g = _nearest(self.shared.group_centres[p], np.log(st.rate[idx[sel]]))
            st.group[idx[sel]] = g  # membership is assigned at the connection's next poll (the thesis' lag)
            out[sel] = (now[sel] if np.ndim(now) else now) + waits[g]
        return out

    def control(self, st: State, now: float, active: np.ndarray | None = None) -> None:
        if now - self.shared.last_recluster < self.recluster_every:
            return
        self.shared.last_recluster = now
        for p in range(self.P):
            sel = (st.partner == p) & np.isfinite(st.rate)
            if active is not None:
                sel &= active
            if sel.sum() < self.k:
                continue
            x = np.log(st.rate[sel])
            centres = kmeans_1d(x, self.k)
            rate = np.exp(centres)  # events per day
            wait = self.factor * DAY / rate  # factor × the group's mean inter-arrival time
            self.shared.group_centres[p] = centres
            self.shared.group_wait[p] = np.clip(wait, self.min_iv[p], self.max_iv[p])


def _nearest(centres: np.ndarray, x: np.ndarray) -> np.ndarray:
    return np.abs(x[:, None] - centres[None, :]).argmin(axis=1)


def kmeans_1d(x: np.ndarray, k: int, iterations: int = 30) -> np.ndarray:
    """Lloyd's algorithm in one dimension, seeded at quantiles; returns sorted centres."""
    centres = np.quantile(x, (np.arange(k) + 0.5) / k)
    for _ in range(iterations):
        g = _nearest(centres, x)
        new = np.array([x[g == j].mean() if (g == j).any() else centres[j] for j in range(k)])
        if np.allclose(new, centres):
            break
        centres = new
    return np.sort(centres)


class AdaptiveCore(Core):
    """Per-connection Gamma-Poisson rates, a partner hour-of-week shape, √-law budget allocation."""

    name = "adaptive"
    knob = "budget"

    def __init__(
        self,
        partners: list[PartnerSpec],
        budget: float = 4.0,  # planned speculative polls per active connection-day, at most (the knob)
        half_life_days: float = 21.0,
        fast_half_life_days: float = 2.0,
        prior_days: float = 1.0,
        fast_prior_days: float = 0.25,
        z: float = 1.0,  # exploration: upper posterior quantile, in standard deviations
        push_floor: float = 0.0,  # reconciliation polls per day a push connection gets beyond its misses
        power: float = 0.5,  # allocation exponent: 0.5 is the square-root law
        max_polls_per_event: float = 4.0,  # never plan more polls than this per expected event (value floor)
        control_every: float = 2 * HOUR,
        objective: str = "delay",  # "delay": the square-root law; "harmonic": LambdaCrawl's staleness optimum
        seed: int = 0,
    ) -> None:
        super().__init__(partners, seed)
        self.power = power
        self.kappa = max_polls_per_event
        if objective == "delay":
            self.alloc = lambda mu, lam, theta: np.minimum(sqrt_rate(mu, lam, theta, power), self.kappa * lam)
        else:
            self.alloc = lambda mu, lam, theta: np.minimum(harmonic_rate(mu, lam, theta), self.kappa * lam)
        self.budget = budget
        self.h_slow, self.h_fast = half_life_days, fast_half_life_days
        self.prior_days, self.fast_prior_days = prior_days, fast_prior_days
        self.z = z
        self.push_floor = push_floor
        self.control_every = control_every
        # until the first controller step: the price at which a connection at the partner's mean rate gets the
        # budget (sqrt(mu * m / theta) = budget), so a new connection is not left at the maximum interval
        self.shared.theta[:] = self.shared.mean_rate / budget**2

    # -- estimation --------------------------------------------------------------------------------------------------
    def exposure(self, st: State, idx: np.ndarray, t0: np.ndarray, t1: float | np.ndarray) -> np.ndarray:
        """Shape-weighted days between t0 and t1 in each connection's local time."""
        p, tz = st.partner[idx], st.tz[idx]
        return _cum(self.shared.cum_s, p, local_hours(np.asarray(t1, float), tz)) - _cum(
            self.shared.cum_s, p, local_hours(t0, tz))

    def estimate(self, st: State, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(posterior mean, planning rate with exploration bonus), events per day."""
        m = self.shared.mean_rate[st.partner[idx]]
        a0, b0 = m * self.prior_days, self.prior_days
        a0f, b0f = 0.1 * m * self.fast_prior_days, self.fast_prior_days  # the fast one barely trusts the prior
        mean = (a0 + st.A[idx]) / (b0 + st.B[idx])
        ucb = mean + self.z * np.sqrt(a0 + st.A[idx]) / (b0 + st.B[idx])
        fast = (a0f + st.Af[idx]) / (b0f + st.Bf[idx])
        return mean, np.maximum(ucb, fast)

    def _learn(self, st: State, idx: np.ndarray, now: np.ndarray, new: np.ndarray,
               times: tuple[np.ndarray, np.ndarray] | None, announced: np.ndarray | None) -> None:
        if len(idx) == 0:
            return
        last = np.where(np.isnan(st.last_poll[idx]), now - HOUR, st.last_poll[idx])
        e = np.maximum(self.exposure(st, idx, last, now), 1e-6)
        dt_days = np.maximum(now - last, 0.0) / DAY
        complete = self.complete[st.partner[idx]]
        mean, _ = self.estimate(st, idx)
        # one bit only: the expected number of events given "at least one" (an EM step on the censored count)
        x = np.maximum(mean * e, 1e-9)
        bit_count = np.where(new > 0, np.maximum(1.0, x / -np.expm1(-x)), 0.0)
        n = np.where(complete, new, bit_count)
        ds, df = 0.5 ** (dt_days / self.h_slow), 0.5 ** (dt_days / self.h_fast)
        st.A[idx] = st.A[idx] * ds + n
        st.B[idx] = st.B[idx] * ds + e
        st.Af[idx] = st.Af[idx] * df + n
        st.Bf[idx] = st.Bf[idx] * df + e
        # partner hour-of-week histogram, from exact times, or the middle of a short changed interval
        if times is not None and len(times[0]):
            flat, lengths = times
            tz = np.repeat(st.tz[idx], lengths)
            p = np.repeat(st.partner[idx], lengths)
            np.add.at(self.shared.hist, (p, (local_hours(flat, tz) % WEEK_HOURS).astype(np.int64)), 1.0)
        short = (new > 0) & ~complete & (now - last < 6 * HOUR)
        if short.any():
            mid = (now[short] + last[short]) / 2
            h = (local_hours(mid, st.tz[idx[short]]) % WEEK_HOURS).astype(np.int64)
            np.add.at(self.shared.hist, (st.partner[idx[short]], h), 1.0)
        if announced is not None:
            pushy = self.push[st.partner[idx]]
            if pushy.any():
                np.add.at(self.shared.push_found, st.partner[idx[pushy]], new[pushy])
                np.add.at(self.shared.push_missed, st.partner[idx[pushy]], np.maximum(new - announced, 0)[pushy])

    def planning_rate(self, st: State, idx: np.ndarray) -> np.ndarray:
        """The rate of events the polls must catch: all of them, or only what webhooks are expected to miss."""
        _, lam = self.estimate(st, idx)
        p = st.partner[idx]
        miss = (self.shared.push_missed[p] + 1.0) / (self.shared.push_found[p] + 20.0)  # Beta(1, 19) prior
        return np.where(self.push[p], miss * lam + self.push_floor, lam)

    # -- allocation --------------------------------------------------------------------------------------------------
    def poll_rate(self, st: State, idx: np.ndarray, lam: np.ndarray | None = None) -> np.ndarray:
        p = st.partner[idx]
        lam = self.planning_rate(st, idx) if lam is None else lam
        rho = self.alloc(st.mu[idx], lam, self.shared.theta[p])
        return np.clip(rho, DAY / self.max_iv[p], DAY / self.min_iv[p])

    def _plan(self, st: State, idx: np.ndarray, now: float, hit: np.ndarray) -> np.ndarray:
        lam = self.planning_rate(st, idx)
        rho = self.poll_rate(st, idx, lam)
        st.rate[idx] = lam
        st.poll_rate[idx] = rho
        # warped clock: poll density ∝ sqrt(shape) in local time, rho polls a day on average
        p, tz = st.partner[idx], st.tz[idx]
        h = local_hours(np.broadcast_to(now, idx.shape), tz)
        w_now = _cum(self.shared.cum_w, p, h)
        target = w_now + 1.0 / rho
        h_next = self._invert_w(p, target)
        return now + (h_next - h) * HOUR

    def _invert_w(self, p: np.ndarray, w: np.ndarray) -> np.ndarray:
        week_w = self.shared.cum_w[p, WEEK_HOURS]
        weeks = np.floor(w / week_w)
        r = w - weeks * week_w
        flat = self.shared._flat_w
        key = r + 100.0 * p
        pos = np.searchsorted(flat, key, side="right") - 1
        k = np.clip(pos - p * (WEEK_HOURS + 1), 0, WEEK_HOURS - 1)
        lo = self.shared.cum_w[p, k]
        hi = self.shared.cum_w[p, k + 1]
        frac = np.where(hi > lo, (r - lo) / np.maximum(hi - lo, 1e-12), 0.0)
        return (weeks * WEEK_HOURS + k + np.clip(frac, 0.0, 1.0)).astype(float)

    def priority(self, st: State, idx: np.ndarray, now: float) -> np.ndarray:
        """Expected pending events × weight: who gains most from one of the scarce tokens."""
        last = np.where(np.isnan(st.last_poll[idx]), now - DAY, st.last_poll[idx])
        _, lam = self.estimate(st, idx)
        return st.mu[idx] * lam * np.maximum(self.exposure(st, idx, last, now), 0.0)

    client_threshold = 0.01  # a client's "sync now" runs when at least this many events are expected to wait
    client_threshold_push = 0.1  # ... of events webhooks missed, where webhooks work

    def client_sync(self, st: State, idx: np.ndarray, now: float, tokens_ok: np.ndarray | bool = True
                    ) -> tuple[np.ndarray, np.ndarray]:
        """Allow a client's sync when new data is plausibly waiting (push-aware: with healthy webhooks little is);
        refuse with the time at which enough would be expected."""
        allowed, nxt = super().client_sync(st, idx, now, tokens_ok)
        now = np.broadcast_to(np.asarray(now, dtype=np.float64), np.shape(idx))
        last = np.where(np.isnan(st.last_poll[idx]), now - DAY, st.last_poll[idx])
        lam = np.maximum(self.planning_rate(st, idx), 1e-6)
        pending = lam * np.maximum(self.exposure(st, idx, last, now), 0.0)
        thr = np.where(self.push[st.partner[idx]], self.client_threshold_push, self.client_threshold)
        ok = allowed & (pending >= thr)
        later = np.minimum(last + thr / lam * DAY, last + self.max_iv[st.partner[idx]])
        nxt = np.where(ok, now, np.maximum(np.where(allowed, now + 1.0, nxt), later))
        return ok, nxt

    # -- control -----------------------------------------------------------------------------------------------------
    def target_polls(self, p: int, n_active: int, push_demand: float) -> float:
        """Speculative polls a day for partner ``p``: the operator's budget, within the partner's app-wide limits
        (less what webhook fetches are expected to take). When the anti-starvation floors alone would spend the
        operator's budget, half as much again is allowed (within the partner's limits), so that connections with
        data are never held at the floor."""
        spec = self.partners[p]
        cap = max(spec.app_per_day() * spec.utilisation - push_demand, 0.0)
        floors = n_active * DAY / self.max_iv[p]
        return min(max(self.budget * n_active, 1.5 * floors), cap)

    def control(self, st: State, now: float, active: np.ndarray | None = None) -> None:
        if now - self.shared.last_control < self.control_every:
            return
        elapsed = now - self.shared.last_control if math.isfinite(self.shared.last_control) else 0.0
        self.shared.last_control = now
        decay = 0.5 ** (elapsed / DAY / 14.0)
        for p in range(self.P):
            sel = st.partner == p
            if active is not None:
                sel &= active
            idx = np.nonzero(sel)[0]
            if len(idx) == 0:
                continue
            # hour-of-week shape from the pooled histogram, shrunk toward flat and smoothed over ±1 hour
            hist = self.shared.hist[p]
            if hist.sum() > 50:
                sm = (np.roll(hist, 1) + 2 * hist + np.roll(hist, -1)) / 4
                prior = sm.sum() * 0.05 / WEEK_HOURS
                s = (sm + prior) / (sm + prior).mean()
                self.shared.shape[p] = s
                self.shared._tables(np.array([p]))
            self.shared.hist[p] *= decay
            self.shared.push_found[p] *= decay
            self.shared.push_missed[p] *= decay
            mean, _ = self.estimate(st, idx)
            self.shared.mean_rate[p] = float(np.clip(np.median(mean), 0.05, 20.0))
            push_demand = float(mean.sum()) if self.push[p] else 0.0
            self.shared.theta[p] = self.solve_theta(st, idx, self.target_polls(p, len(idx), push_demand))

    def solve_theta(self, st: State, idx: np.ndarray, target: float) -> float:
        """The shadow price at which the planned polls (after clamping) add up to ``target`` a day."""
        lam = self.planning_rate(st, idx)
        lo, hi = -30.0, 30.0  # log theta
        mu = st.mu[idx]
        p = st.partner[idx]
        floor, ceil = DAY / self.max_iv[p], DAY / self.min_iv[p]
        if np.clip(self.alloc(mu, lam, math.exp(hi)), floor, ceil).sum() >= target:
            return math.exp(hi)  # even the floors spend the budget
        for _ in range(40):
            mid = (lo + hi) / 2
            total = np.clip(self.alloc(mu, lam, math.exp(mid)), floor, ceil).sum()
            if total > target:
                lo = mid
            else:
                hi = mid
        return math.exp(hi)


class KnownRateCore(AdaptiveCore):
    """AdaptiveCore given each connection's true current rate (``State.true_rate``): the estimation bound."""

    name = "adaptive-true"

    def estimate(self, st: State, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        r = np.maximum(np.nan_to_num(st.true_rate[idx], nan=0.0), 1e-4)
        return r, r


POLICIES: dict[str, type[Core]] = {
    c.name: c for c in (FixedCore, GroupsCore, NutchCore, WebhookOnlyCore, AdaptiveCore, KnownRateCore)
}
