"""The main job, as a person sees it: the demo's diary and operator dashboard in a real browser, updating live.

Runs the demo in-process (emulators, the app on a threaded server, demo users connected through OAuth, the
first sync), opens the pages in chromium, then lets the simulated devices upload and the worker sync: the open
diary must reload by itself with the new data. Screenshots: ``artifacts/browser/demo-diary.png`` and
``artifacts/browser/demo-operator.png``.
"""

from __future__ import annotations

import copy
import random
import socket
import time

import pytest

from healthsync.demo.run import PASSWORD, Demo
from healthsync.models import SyncRun, WebhookEvent
from tests.browser.test_connect_sync import not_blank

pytestmark = pytest.mark.django_db(transaction=True)


def free_ports(count: int) -> int:
    """The first of ``count`` consecutive free ports on loopback."""
    for _ in range(200):
        first = random.randint(20000, 40000)
        ok = True
        for port in range(first, first + count):
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    ok = False
                    break
        if ok:
            return first
    raise RuntimeError("no free ports")


@pytest.fixture
def demo(settings):  # noqa: ANN001, ANN201
    settings.HEALTHSYNC = copy.deepcopy(settings.HEALTHSYNC)  # the demo points providers at its emulators
    base = free_ports(4)
    demo = Demo(users=2, port=base + 3, emulator_port=base)
    try:
        demo.start()
        names = demo.create_users()
        assert demo.connect_users(names) == 5  # demo1: Strava, Withings, Oura; demo2: Strava, Oura
        runs = demo.sync_all()
        assert {r.outcome for r in runs} == {SyncRun.Outcome.SUCCESS}, [r.error for r in runs]
        assert demo.setup_push() == ["strava", "withings", "oura"]
        yield demo
    finally:
        demo.stop()


def login(page, url: str, username: str, password: str, target: str = "/") -> None:  # noqa: ANN001
    page.goto(f"{url}/accounts/login/?next={target}")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url(url + target)


def test_demo_diary_and_dashboard_show_data_and_update_live(browser, demo, artifacts):
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        login(page, demo.url, "demo1", PASSWORD)
        for chart_id in ("chart-steps", "chart-calories", "chart-workouts", "chart-sleep", "chart-weight"):
            assert int(page.get_attribute(f"#{chart_id}", "data-points")) > 0, chart_id
        for name in ("Strava", "Withings", "Oura"):
            assert page.locator(f"#service-{name.lower()} .badge").inner_text().strip() == "Connected"

        # devices upload (an accelerated hour), the partners notify us, the worker syncs: the page reloads itself
        with page.expect_event("load", timeout=30_000):
            demo.devices.hour()
            deadline = time.monotonic() + 20
            while not WebhookEvent.objects.exists() and time.monotonic() < deadline:
                time.sleep(0.2)
            assert WebhookEvent.objects.exists(), "no push notification arrived"
            demo.sync_all()
        assert page.locator("#chart-steps").is_visible()
        page.screenshot(path=artifacts / "demo-diary.png", full_page=True)

        operator = context.new_page()
        login(operator, demo.url, "admin", "admin", "/healthsync/dashboard/?window=15m")
        for chart_id in ("chart-outcomes", "chart-efficiency", "chart-requests", "chart-webhooks"):
            assert int(operator.get_attribute(f"#{chart_id}", "data-points")) > 0, chart_id
        assert "demo1" in operator.locator("#recent-runs").inner_text()
        operator.screenshot(path=artifacts / "demo-operator.png", full_page=True)
    finally:
        context.close()
    not_blank(artifacts / "demo-diary.png")
    not_blank(artifacts / "demo-operator.png")
