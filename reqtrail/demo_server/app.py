"""A small mobile-game API server that logs every request through reqtrail.

Endpoints (JSON in, JSON out)::

    POST /login                       device login, returns a session token and profile
    GET  /home                        home screen: stamina, banners, mail, friends
    POST /gacha/draw                  1 or 10 draws on a banner (10-draws are sometimes slow)
    POST /battles/start               a stage with a party of units
    POST /battles/{battle_id}/finish  rewards; crashes now and then (500, sent to Sentry)
    POST /units/{unit_id}/upgrade     spend materials to level a unit (sometimes slow)
    POST /shop/purchase               verifies a store receipt (slow: an "external" call)
    GET  /health                      for load balancers (not logged)
    GET  /_reqtrail/stats             the pipeline's counters (not logged)

Two releases in one process: the record's ``app_version`` is the server's release
(``REQTRAIL_APP_VERSION``), and — the demo sets ``app_version_header = x-app-version`` unless
configured — a request may name the release it is served as with ``X-App-Version``; the
locustfile spreads players over two releases that way.  The newer release (any version >=
``NEW_RELEASE``) is deliberately worse: slower gacha and more crashes when finishing
battles, so the dashboard has something to find when comparing versions.  Running two
server processes with different ``REQTRAIL_APP_VERSION`` (and no header) works as well.

For the release gate, ``REQTRAIL_DEMO_REGRESSED_RELEASES`` names releases (comma separated)
served with two deliberate regressions: ``/battles/start`` takes 50 % longer, and upgrading
a unit with more than 15 materials fails with a 500 (a new code path).

Run it:  ``reqtrail demo-server --port 8000`` (uvicorn).  Sentry is initialised when
``SENTRY_DSN`` is set.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import random
import time
from typing import Any

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from reqtrail.producers.asgi import RequestTrailMiddleware
from reqtrail.producers.cycle import report_exception
from reqtrail.producers.pipeline import RecordPipeline, configure
from reqtrail.settings import Settings, load_settings

STATS_PATH = "/_reqtrail/stats"
UNLOGGED_PATHS = ("/health", STATS_PATH)
NEW_RELEASE = (1, 5)
# Chance that finishing a battle crashes, for old and new releases
# (REQTRAIL_DEMO_CRASH_CHANCE overrides the new release's; tests raise it).
CRASH_CHANCE = {"old": 0.01, "new": float(os.environ.get("REQTRAIL_DEMO_CRASH_CHANCE", "0.08"))}
# Multiplies every simulated delay (REQTRAIL_DEMO_TIME_SCALE; tests use 0).
TIME_SCALE = float(os.environ.get("REQTRAIL_DEMO_TIME_SCALE", "1.0"))
REGRESSED_RELEASES = frozenset(
    v.strip()
    for v in os.environ.get("REQTRAIL_DEMO_REGRESSED_RELEASES", "").split(",")
    if v.strip()
)
DEFAULT_APP_VERSION = "1.4.2"
BANNERS = ["summer-festival", "dragon-legends", "standard"]
RARITIES = [("SSR", 0.03), ("SR", 0.17), ("R", 0.80)]
PRODUCTS = {"gems-60": 0.99, "gems-330": 4.99, "gems-1000": 14.99, "starter-pack": 2.99}


class RewardCalculationError(RuntimeError):
    """The demo's intermittent crash (a bug in reward tables of the new release)."""

    code = "REWARD_TABLE_MISSING"


class MaterialOverflowError(RuntimeError):
    """The release gate demo's new crash: too many materials in one upgrade."""

    code = "MATERIAL_OVERFLOW"


def release_of(request: Request) -> tuple[int, ...]:
    """(major, minor) of the release serving this request (header, else the server's)."""
    text = request.headers.get("x-app-version") or request.app.state.app_version
    try:
        return tuple(int(part) for part in text.split(".")[:2])
    except ValueError:
        return (0, 0)


def is_new_release(request: Request) -> bool:
    return release_of(request) >= NEW_RELEASE


def is_regressed_release(request: Request) -> bool:
    """Served as one of ``REQTRAIL_DEMO_REGRESSED_RELEASES`` (the release gate demo)."""
    version = request.headers.get("x-app-version") or request.app.state.app_version
    return version in REGRESSED_RELEASES


async def pause(seconds: float) -> None:
    """Simulated work (database, store API) that takes ``seconds``."""
    await asyncio.sleep(seconds * TIME_SCALE)


def player_of(request: Request) -> str:
    return request.headers.get("x-user-id", "guest")


async def body_of(request: Request) -> dict[str, Any]:
    try:
        payload = await request.json()
    except ValueError:
        return {}
    return payload if isinstance(payload, dict) else {}


def rng_for(*parts: str) -> random.Random:
    """A per-call random source (seeded by the player and the time, so answers vary)."""
    seed = hashlib.blake2b("|".join(parts).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(seed, "big") ^ time.time_ns())


# --- endpoints ------------------------------------------------------------------------------
async def login(request: Request) -> JSONResponse:
    payload = await body_of(request)
    player = payload.get("user_id") or player_of(request)
    await pause(random.uniform(0.005, 0.02))
    return JSONResponse(
        {
            "player": {"id": player, "name": f"Hero{player[-4:]}", "rank": random.randint(1, 120)},
            "session_token": hashlib.sha256(f"{player}{time.time_ns()}".encode()).hexdigest(),
            "server_time": int(time.time()),
            "maintenance": None,
        }
    )


async def home(request: Request) -> JSONResponse:
    await pause(random.uniform(0.002, 0.012))
    rng = rng_for(player_of(request), "home")
    return JSONResponse(
        {
            "stamina": {"current": rng.randint(0, 120), "max": 120},
            "gems": rng.randint(0, 5000),
            "banners": [{"id": b, "ends_at": int(time.time()) + 86400 * 3} for b in BANNERS],
            "mail": [{"id": f"mail-{rng.randint(1, 9999)}", "title": "Login bonus"}],
            "friends_online": rng.randint(0, 30),
        }
    )


async def gacha_draw(request: Request) -> JSONResponse:
    payload = await body_of(request)
    count = 10 if payload.get("count") == 10 else 1
    banner = payload.get("banner_id", "standard")
    rng = rng_for(player_of(request), "gacha")
    slow_chance = 0.15 if is_new_release(request) else 0.04
    if count == 10 and rng.random() < slow_chance:
        await pause(rng.uniform(0.6, 1.8))  # the draw-history table lock
    else:
        await pause(rng.uniform(0.01, 0.04))
    results = []
    for _ in range(count):
        roll, rarity = rng.random(), "R"
        for name, chance in RARITIES:
            if roll < chance:
                rarity = name
                break
            roll -= chance
        results.append({"unit_id": f"u-{rng.randint(1, 400):04d}", "rarity": rarity})
    return JSONResponse({"banner_id": banner, "results": results, "gems_spent": 300 * count})


async def battle_start(request: Request) -> JSONResponse:
    payload = await body_of(request)
    await pause(random.uniform(0.005, 0.02) * (1.5 if is_regressed_release(request) else 1.0))
    return JSONResponse(
        {
            "battle_id": f"b-{random.getrandbits(40):010x}",
            "stage_id": payload.get("stage_id", "1-1"),
            "enemy_waves": random.randint(2, 5),
            "seed": random.getrandbits(32),
        }
    )


async def battle_finish(request: Request) -> JSONResponse:
    payload = await body_of(request)
    battle_id = request.path_params["battle_id"]
    crash_chance = CRASH_CHANCE["new" if is_new_release(request) else "old"]
    await pause(random.uniform(0.01, 0.05))
    if random.random() < crash_chance:
        raise RewardCalculationError(f"no reward row for stage {payload.get('stage_id')!r}")
    won = payload.get("result") == "win"
    return JSONResponse(
        {
            "battle_id": battle_id,
            "rewards": {"gold": 500 if won else 50, "exp": 120 if won else 10},
            "drops": [f"item-{random.randint(1, 60):03d}"] if won else [],
        }
    )


async def unit_upgrade(request: Request) -> JSONResponse:
    payload = await body_of(request)
    unit_id = request.path_params["unit_id"]
    if random.random() < 0.03:
        await pause(random.uniform(1.0, 2.5))  # inventory recount
    else:
        await pause(random.uniform(0.005, 0.03))
    materials = payload.get("materials", [])
    counts = [m.get("count") for m in materials if isinstance(m, dict)]
    used = sum(c for c in counts if isinstance(c, int)) if isinstance(materials, list) else 0
    if is_regressed_release(request) and used > 15:
        raise MaterialOverflowError(f"{used} materials overflow the upgrade table")
    return JSONResponse(
        {"unit_id": unit_id, "level": random.randint(2, 80), "materials_used": materials}
    )


async def shop_purchase(request: Request) -> JSONResponse:
    payload = await body_of(request)
    product = payload.get("product_id", "gems-60")
    if product not in PRODUCTS:
        return JSONResponse({"error": "unknown_product", "product_id": product}, status_code=400)
    await pause(random.uniform(0.3, 0.9))  # store receipt verification
    return JSONResponse(
        {
            "product_id": product,
            "price_usd": PRODUCTS[product],
            "granted": True,
            "receipt_token": "rcpt-" + hashlib.blake2b(str(payload).encode()).hexdigest()[:24],
        }
    )


async def health(request: Request) -> JSONResponse:
    return JSONResponse({"ok": True})


async def reqtrail_stats(request: Request) -> JSONResponse:
    """The pipeline's counters (produced, delivered, dropped, spilled, ...), for the demo."""
    return JSONResponse(request.app.state.pipeline.stats())


ROUTES = [
    Route("/login", login, methods=["POST"]),
    Route("/home", home),
    Route("/gacha/draw", gacha_draw, methods=["POST"]),
    Route("/battles/start", battle_start, methods=["POST"]),
    Route("/battles/{battle_id}/finish", battle_finish, methods=["POST"]),
    Route("/units/{unit_id}/upgrade", unit_upgrade, methods=["POST"]),
    Route("/shop/purchase", shop_purchase, methods=["POST"]),
    Route("/health", health),
    Route(STATS_PATH, reqtrail_stats),
]


def demo_settings(settings: Settings | None = None) -> Settings:
    """The settings with the demo's defaults: app_version and the per-request header."""
    settings = settings or load_settings()
    return settings.replace(
        app_version=settings.app_version or DEFAULT_APP_VERSION,
        app_version_header=settings.app_version_header or "x-app-version",
        service=settings.service if settings.service != "game-server" else "demo-game",
    )


def init_sentry(settings: Settings) -> bool:
    """Initialise sentry-sdk from ``SENTRY_DSN`` (if set); True when it did."""
    dsn = os.environ.get("SENTRY_DSN")
    if not dsn:
        return False
    import sentry_sdk

    sentry_sdk.init(dsn=dsn, release=settings.app_version, environment=settings.environment)
    return True


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    """What the game client gets for a crash: a JSON error it can show, with the event ID.

    The handler runs inside the middleware, so ``report_exception`` puts the error and the
    Sentry event ID into the request's record, beside this response body.
    """
    event_id = report_exception(exc)
    code = getattr(exc, "code", "INTERNAL")
    body = {"error": "internal", "code": code, "sentry_event_id": event_id}
    return JSONResponse(body, status_code=500)


def create_app(pipeline: RecordPipeline | None = None) -> Starlette:
    """The demo server; its records go to ``pipeline`` (default: one from the environment)."""
    if pipeline is None:
        settings = demo_settings()
        init_sentry(settings)
        pipeline = configure(settings)
    middleware = Middleware(RequestTrailMiddleware, pipeline=pipeline, skip_paths=UNLOGGED_PATHS)
    app = Starlette(
        routes=ROUTES,
        middleware=[middleware],
        exception_handlers={
            RewardCalculationError: internal_error,
            MaterialOverflowError: internal_error,
        },
    )
    app.state.app_version = pipeline.settings.app_version or DEFAULT_APP_VERSION
    app.state.pipeline = pipeline
    return app


def serve(host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the demo server with uvicorn until interrupted (records flushed on shutdown)."""
    import uvicorn

    uvicorn.run(
        "reqtrail.demo_server.app:create_app",
        factory=True,
        host=host,
        port=port,
        log_level="warning",
    )


if __name__ == "__main__":
    serve(port=int(os.environ.get("PORT", "8000")))
