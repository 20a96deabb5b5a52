"""A small deterministic game server for the replay tests: the same request, the same answer.

Instrumented with reqtrail like any game server (records to the Kafka topic of its
``REQTRAIL_*`` environment). ``GAME_VARIANT=more-gold`` is the "new build" whose one
change a replay must find: finishing a won battle pays one more gold.

    python -m uvicorn tests.replay.game_server:create_app --factory --port 8000
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reqtrail.producers.asgi import RequestTrailMiddleware
from reqtrail.producers.pipeline import configure
from reqtrail.settings import load_settings


def _player(request: Request) -> str:
    return request.headers.get("x-user-id", "guest")


async def _json(request: Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


async def login(request: Request) -> JSONResponse:
    payload = await _json(request)
    player = str(payload.get("user_id") or _player(request))
    token = hashlib.sha256(player.encode()).hexdigest()[:16]
    return JSONResponse({"player": player, "session_token": token})


async def home(request: Request) -> JSONResponse:
    player = _player(request)
    return JSONResponse({"player": player, "gems": 10 * len(player), "stage": "1-3"})


async def inventory(request: Request) -> JSONResponse:
    items = [{"id": "potion", "count": 3}, {"id": "elixir", "count": 1}]
    if request.query_params.get("sort") == "name":
        items.sort(key=lambda item: str(item["id"]))
    return JSONResponse({"items": items})


async def battle_finish(request: Request) -> JSONResponse:
    payload = await _json(request)
    won = payload.get("result") == "win"
    gold = (500 if won else 50) + (
        1 if won and os.environ.get("GAME_VARIANT") == "more-gold" else 0
    )
    return JSONResponse(
        {
            "battle_id": request.path_params["battle_id"],
            "rewards": {"gold": gold, "exp": 120 if won else 10},
        }
    )


async def unit_upgrade(request: Request) -> JSONResponse:
    payload = await _json(request)
    return JSONResponse({"unit_id": request.path_params["unit_id"], "level": 2, **payload})


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


def create_app() -> Starlette:
    """The server, its records going to the pipeline built from the environment."""
    pipeline = configure(load_settings().replace(service="replay-test-game"))
    middleware = Middleware(RequestTrailMiddleware, pipeline=pipeline, skip_paths=["/health"])
    routes = [
        Route("/login", login, methods=["POST"]),
        Route("/home", home),
        Route("/inventory", inventory),
        Route("/battles/{battle_id}/finish", battle_finish, methods=["POST"]),
        Route("/units/{unit_id}/upgrade", unit_upgrade, methods=["POST"]),
        Route("/health", health),
    ]
    return Starlette(routes=routes, middleware=[middleware])
