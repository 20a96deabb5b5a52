"""Pure functions that hide secrets in headers, query strings and bodies.

A key is sensitive when its lower-cased name *contains* one of the configured words
(``password`` catches ``new_password``, ``token`` catches ``x-auth-token``).  Values of
sensitive keys become ``[REDACTED]``:

* mappings (headers) key by key;
* query strings and form bodies pair by pair, keeping the rest of the text as it was;
* JSON bodies structurally when they parse; a body that does not parse (cut by truncation,
  or not JSON at all) is scanned for ``"key": value`` pairs instead, so a truncated login
  payload still loses its password.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from typing import Any

import orjson

REDACTED = "[REDACTED]"
MAX_SAFE_KEYS = 10_000


class SecretMatcher:
    """Decides which keys are sensitive; remembers its answers (key names repeat a lot)."""

    def __init__(self, words: Iterable[str]) -> None:
        wanted = {w.strip().lower() for w in words if w.strip()}
        # Matching is by substring, so a word containing another one adds nothing
        # ("access_token" is covered by "token"); fewer words, faster pre-checks.
        self.words = tuple(sorted(w for w in wanted if not any(o != w and o in w for o in wanted)))
        if self.words:
            alternatives = "|".join(re.escape(w) for w in self.words)
            self._json_pair = re.compile(
                r'("(?:[^"\\]|\\.)*(?:' + alternatives + r')(?:[^"\\]|\\.)*"\s*:\s*)'
                r'("(?:[^"\\]|\\.)*"?|[^\s,}\]{\[][^\s,}\]]*)',
                re.IGNORECASE,
            )
        self.is_secret = lru_cache(maxsize=4096)(self._is_secret)
        # Keys seen and found harmless; a mapping made only of these needs no work.
        self.safe_keys: set[str] = set()

    def _is_secret(self, key: str) -> bool:
        lowered = key.lower()
        return any(word in lowered for word in self.words)

    def mentions_secret(self, text: str) -> bool:
        """Cheap pre-check: could ``text`` contain a sensitive key at all?"""
        # Plain substring tests (C loop) beat a case-insensitive regex alternation by far.
        return any(map(text.lower().__contains__, self.words))

    def redact_json_pairs(self, text: str) -> str:
        """Replace the values of sensitive ``"key": value`` pairs in JSON-ish text."""
        return self._json_pair.sub(r'\1"' + REDACTED + '"', text)


def redact_mapping(matcher: SecretMatcher, mapping: Mapping[str, str]) -> Mapping[str, str]:
    """``mapping`` with sensitive values replaced (the same object when nothing is secret)."""
    if matcher.safe_keys.issuperset(mapping):
        return mapping
    redacted = {k: (REDACTED if matcher.is_secret(k) else v) for k, v in mapping.items()}
    if len(matcher.safe_keys) < MAX_SAFE_KEYS:
        matcher.safe_keys.update(k for k in mapping if not matcher.is_secret(k))
    return redacted


def redact_query(matcher: SecretMatcher, query: str) -> str:
    """``a=1&password=x`` -> ``a=1&password=[REDACTED]``; other pairs stay byte for byte."""
    if not matcher.mentions_secret(query):
        return query
    pairs = query.split("&")
    for i, pair in enumerate(pairs):
        key, sep, _value = pair.partition("=")
        if sep and matcher.is_secret(key.replace("+", " ")):
            pairs[i] = f"{key}={REDACTED}"
    return "&".join(pairs)


def redact_json_value(matcher: SecretMatcher, value: Any) -> Any:
    """A copy of a decoded JSON value with sensitive keys' values replaced, at any depth."""
    if isinstance(value, dict):
        return {
            k: (REDACTED if matcher.is_secret(k) else redact_json_value(matcher, v))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [redact_json_value(matcher, v) for v in value]
    return value


def redact_body(matcher: SecretMatcher, body: str, content_type: str | None) -> str:
    """``body`` with secrets replaced, by its content type (JSON, form, else JSON-ish scan)."""
    if not body or not matcher.mentions_secret(body):
        return body
    kind = (content_type or "").lower()
    if "x-www-form-urlencoded" in kind:
        return redact_query(matcher, body)
    stripped = body.lstrip()
    if stripped[:1] in ("{", "["):
        try:
            decoded = orjson.loads(body)
        except orjson.JSONDecodeError:
            return matcher.redact_json_pairs(body)
        return orjson.dumps(redact_json_value(matcher, decoded)).decode("utf-8")
    return matcher.redact_json_pairs(body)
