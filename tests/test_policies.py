"""Policy invariants on the pure cores (the classes the scheduler and the benchmark both run).

Never below the minimum interval or above the maximum; never planning over a partner's budget; a connection
with new data is never starved; the fast estimator notices a returning user; the simulation is reproducible.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from healthsync.scheduling import core as C

DAY, HOUR = C.DAY, C.HOUR
NOW = 1_704_067_200.0


def specs(push: bool = False) -> list[C.PartnerSpec]:
    return [
        C.PartnerSpec("a", user_limits=((150, 3600.0),), push=push, min_interval=300.0, max_interval=DAY),
        C.PartnerSpec("b", app_limits=((100, 900.0), (1000, DAY)), push=push, complete=True,
                      min_interval=600.0, max_interval=2 * DAY),
    ]


def cores(push: bool = False) -> list[C.Core]:
    s = specs(push)
    return [C.FixedCore(s), C.GroupsCore(s, recluster_every=HOUR), C.NutchCore(s), C.AdaptiveCore(s, budget=5.0)]


observations = st.lists(
    st.tuples(st.integers(0, 5), st.floats(1.0, 3 * DAY), st.booleans()), min_size=1, max_size=40
)


@pytest.mark.parametrize("which", range(4))
@settings(max_examples=40, deadline=None)
@given(obs=observations, tz=st.sampled_from([-8.0, 0.0, 5.5, 9.0]), partner=st.sampled_from([0, 1]))
def test_due_time_stays_within_min_and_max_interval(which: int, obs: list, tz: float, partner: int) -> None:
    core = cores()[which]
    state = core.new_state(3, np.full(3, partner), np.full(3, tz))
    idx = np.arange(3)
    now = NOW
    core.start(state, idx, now)
    for new, gap, failed in obs:
        now += gap
        core.control(state, now)
        due = core.observe(state, idx, now, np.full(3, new), failed=np.full(3, failed) if failed else None)
        lo = now + core.min_iv[partner]
        hi = now + core.max_iv[partner]
        assert np.all(due >= lo - 1e-6), (due - now, core.min_iv[partner])
        if not failed:
            assert np.all(due <= hi + 1e-6), (due - now, core.max_iv[partner])


def test_webhook_only_never_polls_and_fetches_on_push() -> None:
    core = C.WebhookOnlyCore(specs(push=True))
    state = core.new_state(2, np.zeros(2, dtype=int))
    core.start(state, np.arange(2), NOW)
    assert np.all(np.isinf(state.next_due))
    core.observe(state, np.arange(2), NOW + 10, np.array([1, 0]))
    assert np.all(np.isinf(state.next_due))
    due = core.on_push(state, np.array([1]), NOW + 100)
    assert due[0] == NOW + 100


@settings(max_examples=30, deadline=None)
@given(rates=st.lists(st.floats(0.0, 30.0), min_size=5, max_size=200), budget=st.floats(0.5, 20.0),
       partner=st.sampled_from([0, 1]))
def test_planned_polls_never_exceed_the_partner_budget(rates: list, budget: float, partner: int) -> None:
    core = C.AdaptiveCore(specs(), budget=budget)
    n = len(rates)
    state = core.new_state(n, np.full(n, partner))
    idx = np.arange(n)
    state.A[:] = np.array(rates) * 10
    state.B[:] = 10
    spec = core.partners[partner]
    target = core.target_polls(partner, n, 0.0)
    theta = core.solve_theta(state, idx, target)
    core.shared.theta[partner] = theta
    planned = core.poll_rate(state, idx).sum()
    floors = n * DAY / core.max_iv[partner]
    # the clamped plan meets the budget unless the anti-starvation floors alone exceed it
    assert planned <= max(target, floors) * 1.001 + 1e-9
    assert target <= spec.app_per_day() * spec.utilisation + 1e-9
    assert target <= max(budget * n, 1.5 * floors) + 1e-9


def test_budget_controller_keeps_strava_like_partner_under_its_daily_limit() -> None:
    core = C.AdaptiveCore(specs(), budget=50.0)  # asks for far more than 1,000 a day allow
    n = 2000
    state = core.new_state(n, np.ones(n, dtype=int))
    state.A[:] = np.random.default_rng(1).gamma(2.0, 2.0, n) * 10
    state.B[:] = 10
    core.control(state, NOW)
    planned = core.poll_rate(state, np.arange(n)).sum()
    assert planned <= 1000 * 0.9 * 1.001 or planned <= n * DAY / core.max_iv[1] + 1e-6


def test_sqrt_law_gives_faster_changers_more_polls_but_less_per_event() -> None:
    core = C.AdaptiveCore(specs(), budget=4.0)
    state = core.new_state(3, np.zeros(3, dtype=int))
    state.A[:] = [1, 10, 100]
    state.B[:] = 20
    core.shared.theta[0] = core.solve_theta(state, np.arange(3), 12.0)
    rho = core.poll_rate(state, np.arange(3))
    lam = core.planning_rate(state, np.arange(3))
    assert rho[0] < rho[1] < rho[2]
    assert rho[0] / lam[0] > rho[2] / lam[2]


def test_connection_with_new_data_is_never_starved() -> None:
    """Even at a budget that cannot cover everyone, a connection finding data keeps being polled within the
    maximum interval, and more often than a silent one."""
    core = C.AdaptiveCore(specs(), budget=0.5)
    n = 50
    state = core.new_state(n, np.zeros(n, dtype=int))
    idx = np.arange(n)
    core.start(state, idx, NOW)
    t = NOW
    polls = np.zeros(n)
    rng = np.random.default_rng(3)
    while t < NOW + 20 * DAY:
        t += 300
        core.control(state, t)
        due = np.nonzero(state.next_due <= t)[0]
        if len(due):
            new = np.where(due == 0, rng.poisson(2.0, len(due)), 0)  # only connection 0 ever has data
            gaps = t - state.last_poll[due]
            assert np.all(gaps <= core.max_iv[0] + 300 + 1e-6)
            core.observe(state, due, t, new)
            polls[due] += 1
    assert polls[0] > 3 * np.median(polls[1:])


def test_returning_user_is_noticed_quickly() -> None:
    """A dormant connection is still polled at the maximum interval (so a return is noticed within it), and after
    three silent weeks one poll that finds data raises its planned rate above every silent connection's."""
    core = C.AdaptiveCore(specs(), budget=4.0)
    n = 20
    state = core.new_state(n, np.zeros(n, dtype=int))
    idx = np.arange(n)
    core.start(state, idx, NOW)
    t = NOW
    for _ in range(21):
        t += DAY
        core.control(state, t)
        core.observe(state, idx, t, np.zeros(n))
    silent = state.next_due[1:] - t
    assert np.all(silent <= core.max_iv[0] + 1e-6)
    t += 600
    core.observe(state, idx[:1], t, np.array([1]))
    awake = state.next_due[0] - t
    assert awake < silent.min()
    assert state.poll_rate[0] > 1.05 * np.nanmax(state.poll_rate[1:])


def test_known_counts_move_the_estimate_more_than_one_bit() -> None:
    core = C.AdaptiveCore(specs(), budget=4.0)
    state = core.new_state(2, np.array([1, 0]))  # partner b gives counts, partner a only "changed"
    idx = np.arange(2)
    core.start(state, idx, NOW)
    core.observe(state, idx, NOW + DAY, np.array([10, 10]))
    mean, _ = core.estimate(state, idx)
    assert mean[0] > mean[1]


def test_push_aware_adaptive_polls_much_less_than_without_push() -> None:
    rates = np.full(100, 3.0)
    out = {}
    for push in (False, True):
        core = C.AdaptiveCore(specs(push), budget=6.0)
        state = core.new_state(100, np.zeros(100, dtype=int))
        state.A[:] = rates * 20
        state.B[:] = 20
        core.control(state, NOW)
        out[push] = core.poll_rate(state, np.arange(100)).sum()
    assert out[True] < out[False] / 3


def test_client_sync_refuses_right_after_a_poll_and_tells_when() -> None:
    core = C.AdaptiveCore(specs(), budget=4.0)
    state = core.new_state(1, np.zeros(1, dtype=int))
    idx = np.arange(1)
    core.start(state, idx, NOW)
    core.observe(state, idx, NOW + HOUR, np.array([0]))
    ok, nxt = core.client_sync(state, idx, NOW + HOUR + 10)
    assert not ok[0] and nxt[0] > NOW + HOUR + 10
    ok, _ = core.client_sync(state, idx, float(nxt[0]) + 1)
    assert ok[0]


def test_groups_recluster_into_k_groups_with_shorter_waits_for_faster_groups() -> None:
    core = C.GroupsCore(specs(), k=3, factor=0.5, recluster_every=HOUR)
    n = 300
    state = core.new_state(n, np.zeros(n, dtype=int))
    state.rate[:] = np.repeat([0.1, 1.0, 10.0], 100)
    core.control(state, NOW)
    waits = core.shared.group_wait[0]
    assert len(waits) == 3 and waits[0] > waits[1] > waits[2]


def test_simulation_is_reproducible_and_adaptive_beats_fixed_at_equal_budget() -> None:
    from bench.sim.engine import simulate
    from bench.sim.world import WorldConfig, build, partner_specs

    cfg = WorldConfig(connections=300, days=6, warmup_days=3, seed=5)
    world = build(cfg)
    nopush = [dataclasses.replace(s, push=False) for s in partner_specs()]
    a1 = simulate(world, C.AdaptiveCore(nopush, budget=6.0), webhooks=False)
    a2 = simulate(build(cfg), C.AdaptiveCore(nopush, budget=6.0), webhooks=False)
    assert {k: a1[k] for k in ("requests", "ttd_p50_s")} == {k: a2[k] for k in ("requests", "ttd_p50_s")}
    per_day = a1["requests_per_connection_day"]
    f = simulate(world, C.FixedCore(nopush, interval=DAY / max(per_day - 0.5, 0.5)), webhooks=False)
    assert a1["ttd_mean_s"] < f["ttd_mean_s"] * 1.05
