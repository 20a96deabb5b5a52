"""Locust players for the demo game server.

Each simulated user is one player (``player-00042``) on one device, platform (ios/android)
and client version; it logs in and then plays: home screen, battles (start + finish), gacha,
unit upgrades and now and then a shop purchase.  Every request carries the headers the
middleware records (``X-User-ID``, ``X-Device-ID``, ``X-Session-ID``, ``X-Platform``,
``X-Client-Version``) and ``X-App-Version``: the server release the demo should serve the
request as, drawn per player from ``REQTRAIL_DEMO_APP_VERSIONS`` (under ``reqtrail loadtest``,
the candidate version instead). Players derive from ``reqtrail.locust.ReqtrailUser``, so each
request also carries its own ``X-Request-ID``.

    locust --headless -u 50 -r 10 --run-time 60s -f reqtrail/demo_server/locustfile.py \\
        --host http://127.0.0.1:8000

Environment:
    REQTRAIL_DEMO_APP_VERSIONS  releases and weights, default ``1.4.2:0.7,1.5.0:0.3``
    REQTRAIL_DEMO_PLAYERS       size of the player pool IDs are drawn from, default 5000
    REQTRAIL_DEMO_PACE          multiplies the think time between actions, default 1.0
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
from typing import NamedTuple

from locust import between, task

from reqtrail.producers.locust_user import ReqtrailUser


class Platform(NamedTuple):
    weight: float
    client_versions: tuple[str, ...]
    os: str


PLATFORMS = {
    "ios": Platform(0.6, ("3.2.1", "3.2.0", "3.1.9"), "iOS 17.4"),
    "android": Platform(0.4, ("3.2.1", "3.1.9"), "Android 14"),
}
STAGES = [f"{chapter}-{stage}" for chapter in range(1, 8) for stage in range(1, 11)]
BANNERS = ["summer-festival", "dragon-legends", "standard"]
PRODUCTS = ["gems-60", "gems-330", "gems-1000", "starter-pack"]


def parse_versions(text: str) -> list[tuple[str, float]]:
    """``"1.4.2:0.7,1.5.0:0.3"`` -> [("1.4.2", 0.7), ("1.5.0", 0.3)] (weight 1 if missing)."""
    out = []
    for part in text.split(","):
        name, _, weight = part.strip().partition(":")
        if name:
            out.append((name, float(weight) if weight else 1.0))
    if not out:
        raise ValueError(f"REQTRAIL_DEMO_APP_VERSIONS has no versions: {text!r}")
    return out


APP_VERSIONS = parse_versions(os.environ.get("REQTRAIL_DEMO_APP_VERSIONS", "1.4.2:0.7,1.5.0:0.3"))
PLAYER_POOL = int(os.environ.get("REQTRAIL_DEMO_PLAYERS", "5000"))
PACE = float(os.environ.get("REQTRAIL_DEMO_PACE", "1.0"))
_player_numbers = itertools.count(random.randrange(PLAYER_POOL))


class Player(ReqtrailUser):
    """One player on one device, playing a realistic loop (each request with its own ID)."""

    wait_time = between(0.5 * PACE, 2.5 * PACE)

    def on_start(self) -> None:
        number = next(_player_numbers) % PLAYER_POOL + 1
        self.player_id = self.user_id = f"player-{number:05d}"
        platform = random.choices(list(PLATFORMS), [p.weight for p in PLATFORMS.values()])[0]
        info = PLATFORMS[platform]
        client_version = random.choice(info.client_versions)
        app_version = random.choices(
            [name for name, _ in APP_VERSIONS], [weight for _, weight in APP_VERSIONS]
        )[0]
        device = hashlib.blake2b(self.player_id.encode(), digest_size=6).hexdigest()
        self.headers = {
            "X-User-ID": self.player_id,
            "X-Device-ID": f"dev-{device}",
            "X-Platform": platform,
            "X-Client-Version": client_version,
            "X-App-Version": app_version,
            "User-Agent": f"DragonGachaClient/{client_version} ({info.os})",
            "Accept": "application/json",
        }
        self.units = [f"u-{random.randint(1, 400):04d}" for _ in range(5)]
        self.login()

    def login(self) -> None:
        self.headers["X-Session-ID"] = f"sess-{random.getrandbits(48):012x}"
        self.client.post(
            "/login",
            json={
                "user_id": self.player_id,
                "device_id": self.headers["X-Device-ID"],
                "password": "not-a-real-password",
                "push_token": "fcm-token-demo",
            },
            headers=self.headers,
        )

    @task(5)
    def home(self) -> None:
        self.client.get("/home", headers=self.headers)

    @task(4)
    def battle(self) -> None:
        stage = random.choice(STAGES)
        answer = self.client.post(
            "/battles/start",
            json={"stage_id": stage, "party": random.sample(self.units, 3), "auto": True},
            headers=self.headers,
        )
        if answer.status_code != 200:
            return
        battle_id = answer.json()["battle_id"]
        self.client.post(
            f"/battles/{battle_id}/finish",
            json={
                "stage_id": stage,
                "result": random.choice(["win", "win", "win", "lose"]),
                "turns": random.randint(3, 30),
                "damage_dealt": random.randint(1000, 90000),
            },
            headers=self.headers,
            name="/battles/{battle_id}/finish",
        )

    @task(3)
    def gacha(self) -> None:
        self.client.post(
            "/gacha/draw",
            json={"banner_id": random.choice(BANNERS), "count": random.choice([1, 1, 10])},
            headers=self.headers,
        )

    @task(2)
    def upgrade(self) -> None:
        unit = random.choice(self.units)
        self.client.post(
            f"/units/{unit}/upgrade",
            json={"materials": [{"item": "exp-crystal", "count": random.randint(1, 20)}]},
            headers=self.headers,
            name="/units/{unit_id}/upgrade",
        )

    @task(1)
    def shop(self) -> None:
        self.client.post(
            "/shop/purchase",
            json={"product_id": random.choice(PRODUCTS), "receipt": "store-receipt-" + "x" * 64},
            headers=self.headers,
        )

    @task(1)
    def relogin(self) -> None:
        if random.random() < 0.1:  # the app was killed and reopened
            self.login()
