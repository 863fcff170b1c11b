"""Polling benchmark: every policy against the identical random world (same seed), through the real cores.

    .venv/bin/python -m bench.polling --connections 20000 --days 60 --seed 1 --json var/bench/polling.json

Two worlds share the population, uploads and app opens:
- "poll": no webhooks (pure polling, where the allocation matters): fixed intervals (and one budget-matched
  to adaptive), the thesis' groups, Nutch, adaptive, adaptive given the true rates; each swept over its knob
  for the Pareto plot;
- "push": webhooks that lose 5%, delay (log-normal) and duplicate 3%: webhook-only, adaptive (push-aware),
  fixed 1 h, and the push oracle (one fetch per upload, at upload time).
Writes a table to stdout, a JSON file (``{"config", "policies", "sweeps", "targets"}``) and PNG plots beside it.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from bench.sim.engine import simulate
from bench.sim.world import WorldConfig, build, partner_specs
from healthsync.scheduling import core as C

H = 3600.0
PUSH_MAX_INTERVAL = 4 * 86400.0
GRACE_DAYS = 4.0  # uploads in the last days before the horizon are not yet due anywhere: not counted as lost
_WORLDS: dict = {}


def _world(cfg: WorldConfig, perfect: bool):  # noqa: ANN202 - cached per process
    key = (json.dumps(dataclasses.asdict(cfg), sort_keys=True), perfect)
    if key not in _WORLDS:
        _WORLDS[key] = build(cfg, perfect_push=perfect)
    return _WORLDS[key]


def make_core(kind: str, push: bool, knob: float | None, **options: float):  # noqa: ANN201
    # with working webhooks, the anti-starvation floor can be long: a poll only reconciles what push missed
    specs = [dataclasses.replace(s, push=push, max_interval=PUSH_MAX_INTERVAL if push else s.max_interval)
             for s in partner_specs()]
    if kind == "fixed":
        return C.FixedCore(specs, interval=knob)
    if kind == "groups":
        return C.GroupsCore(specs, factor=knob if knob is not None else 0.5)
    if kind == "nutch":
        return C.NutchCore(specs, inc=knob if knob is not None else 0.4)
    if kind == "adaptive":
        return C.AdaptiveCore(specs, budget=knob if knob is not None else 6.0, **options)
    if kind == "adaptive-true":
        return C.KnownRateCore(specs, budget=knob if knob is not None else 6.0, **options)
    if kind in ("webhook-only", "push-oracle"):
        return C.WebhookOnlyCore(specs)
    raise ValueError(kind)


def run_one(job: tuple) -> tuple[str, dict]:
    label, kind, world_kind, knob, cfg = job
    perfect = kind == "push-oracle"
    world = _world(cfg, perfect)
    core = make_core(kind, push=world_kind == "push", knob=knob)
    res = simulate(world, core, known_rates=kind == "adaptive-true", webhooks=world_kind == "push",
                   grace_days=GRACE_DAYS,
                   clients=kind != "push-oracle")
    res.update({"world": world_kind, "policy": kind, "knob": knob})
    print(f"  done {label:<28} {res['wall_s']:6.1f}s  req/conn-day {res['requests_per_connection_day']:7.3f}  "
          f"p50 {_fmt(res['ttd_p50_s'])}", flush=True)
    return label, res


def _fmt(s: float | None) -> str:
    if s is None:
        return "never"
    if s < 120:
        return f"{s:.0f}s"
    if s < 7200:
        return f"{s / 60:.1f}m"
    return f"{s / 3600:.1f}h"


def _run(jobs: list[tuple], workers: int) -> dict[str, dict]:
    if workers <= 1:
        return dict(run_one(j) for j in jobs)
    with ProcessPoolExecutor(workers) as pool:
        return dict(pool.map(run_one, jobs))


def _interp_knob(points: list[tuple[float, float]], target: float) -> float:
    """The knob (log-interpolated) at which requests equal ``target``; points: (knob, requests)."""
    pts = sorted(points, key=lambda p: p[1])
    xs = [math.log(p[1]) for p in pts]
    ys = [math.log(p[0]) for p in pts]
    return float(math.exp(np.interp(math.log(target), xs, ys)))


def _requests_at(points: list[tuple[float, float]], p50: float) -> float:
    """Requests (log-interpolated) a swept policy needs for a p50 time-to-data; points: (requests, p50)."""
    pts = sorted([p for p in points if p[1]], key=lambda p: p[1])
    return float(math.exp(np.interp(math.log(p50), [math.log(p[1]) for p in pts],
                                    [math.log(p[0]) for p in pts])))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=20_000)
    ap.add_argument("--days", type=float, default=60.0, help="measured days, after the warm-up")
    ap.add_argument("--warmup", type=float, default=14.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--json", default="var/bench/polling.json")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--no-plots", action="store_true")
    args = ap.parse_args(argv)
    cfg = WorldConfig(connections=args.connections, days=args.days, warmup_days=args.warmup, seed=args.seed)
    t0 = time.monotonic()
    print(f"world: {cfg.connections} connections, {cfg.warmup_days:g}+{cfg.days:g} days, seed {cfg.seed}", flush=True)
    world = _world(cfg, False)
    print(f"  {len(world.up_time)} uploads, {len(world.wh_time)} webhook deliveries, {len(world.app_time)} app opens "
          f"({time.monotonic() - t0:.1f}s)", flush=True)

    sweeps = {
        "fixed": [1 * H, 3 * H, 6 * H, 12 * H],
        "groups": [0.25, 0.5, 1.0, 2.0],
        "nutch": [0.1, 0.2, 0.4, 0.8],
        "adaptive": [1.5, 3.0, 6.0, 12.0],
        "adaptive-true": [3.0, 6.0],
    }
    jobs = [(f"{k}@{v:g}", k, "poll", v, cfg) for k, vs in sweeps.items() for v in vs]
    jobs += [(f"push:{k}", k, "push", None, cfg) for k in ("webhook-only", "adaptive", "push-oracle")]
    jobs += [("push:fixed-1h", "fixed", "push", 1 * H, cfg)]
    cost = {"fixed@3600": 0, "adaptive@12": 1, "adaptive@6": 2, "adaptive-true@6": 3, "fixed@10800": 4}
    jobs.sort(key=lambda j: cost.get(j[0], 10))  # longest first, for balance
    print(f"phase 1: {len(jobs)} simulations on {args.workers} workers", flush=True)
    res = _run(jobs, args.workers)

    # budget-matched fixed interval: the interval whose requests equal adaptive's at its default budget
    adaptive = res["adaptive@6"]
    fixed_pts = [(v, res[f"fixed@{v:g}"]["requests"]) for v in sweeps["fixed"]]
    matched = _interp_knob(fixed_pts, adaptive["requests"])
    print(f"phase 2: budget-matched fixed interval {matched / 60:.1f} min", flush=True)
    label, r = run_one(("fixed-matched", "fixed", "poll", matched, cfg))
    res[label] = r

    table = {
        "fixed-1h": res["fixed@3600"],
        "fixed-6h": res["fixed@21600"],
        "fixed-matched": res["fixed-matched"],
        "groups": res["groups@0.5"],
        "nutch": res["nutch@0.4"],
        "adaptive": res["adaptive@6"],
        "adaptive-true": res["adaptive-true@6"],
        "push:webhook-only": res["push:webhook-only"],
        "push:fixed-1h": res["push:fixed-1h"],
        "push:adaptive": res["push:adaptive"],
        "push:oracle": res["push:push-oracle"],
    }
    targets = evaluate(res, sweeps, table)
    out = {
        "config": {**dataclasses.asdict(cfg), "partners": [dataclasses.asdict(s) for s in partner_specs()],
                   "fixed_matched_interval_s": round(matched, 1), "wall_s": round(time.monotonic() - t0, 1)},
        "policies": table,
        "sweeps": {k: [res[f"{k}@{v:g}"] for v in vs] for k, vs in sweeps.items()},
        "targets": targets,
    }
    path = Path(args.json)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=1, allow_nan=False, default=_json_default))
    print_table(table)
    print()
    for name, t in targets.items():
        print(f"{'MET ' if t['met'] else 'MISS'} {name}: {t['detail']}")
    if not args.no_plots:
        plot(out, path.with_suffix(""))
    print(f"\nwrote {path} ({time.monotonic() - t0:.0f}s)")
    return 0


def _json_default(o: object) -> object:
    if isinstance(o, np.generic):
        return o.item()
    raise TypeError(type(o))


def evaluate(res: dict, sweeps: dict, table: dict) -> dict:
    a, f = table["adaptive"], table["fixed-matched"]
    t = {}
    t["adaptive p50 <= 0.5x budget-matched fixed, p90 no worse"] = {
        "met": a["ttd_p50_s"] <= 0.5 * f["ttd_p50_s"] and a["ttd_p90_s"] <= f["ttd_p90_s"],
        "detail": f"p50 {a['ttd_p50_s']:.0f}s vs {f['ttd_p50_s']:.0f}s ({a['ttd_p50_s'] / f['ttd_p50_s']:.2f}x), "
                  f"p90 {a['ttd_p90_s']:.0f}s vs {f['ttd_p90_s']:.0f}s, requests {a['requests']} vs {f['requests']}",
    }
    g_pts = [(r["requests"], r["ttd_p50_s"]) for r in (res[f"groups@{v:g}"] for v in sweeps["groups"])]
    a_pts = [(r["requests"], r["ttd_p50_s"]) for r in (res[f"adaptive@{v:g}"] for v in sweeps["adaptive"])]
    ratios = []
    for req, p50 in g_pts:
        lo, hi = min(p[1] for p in a_pts), max(p[1] for p in a_pts)
        if lo <= p50 <= hi:
            ratios.append((p50, req / _requests_at(a_pts, p50)))
    best = min((r for _, r in ratios), default=float("nan"))
    t["adaptive needs >= 1.5x fewer requests than groups at equal p50"] = {
        "met": bool(ratios) and best >= 1.5,
        "detail": ", ".join(f"p50 {_fmt(p)}: {r:.2f}x" for p, r in ratios) or "no overlapping p50 range",
    }
    pa, po = table["push:adaptive"], table["push:oracle"]
    t["push (5% loss): zero lost, requests <= 1.2x push oracle"] = {
        "met": pa["lost_uploads"] == 0 and pa["requests"] <= 1.2 * po["requests"],
        "detail": f"lost {pa['lost_uploads']}, requests {pa['requests']} vs oracle {po['requests']} "
                  f"({pa['requests'] / max(po['requests'], 1):.2f}x); webhook-only lost "
                  f"{table['push:webhook-only']['lost_uploads']}",
    }
    k = table["adaptive-true"]
    gap = a["ttd_mean_s"] / k["ttd_mean_s"] - 1
    t["adaptive cost within 15% of known rates (mean time-to-data at its budget)"] = {
        "met": gap <= 0.15 and a["requests"] <= 1.15 * k["requests"],
        "detail": f"mean TTD {a['ttd_mean_s']:.0f}s vs {k['ttd_mean_s']:.0f}s (+{gap * 100:.0f}%), requests "
                  f"{a['requests']} vs {k['requests']}",
    }
    return t


def print_table(table: dict) -> None:
    head = (f"{'policy':<20}{'requests':>10}{'req/upl':>8}{'wasted':>8}{'p50':>8}{'p90':>8}{'p99':>8}{'lost':>7}"
            f"{'429':>6}  peak window use")
    print("\n" + head)
    print("-" * len(head))
    for name, r in table.items():
        peaks = ", ".join(f"{p} {w}: {v:.0%}" for p, ws in r["peak_window_use"].items() for w, v in ws.items())
        print(f"{name:<20}{r['requests']:>10}{r['requests_per_upload']:>8.2f}{r['wasted_poll_frac']:>8.1%}"
              f"{_fmt(r['ttd_p50_s']):>8}{_fmt(r['ttd_p90_s']):>8}{_fmt(r['ttd_p99_s']):>8}{r['lost_uploads']:>7}"
              f"{r['http_429']:>6}  {peaks}")


def plot(out: dict, stem: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(12, 4.5))
    days = out["config"]["days"] * out["config"]["connections"]
    for ax, q in zip(axes, ("ttd_p50_s", "ttd_p90_s"), strict=True):
        for name, runs in out["sweeps"].items():
            pts = sorted((r["requests"] / days, r[q] / 3600) for r in runs if r[q] is not None)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", label=name)
        f = out["policies"]["fixed-matched"]
        ax.scatter([f["requests"] / days], [f[q] / 3600], marker="x", s=80, color="k", label="fixed (matched)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("requests per connection-day")
        ax.set_ylabel(f"time-to-data {q[4:7]} (hours)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle("Polling without webhooks: requests vs time-to-data (each policy swept over its knob)")
    fig.tight_layout()
    fig.savefig(f"{stem}-pareto.png", dpi=110)
    print(f"wrote {stem}-pareto.png")


if __name__ == "__main__":
    sys.exit(main())
