"""A person in a real browser: log in, connect Strava on its consent page, sync now, see the chart.

The app runs on pytest-django's live server (a real HTTP server in a thread), the Strava emulator on its own
port; chromium goes through the same redirects a person's browser would. The final page is saved as
``artifacts/browser/connect-sync.png`` and checked not to be blank.
"""

from __future__ import annotations

import pytest
from PIL import Image, ImageStat

from healthsync.models import Connection, SyncRun, Workout

pytestmark = pytest.mark.django_db(transaction=True)


def not_blank(path) -> None:  # noqa: ANN001
    image = Image.open(path).convert("RGB")
    width, height = image.size
    assert width >= 800 and height >= 600, image.size
    colours = image.convert("P", palette=Image.Palette.ADAPTIVE, colors=64).getcolors()
    assert colours is not None and len(colours) >= 8, "the screenshot has almost no colours: blank?"
    spread = ImageStat.Stat(image).stddev
    assert max(spread) > 20, f"the screenshot is nearly uniform (stddev {spread})"


def test_connect_strava_and_sync_now_in_a_real_browser(browser, live_server, partner_factory, django_user_model,
                                                       artifacts):
    strava = partner_factory("strava")
    django_user_model.objects.create_user("alice", password="correct horse")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    try:
        # log in
        page.goto(live_server.url + "/")
        assert "/accounts/login/" in page.url
        page.fill("#id_username", "alice")
        page.fill("#id_password", "correct horse")
        page.click("button[type=submit]")
        page.wait_for_url(live_server.url + "/")
        assert page.locator("#service-strava").get_by_text("Not connected").is_visible()

        # connect: our connect view sends the browser to the partner's consent page
        page.get_by_role("link", name="Connect Strava").click()
        page.wait_for_url(strava.url + "/**")
        assert page.get_by_role("button", name="Authorize").is_visible()
        page.screenshot(path=artifacts / "consent.png")
        page.get_by_role("button", name="Authorize").click()

        # back at the diary, connected
        page.wait_for_url(live_server.url + "/")
        assert "Strava is connected" in page.locator(".messages").inner_text()
        card = page.locator("#service-strava")
        assert card.locator(".badge").inner_text().strip() == "Connected"
        assert Connection.objects.get(provider="strava").status == Connection.Status.ACTIVE

        # sync now: the page reloads with the synced data
        card.get_by_role("button", name="Sync now").click()
        page.wait_for_selector(".messages li.success:has-text('Synced Strava')")
        run = SyncRun.objects.get(trigger=SyncRun.Trigger.CLIENT)
        assert run.outcome == SyncRun.Outcome.SUCCESS, run.error
        workouts = Workout.objects.filter(provider="strava").count()
        assert workouts > 0

        chart = page.locator("#chart-workouts")
        chart.scroll_into_view_if_needed()
        assert int(chart.get_attribute("data-points")) > 0
        assert chart.locator("rect.hs-bar").count() > 0
        assert "workouts" in page.locator("#card-workouts").inner_text()
    finally:
        final = artifacts / "connect-sync.png"
        page.screenshot(path=final, full_page=True)
        context.close()
    not_blank(final)
