"""The discrete-event simulator: replays a World against one real policy core on a simulated clock.

Per 60-second step (aligned, so every partner window holds whole steps; idle stretches are skipped): webhooks
that arrive call ``core.on_push``; app opens ask ``core.client_sync``; due connections are claimed in the
policy's priority order within each partner's remaining window tokens (as the real tick does with the
partner budgets) and fetched at their exact due times; every fetch is fed back through ``core.observe``.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from bench.sim.world import T0, World
from healthsync.scheduling.core import DAY, Core

FETCH_LATENCY_S = 2.0  # a fetch's request + upsert: upload at partner -> row in our database


@dataclass
class Window:
    limit: int
    seconds: float
    current: float = -1.0
    used: int = 0
    peak: float = 0.0

    def roll(self, t: float, step: float) -> None:
        """Enter the window holding ``t``. A window shorter than the step (Withings' minute) is enforced as its
        pro-rata share of the step, since fetches inside a step are spread over it at their due times."""
        span = max(self.seconds, step)
        wid = math.floor(t / span)
        if wid != self.current:
            self.current = wid
            self.used = 0
            self.cap = int(self.limit * span / self.seconds)

    cap: int = 0

    def note(self, measuring: bool) -> None:
        if measuring:
            self.peak = max(self.peak, self.used / self.cap)


def _ragged(starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenated ranges [s, s + l) for each pair."""
    total = int(lengths.sum())
    if total == 0:
        return np.zeros(0, np.int64)
    offsets = np.cumsum(lengths) - lengths
    return np.repeat(starts - offsets, lengths) + np.arange(total)


def simulate(world: World, core: Core, grace_days: float = 2.0, step: float = 300.0,
             progress: Callable[[float], None] | None = None, known_rates: bool = False,
             clients: bool = True, webhooks: bool = True) -> dict:
    cfg = world.config
    n = world.n
    horizon = T0 + cfg.total_days * DAY
    measure_from = T0 + cfg.warmup_days * DAY
    up_time = world.up_time + T0
    up_conn = world.up_conn
    K = cfg.total_days * DAY * 1.01 + 1e5
    key = up_conn * K + (up_time - T0)
    ptr = world.up_start[:-1].astype(np.int64).copy()
    end_idx = world.up_start[1:].astype(np.int64)
    wh_first = world.wh_first + T0
    wh_time, wh_conn = world.wh_time + T0, world.wh_conn
    app_time, app_conn = world.app_time + T0, world.app_conn
    if not clients:
        app_time = app_time[:0]
    if not webhooks:
        wh_time, wh_first = wh_time[:0], np.full(len(up_time), np.inf)
    synced = np.full(len(up_time), np.inf)
    partner = world.partner
    complete = core.complete
    windows = [[Window(lim, w) for lim, w in spec.app_limits] for spec in core.partners]

    st = core.new_state(n, partner, world.tz)
    core.start(st, np.arange(n), T0)
    m = {"requests": 0, "fetches": 0, "empty": 0, "http_429": 0, "client_allowed": 0, "client_refused": 0}
    per_partner_req = np.zeros(core.P, np.int64)
    rng = np.random.default_rng(cfg.seed + 99)

    def fetch(c: np.ndarray, tt: np.ndarray) -> None:
        if len(c) == 0:
            return
        p = partner[c]
        failed = np.zeros(len(c), bool)
        retry = np.full(len(c), np.nan)
        measuring = tt[0] >= measure_from
        for q in np.unique(p):
            sel = np.nonzero(p == q)[0]
            for w in windows[q]:
                room = w.cap - w.used
                if len(sel) > room:
                    over = sel[max(room, 0):]
                    failed[over] = True
                    retry[over] = (w.current + 1) * max(w.seconds, step) + rng.uniform(0, 30, len(over))
                w.used += len(sel)
                w.note(measuring)
        s = ptr[c]
        e = np.searchsorted(key, c * K + (tt - T0), side="right")
        e = np.clip(e, s, end_idx[c])
        e = np.where(failed, s, e)
        new = e - s
        r = _ragged(s, new)
        rep_t = np.repeat(tt, new)
        synced[r] = rep_t + FETCH_LATENCY_S
        owner = np.repeat(np.arange(len(c)), new)
        announced = np.bincount(owner, weights=wh_first[r] <= rep_t, minlength=len(c))
        keep = np.repeat(complete[p], new)
        times = (up_time[r][keep], np.where(complete[p], new, 0))
        ptr[c] = e
        core.observe(st, c, tt, new, times=times, announced=announced, failed=failed if failed.any() else None,
                     retry_at=retry if failed.any() else None)
        if measuring:
            m["requests"] += len(c)
            m["http_429"] += int(failed.sum())
            m["fetches"] += int((~failed).sum())
            m["empty"] += int(((new == 0) & ~failed).sum())
            np.add.at(per_partner_req, p, 1)

    wi = ai = 0
    t = T0
    next_control = T0
    next_report = T0
    wall = time.monotonic()
    while t < horizon:
        t_end = t + step
        nd = st.next_due.min()
        cand = min(nd, wh_time[wi] if wi < len(wh_time) else np.inf,
                   app_time[ai] if ai < len(app_time) else np.inf, next_control)
        if cand >= t_end:
            t = max(t_end, math.floor(cand / step) * step)
            continue
        measuring = t >= measure_from
        for ws in windows:
            for w in ws:
                w.roll(t, step)
        if t >= next_control:
            if known_rates:
                st.true_rate[:] = world.true_rate(t - T0)
            core.control(st, t)
            next_control = t + 15 * 60.0
        if progress and t >= next_report:
            progress((t - T0) / (horizon - T0))
            next_report = t + DAY
        j = np.searchsorted(wh_time, t_end, side="left")
        if j > wi:
            core.on_push(st, wh_conn[wi:j], wh_time[wi:j])
            wi = j
        room = {q: min([w.cap - w.used for w in windows[q]], default=1 << 30) for q in range(core.P)}
        batch_c, batch_t = [], []
        j = np.searchsorted(app_time, t_end, side="left")
        if j > ai:
            c, first = np.unique(app_conn[ai:j], return_index=True)
            tt = app_time[ai:j][first]
            ai = j
            tokens = np.array([room[q] for q in range(core.P)])
            ok, _ = core.client_sync(st, c, tt, tokens[partner[c]] > 0)
            if measuring:
                m["client_allowed"] += int(ok.sum())
                m["client_refused"] += int((~ok).sum())
            c, tt = c[ok], tt[ok]
            if len(c):
                batch_c.append(c)
                batch_t.append(tt)
                st.next_due[c] = np.inf  # fetched now; observe() sets the next due time
                for q, k in zip(*np.unique(partner[c], return_counts=True), strict=False):
                    room[q] -= k
        idx = np.nonzero(st.next_due < t_end)[0]
        if len(idx):
            p = partner[idx]
            for q in np.unique(p):
                sel = idx[p == q]
                if room[q] <= 0:
                    continue
                if len(sel) > room[q]:
                    pr = core.priority(st, sel, t)
                    sel = sel[np.argsort(-pr, kind="stable")[: room[q]]]
                batch_c.append(sel)
                batch_t.append(np.maximum(st.next_due[sel], t))
        if batch_c:
            c = np.concatenate(batch_c)
            tt = np.concatenate(batch_t)
            order = np.argsort(tt, kind="stable")
            fetch(c[order], tt[order])
        t = t_end
    wall = time.monotonic() - wall

    lo, hi = measure_from, horizon - grace_days * DAY
    in_m = (up_time >= lo) & (up_time < hi)
    ttd = synced[in_m] - up_time[in_m]
    captured = int(((up_time >= lo) & np.isfinite(synced) & (synced <= horizon)).sum())
    fin = np.isfinite(ttd)

    def pct(q: float) -> float | None:
        v = float(np.percentile(ttd, q)) if len(ttd) else float("nan")
        return round(v, 1) if math.isfinite(v) else None

    days = cfg.days
    out = {
        "requests": int(m["requests"]),
        "requests_per_upload": round(m["requests"] / max(captured, 1), 4),
        "wasted_poll_frac": round(m["empty"] / max(m["fetches"], 1), 4),
        "ttd_p50_s": pct(50),
        "ttd_p90_s": pct(90),
        "ttd_p99_s": pct(99),
        "lost_uploads": int((~fin).sum()),
        "http_429": int(m["http_429"]),
        "ttd_mean_s": round(float(ttd[fin].mean()), 1) if fin.any() else None,
        "requests_per_connection_day": round(m["requests"] / n / days, 4),
        "uploads": int(in_m.sum()),
        "captured_uploads": captured,
        "client_allowed": m["client_allowed"],
        "client_refused": m["client_refused"],
        "requests_by_partner": {s.slug: int(per_partner_req[i]) for i, s in enumerate(core.partners)},
        "peak_window_use": {
            s.slug: {f"{w.limit}/{int(w.seconds)}s": round(w.peak, 3) for w in windows[i]}
            for i, s in enumerate(core.partners)
        },
        "wall_s": round(wall, 1),
    }
    per_user = _per_user_p90(world, synced, up_time, in_m)
    out["worst_decile_user_p90_s"] = per_user
    return out


def _per_user_p90(world: World, synced: np.ndarray, up_time: np.ndarray, in_m: np.ndarray) -> float | None:
    """The 90th percentile, over users, of each user's p90 time-to-data (exposes starvation)."""
    conn = world.up_conn[in_m]
    ttd = synced[in_m] - up_time[in_m]
    if len(ttd) == 0:
        return None
    order = np.lexsort((ttd, conn))
    conn, ttd = conn[order], ttd[order]
    starts = np.searchsorted(conn, np.unique(conn))
    counts = np.diff(np.append(starts, len(conn)))
    p90 = ttd[starts + np.minimum((0.9 * counts).astype(int), counts - 1)]
    v = float(np.percentile(p90, 90))
    return round(v, 1) if math.isfinite(v) else None
