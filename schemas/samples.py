"""Synthetic request records for seeding, tests and benchmarks.

Deterministic for a given seed; every record is valid against the schema. Routes have
their own latency profile (log-normal around a median) and error rate, so percentiles
and error trends look like a real game server's.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from reqtrail.schemas.record import SCHEMA_VERSION


@dataclass(frozen=True)
class RouteProfile:
    method: str
    route: str
    median_ms: float
    error_rate: float
    weight: float


ROUTES: tuple[RouteProfile, ...] = (
    RouteProfile("POST", "/login", 35.0, 0.002, 1.0),
    RouteProfile("GET", "/home", 20.0, 0.001, 4.0),
    RouteProfile("POST", "/gacha/draw", 80.0, 0.01, 2.0),
    RouteProfile("POST", "/battle/start", 45.0, 0.005, 3.0),
    RouteProfile("POST", "/battle/finish", 120.0, 0.02, 3.0),
    RouteProfile("POST", "/units/{unit_id}/upgrade", 60.0, 0.004, 1.5),
    RouteProfile("POST", "/shop/purchase", 150.0, 0.01, 0.5),
)
APP_VERSIONS = ("1.41.0", "1.42.0")
CLIENT_VERSIONS = ("3.8.2", "3.9.0", "3.9.1")
PLATFORMS = ("ios", "android")


def _request_id(rng: random.Random, ts: datetime) -> str:
    # Time-ordered: 12 hex digits of epoch ms, then 14 random hex digits.
    return f"{int(ts.timestamp() * 1000):012x}{rng.getrandbits(56):014x}"


def sample_record(
    rng: random.Random,
    ts: datetime,
    *,
    users: int = 1000,
    user_id: str | None = None,
    route: RouteProfile | None = None,
) -> dict[str, Any]:
    """One realistic record at ``ts``; ``user_id``/``route`` pin those fields."""
    profile = route or rng.choices(ROUTES, weights=[r.weight for r in ROUTES])[0]
    uid = user_id or f"player-{rng.randrange(users):05d}"
    app_version = rng.choice(APP_VERSIONS)
    slowdown = 1.25 if (app_version == "1.42.0" and profile.route == "/battle/finish") else 1.0
    latency = round(rng.lognormvariate(0.0, 0.5) * profile.median_ms * slowdown, 3)
    failed = rng.random() < profile.error_rate
    status = 500 if failed else rng.choices((200, 400, 404), weights=(96, 3, 1))[0]
    path = profile.route.replace("{unit_id}", str(rng.randrange(1, 500)))
    request_body = orjson.dumps({"client_ts": ts.isoformat(), "nonce": rng.getrandbits(32)})
    response_body = (
        orjson.dumps({"error": "internal"})
        if failed
        else orjson.dumps({"ok": True, "gems": rng.randrange(10_000), "items": [1, 2, 3]})
    )
    record: dict[str, Any] = {
        "schema_version": SCHEMA_VERSION,
        "@timestamp": ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z",
        "request_id": _request_id(rng, ts),
        "user_id": uid,
        "device_id": f"dev-{uid[-5:]}-{'a' if sum(map(ord, uid)) % 2 else 'b'}",
        "session_id": f"s-{uid[-5:]}-{ts:%Y%m%d}",
        "method": profile.method,
        "path": path,
        "route": profile.route,
        "query": None,
        "status": status,
        "latency_ms": latency,
        "request_headers": {"content-type": "application/json"},
        "response_headers": {"content-type": "application/json"},
        "request_body": request_body.decode(),
        "request_body_truncated": False,
        "request_body_size": len(request_body),
        "response_body": response_body.decode(),
        "response_body_truncated": False,
        "response_body_size": len(response_body),
        "client_ip": f"10.0.{rng.randrange(256)}.{rng.randrange(256)}",
        "user_agent": "GameClient/3.9 (Unity)",
        "app_version": app_version,
        "client_version": rng.choice(CLIENT_VERSIONS),
        "platform": rng.choice(PLATFORMS),
        "service": "game-server",
        "host": f"gs-{rng.randrange(4)}",
        "environment": "dev",
        "sample_rate": 1.0,
        "error": None,
    }
    if failed:
        record["error"] = {
            "type": "BattleStateError",
            "message": "battle state mismatch",
            "sentry_event_id": f"{rng.getrandbits(128):032x}",
            "stack": None,
        }
    return record


def sample_records(
    count: int,
    *,
    seed: int = 7,
    start: datetime | None = None,
    span: timedelta = timedelta(hours=24),
    users: int = 1000,
) -> Iterator[dict[str, Any]]:
    """``count`` records spread evenly over ``span`` ending now (or starting at ``start``)."""
    rng = random.Random(seed)
    begin = start or (datetime.now(UTC) - span)
    step = span / max(count, 1)
    for i in range(count):
        yield sample_record(rng, begin + step * i, users=users)
