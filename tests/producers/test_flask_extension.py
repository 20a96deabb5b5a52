"""The Flask extension: RequestTrail(app) / init_app, configured through app.config."""

from __future__ import annotations

import pytest

from reqtrail.consumers.setup import ensure_topics
from reqtrail.settings import Settings, SettingsError
from tests.producers.helpers import read_topic


def hello_app() -> object:
    from flask import Flask

    app = Flask("extension")

    @app.get("/hello/<name>")
    def hello(name: str) -> str:
        return f"hello {name}"

    return app


@pytest.mark.integration
def test_init_app_reads_reqtrail_keys_from_app_config(settings: Settings) -> None:
    """REQTRAIL_* keys in app.config name the broker, topic and service of the records."""
    from flask import Flask

    from reqtrail.flask import RequestTrail

    ensure_topics(settings)
    app = hello_app()
    assert isinstance(app, Flask)
    app.config.update(
        REQTRAIL_KAFKA_BOOTSTRAP=settings.kafka_bootstrap,
        REQTRAIL_TOPIC=settings.topic,
        REQTRAIL_SERVICE="shop-from-app-config",
    )
    trail = RequestTrail()
    trail.init_app(app)
    pipeline = app.extensions["reqtrail"].pipeline
    try:
        client = app.test_client()
        client.get("/hello/ana", headers={"x-user-id": "p-ana"}).close()
        assert pipeline.flush(timeout=30)
    finally:
        pipeline.close(timeout=5)
    ((_key, record),) = read_topic(settings)
    assert record["service"] == "shop-from-app-config"
    assert record["route"] == "/hello/{name}" and record["user_id"] == "p-ana"


def test_a_misspelled_app_config_key_fails_at_init_naming_the_closest() -> None:
    """app.config["REQTRAIL_SERVCE"] stops init_app with one line naming REQTRAIL_SERVICE."""
    from reqtrail.flask import RequestTrail

    app = hello_app()
    app.config["REQTRAIL_SERVCE"] = "shop"  # type: ignore[attr-defined]
    with pytest.raises(SettingsError) as err:
        RequestTrail(app)
    assert str(err.value) == (
        "unknown setting 'REQTRAIL_SERVCE' in app.config; did you mean 'REQTRAIL_SERVICE'?"
    )
