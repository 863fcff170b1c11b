"""HTTP control API under ``/_emulator/`` (JSON), shared by every partner emulator."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from .push import PushConfig
from .state import EmulatorState


def _err(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status)


async def _json(request: Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ValueError("body must be a JSON object")
    return data


def control_routes(state: EmulatorState) -> list[Route]:
    async def users(request: Request) -> JSONResponse:
        return JSONResponse(state.users())

    async def clock(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                body = await _json(request)
            except ValueError as exc:
                return _err(str(exc))
            if "freeze" in body:
                state.clock.freeze(bool(body["freeze"]))
            if "set" in body:
                state.clock.set(float(body["set"]))
            if "advance" in body:
                state.clock.advance(float(body["advance"]))
            state.world.ensure()
        return JSONResponse(state.clock.as_dict())

    def mutation(action: str):  # noqa: ANN202
        async def handler(request: Request) -> JSONResponse:
            try:
                body = await _json(request)
                user = str(body.pop("user"))
                if action == "upload":
                    return JSONResponse(state.upload(user, str(body.pop("kind")), **body))
                if action == "update":
                    fields = body.pop("fields", {})
                    return JSONResponse(
                        state.update(
                            user,
                            str(body.pop("kind")),
                            body.pop("id", None),
                            body.pop("day", None),
                            **{**body, **fields},
                        )
                    )
                return JSONResponse(state.delete(user, str(body["kind"]), body["id"]))
            except KeyError as exc:
                return _err(f"not found or missing field: {exc}", 404)
            except (ValueError, TypeError) as exc:
                return _err(str(exc))

        return handler

    async def truth(request: Request) -> JSONResponse:
        user = request.query_params.get("user")
        if not user:
            return _err("user is required")
        try:
            return JSONResponse(state.truth(user))
        except KeyError as exc:
            return _err(str(exc), 404)

    async def faults(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            state.clear_faults()
        elif request.method == "POST":
            try:
                state.set_faults(**await _json(request))
            except (ValueError, TypeError) as exc:
                return _err(str(exc))
        return JSONResponse(state.faults.config.as_dict())

    async def revoke(request: Request) -> JSONResponse:
        try:
            body = await _json(request)
            return JSONResponse({"revoked": state.revoke(str(body["user"]))})
        except (KeyError, ValueError) as exc:
            return _err(str(exc), 404)

    async def expire(request: Request) -> JSONResponse:
        try:
            body = await _json(request) if await request.body() else {}
            user = body.get("user")
            return JSONResponse({"expired": state.expire(str(user) if user is not None else None)})
        except (KeyError, ValueError) as exc:
            return _err(str(exc), 404)

    async def requests(request: Request) -> JSONResponse:
        if request.method == "DELETE":
            state.stats.reset()
        return JSONResponse(state.requests_report())

    async def push(request: Request) -> JSONResponse:
        if request.method == "POST":
            try:
                state.pusher.configure(PushConfig.from_dict(await _json(request)))
            except (ValueError, TypeError) as exc:
                return _err(str(exc))
        return JSONResponse(state.pusher.report(with_log=request.query_params.get("log") == "1"))

    async def push_scan(request: Request) -> JSONResponse:
        return JSONResponse({"sent": state.pusher.scan() if state.pusher.started else 0})

    async def push_replay(request: Request) -> JSONResponse:
        import asyncio

        try:
            body = await _json(request)
            status = await asyncio.to_thread(state.pusher.replay, int(body["id"]))
        except (KeyError, ValueError, StopIteration) as exc:
            return _err(f"no such delivery: {exc}", 404)
        return JSONResponse({"status": status})

    return [
        Route("/_emulator/push", push, methods=["GET", "POST"]),
        Route("/_emulator/push/scan", push_scan, methods=["POST"]),
        Route("/_emulator/push/replay", push_replay, methods=["POST"]),
        Route("/_emulator/users", users),
        Route("/_emulator/clock", clock, methods=["GET", "POST"]),
        Route("/_emulator/upload", mutation("upload"), methods=["POST"]),
        Route("/_emulator/update", mutation("update"), methods=["POST"]),
        Route("/_emulator/delete", mutation("delete"), methods=["POST"]),
        Route("/_emulator/truth", truth),
        Route("/_emulator/faults", faults, methods=["GET", "POST", "DELETE"]),
        Route("/_emulator/revoke", revoke, methods=["POST"]),
        Route("/_emulator/expire", expire, methods=["POST"]),
        Route("/_emulator/requests", requests, methods=["GET", "DELETE"]),
    ]
