"""Small helpers shared by the partner modules."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request


async def params(request: Request) -> dict[str, str]:
    """Query parameters merged with a form-encoded body (the body wins)."""
    out = dict(request.query_params)
    if request.method in ("POST", "PUT"):
        ctype = request.headers.get("content-type", "")
        if "form" in ctype or not ctype:
            form = await request.form()
            out.update({k: str(v) for k, v in form.items()})
    return out


def to_int(value: Any) -> int | None:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return None
