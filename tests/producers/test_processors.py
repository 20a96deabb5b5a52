"""Unit tests of the processor chain's pure parts (no Kafka)."""

from __future__ import annotations

import re
from typing import Any

import orjson
import pytest

from reqtrail.producers.processors import (
    BodyTruncator,
    ClientIpHasher,
    RecordRenderer,
    SampledOut,
    Sampler,
    SecretRedactor,
    ServiceContext,
    format_timestamp,
    keep_record_fields,
)
from reqtrail.producers.redaction import REDACTED, SecretMatcher, redact_body, redact_query
from reqtrail.schemas import SCHEMA_VERSION

KEYS = ("password", "token", "secret", "authorization", "cookie")


def run(processor: Any, event: dict[str, Any]) -> Any:
    return processor(None, "info", event)


# --- redaction ---------------------------------------------------------------------------
def test_redacts_headers_by_name_containing_a_secret_word() -> None:
    """Header values whose name contains a configured word are replaced, others kept."""
    event = {
        "request_headers": {"authorization": "Bearer x", "x-auth-token": "t", "accept": "*/*"},
        "response_headers": {"set-cookie": "sid=1", "content-type": "application/json"},
    }
    out = run(SecretRedactor(KEYS), event)
    assert out["request_headers"] == {
        "authorization": REDACTED,
        "x-auth-token": REDACTED,
        "accept": "*/*",
    }
    assert out["response_headers"] == {"set-cookie": REDACTED, "content-type": "application/json"}


def test_redacts_query_pairs_and_keeps_the_rest_verbatim() -> None:
    """Only sensitive query values change; order, encoding and other pairs stay as sent."""
    matcher = SecretMatcher(KEYS)
    assert redact_query(matcher, "a=1&Password=hunter2&b=%20x&access_token=abc") == (
        f"a=1&Password={REDACTED}&b=%20x&access_token={REDACTED}"
    )
    assert redact_query(matcher, "a=1&b=2") == "a=1&b=2"


def test_redacts_json_bodies_at_any_depth() -> None:
    """Nested objects and lists in a JSON body lose sensitive values, keep the others."""
    body = orjson.dumps(
        {"login": {"user": "p1", "password": "pw"}, "items": [{"secret": 1, "n": 2}], "ok": True}
    ).decode()
    out = orjson.loads(redact_body(SecretMatcher(KEYS), body, "application/json"))
    assert out == {
        "login": {"user": "p1", "password": REDACTED},
        "items": [{"secret": REDACTED, "n": 2}],
        "ok": True,
    }


def test_redacts_a_truncated_json_body_by_scanning() -> None:
    """A body cut mid-document (not parseable) still loses quoted and bare secret values."""
    body = '{"user": "p1", "password": "hunter2", "pin_token": 12345, "note": "the passw'
    out = redact_body(SecretMatcher(KEYS), body, "application/json")
    assert "hunter2" not in out and "12345" not in out
    assert f'"password": "{REDACTED}"' in out and '"user": "p1"' in out


def test_redacts_form_bodies_like_queries() -> None:
    """application/x-www-form-urlencoded bodies are redacted pair by pair."""
    out = redact_body(
        SecretMatcher(KEYS), "user=p1&password=pw", "application/x-www-form-urlencoded"
    )
    assert out == f"user=p1&password={REDACTED}"


def test_body_without_secret_words_is_returned_untouched() -> None:
    """The cheap pre-check leaves harmless bodies (even unusual JSON spacing) as they are."""
    body = '{ "a" : 1 ,\n "b": [1, 2] }'
    assert redact_body(SecretMatcher(KEYS), body, "application/json") is body


def test_redaction_words_are_configurable() -> None:
    """Only the configured words count: with ('pin',) a password stays, a pin goes."""
    event = {"query": "pin=1234&password=x", "request_body": '{"pin": 1}'}
    out = run(SecretRedactor(("pin",)), event)
    assert out["query"] == f"pin={REDACTED}&password=x"
    assert orjson.loads(out["request_body"]) == {"pin": REDACTED}


# --- truncation --------------------------------------------------------------------------
def test_truncates_bodies_and_records_flags_and_original_size() -> None:
    """Bodies beyond max_bytes are cut; *_truncated and *_size describe the original."""
    event = {
        "request_body": b"x" * 10,
        "request_body_size": 4000,  # the middleware kept only the head of a bigger upload
        "response_body": b"short",
    }
    out = run(BodyTruncator(8), event)
    assert out["request_body"] == "x" * 8
    assert out["request_body_truncated"] is True and out["request_body_size"] == 4000
    assert out["response_body"] == "short"
    assert out["response_body_truncated"] is False and out["response_body_size"] == 5


def test_truncation_never_splits_a_utf8_character() -> None:
    """A cut inside a multi-byte character drops the partial character instead of garbling."""
    body = "ガチャ".encode()  # 3 bytes per character
    out = run(BodyTruncator(4), {"request_body": body})
    assert out["request_body"] == "ガ"
    assert out["request_body_truncated"] is True and out["request_body_size"] == 9


def test_event_without_bodies_gets_no_body_fields() -> None:
    """No body seen: no body fields are added."""
    assert run(BodyTruncator(8), {"status": 204}) == {"status": 204}


# --- sampling ----------------------------------------------------------------------------
def test_sampling_keeps_errors_and_slow_requests_always() -> None:
    """With rate 0, 5xx, exceptions and slow requests are still kept with sample_rate 1."""
    sampler = Sampler(0.0, slow_threshold_ms=500, random_fraction=lambda: 0.0)
    for event in (
        {"status": 503, "latency_ms": 1.0},
        {"status": 200, "latency_ms": 1.0, "error": {"type": "E", "message": "m"}},
        {"status": 200, "latency_ms": 500.0},
    ):
        assert run(sampler, event)["sample_rate"] == 1.0
    with pytest.raises(SampledOut):
        run(sampler, {"status": 200, "latency_ms": 1.0})
    assert sampler.sampled_out == 1


def test_sampling_keeps_the_configured_fraction_and_marks_it() -> None:
    """Ordinary requests are kept when the draw is below the rate, tagged with that rate."""
    draws = iter([0.05, 0.5, 0.09, 0.99])
    sampler = Sampler(0.1, slow_threshold_ms=1000, random_fraction=lambda: next(draws))
    kept = 0
    for _ in range(4):
        try:
            assert run(sampler, {"status": 200, "latency_ms": 2.0})["sample_rate"] == 0.1
            kept += 1
        except SampledOut:
            pass
    assert kept == 2 and sampler.sampled_out == 2


def test_sampled_out_is_a_structlog_drop_event() -> None:
    """structlog swallows SampledOut like DropEvent, so the logger call just returns."""
    from structlog import DropEvent

    assert issubclass(SampledOut, DropEvent)


# --- stamping and rendering ---------------------------------------------------------------
def test_timestamp_is_request_start_in_utc_with_milliseconds() -> None:
    """started_at (epoch seconds) becomes an ISO 8601 UTC string with 3 decimals."""
    out = run(format_timestamp, {"started_at": 1732500000.1234})
    assert out == {"@timestamp": "2024-11-25T02:00:00.123Z"}
    again = run(format_timestamp, {"started_at": 1732500000.9999})
    assert again["@timestamp"] == "2024-11-25T02:00:00.999Z"


def test_service_context_stamps_fields_and_keeps_a_request_app_version() -> None:
    """Service, environment, host, schema version are set; a per-request app_version wins."""
    stamp = ServiceContext("game", "prod", app_version="1.4.0")
    out = run(stamp, {})
    assert out["service"] == "game" and out["environment"] == "prod"
    assert out["schema_version"] == SCHEMA_VERSION and out["host"]
    assert out["app_version"] == "1.4.0"
    assert run(stamp, {"app_version": "1.5.0"})["app_version"] == "1.5.0"


def test_client_ip_hash_is_salted_and_stable() -> None:
    """The same IP and salt hash alike; another salt hashes differently; no IP stays."""
    a = run(ClientIpHasher("s1"), {"client_ip": "10.0.0.1"})["client_ip"]
    b = run(ClientIpHasher("s1"), {"client_ip": "10.0.0.1"})["client_ip"]
    c = run(ClientIpHasher("s2"), {"client_ip": "10.0.0.1"})["client_ip"]
    assert a == b != c and re.fullmatch(r"[0-9a-f]{32}", a)


def test_keep_record_fields_drops_unknown_keys_and_nones() -> None:
    """structlog's event key, private hints, app context and None values are removed."""
    event = {
        "event": "request",
        "_request_content_type": "x",
        "status": 200,
        "route": None,
        "game_shard": 3,
    }
    assert run(keep_record_fields, event) == {"status": 200}


def test_renderer_returns_json_bytes_and_the_user_id_key() -> None:
    """The final processor yields (payload, key) for the sink; no user -> no key."""
    (payload, key), kwargs = run(RecordRenderer(), {"user_id": "player-00042", "status": 200})
    assert orjson.loads(payload) == {"user_id": "player-00042", "status": 200}
    assert key == b"player-00042" and kwargs == {}
    (_payload, no_key), _ = run(RecordRenderer(), {"status": 200})
    assert no_key is None
