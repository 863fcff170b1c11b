"""Fetching one endpoint: the window from its cursor, then the paging loop, then mapping to records."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from healthsync.http.errors import MalformedResponse
from healthsync.models import HealthRecord
from healthsync.providers.declarations import Endpoint, dig
from healthsync.providers.mapping import SkipRecord
from healthsync.sync.session import PartnerSession

MAX_SKIP_REASONS = 20  # kept per endpoint on the run record; the count is always exact


@dataclass
class Window:
    start: dt.datetime | None  # None: the endpoint is not incremental, every fetch is a full snapshot
    began_at: dt.datetime  # the next cursor, once this window's data is stored


@dataclass
class Batch:
    records: list[HealthRecord] = field(default_factory=list)
    skipped: int = 0
    skip_reasons: list[str] = field(default_factory=list)

    def skip(self, reason: str) -> None:
        self.skipped += 1
        if len(self.skip_reasons) < MAX_SKIP_REASONS:
            self.skip_reasons.append(reason)


def window_for(endpoint: Endpoint, cursor: str, backfill: dt.timedelta, now: dt.datetime) -> Window:
    if endpoint.since is None:
        return Window(None, now)
    start = dt.datetime.fromisoformat(cursor) - endpoint.since.lookback if cursor else now - backfill
    return Window(start, now)


def fetch_raw(session: PartnerSession, endpoint: Endpoint, window: Window) -> list[Any]:
    """Every raw record of the window, across all pages. Raises on any failure: a partial window is unsafe."""
    params: dict[str, Any] | None = {
        **endpoint.params,
        **endpoint.page.first_params(),
        **(endpoint.since.params(window.start, window.began_at) if window.start else {}),
    }
    items: list[Any] = []
    while params is not None:
        data = session.call(endpoint.path, session.provider.request_params(endpoint, params), endpoint.method)
        try:
            page = dig(data, endpoint.records)
        except (KeyError, TypeError, IndexError):
            raise MalformedResponse(f"no {endpoint.records!r} list in the {endpoint.name} answer") from None
        if not isinstance(page, list):
            raise MalformedResponse(f"{endpoint.name}: expected a list of records, got {type(page).__name__}")
        items.extend(page)
        params = endpoint.page.next_params(params, data, page)
    return items


def map_records(endpoint: Endpoint, items: Iterable[Any]) -> Batch:
    """Run the provider's pure mapper over each raw record; a bad record is skipped with its reason."""
    batch = Batch()
    for raw in items:
        try:
            produced = endpoint.mapper(raw)
            produced = [] if produced is None else [produced] if isinstance(produced, HealthRecord) else produced
            for item in produced:
                if isinstance(item, SkipRecord):
                    batch.skip(f"{endpoint.name}: {item}")
                else:
                    batch.records.append(item)
        except SkipRecord as exc:
            batch.skip(f"{endpoint.name}: {exc}")
        except (KeyError, TypeError, ValueError, AttributeError, OverflowError) as exc:
            batch.skip(f"{endpoint.name}: bad record ({type(exc).__name__}: {exc}) id={_raw_id(raw)}")
    return batch


def _raw_id(raw: Any) -> str:
    return str(raw.get("id") or raw.get("grpid") or raw.get("date") or "?") if isinstance(raw, dict) else "?"
