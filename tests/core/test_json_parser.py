"""apps/core/api/parsers.py: which JSON texts hold a NUL character, and that the lean dispatch leaves such a
body to DRF's parser (the engine's responses to them: tests/engine/test_json_nulls.py)."""

from __future__ import annotations

import json

import pytest
from django.test import RequestFactory

from apps.core.api.lean import lean_prepare
from apps.core.api.parsers import has_nul


def _holds_nul(value) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(k) or _holds_nul(v) for k, v in value.items())
    return isinstance(value, list) and any(_holds_nul(item) for item in value)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (json.dumps({"a": "\u0000"}), True),
        (json.dumps({"\u0000": 1}), True),
        (json.dumps(["x", {"deep": ["a\u0000b"]}]), True),
        (json.dumps({"a": "\\\u0000"}), True),  # an escaped backslash, then a NUL
        (json.dumps({"a": "\\u0000"}), False),  # the six characters \u0000
        (json.dumps({"a": "\\\\u0000"}), False),
        (json.dumps({"a": "\\u0000", "b": "\u0000"}), True),  # the second occurrence decides
        (json.dumps({"a": "\u0001 \u00000"}), True),
        (json.dumps({"a": "u0000 \\x00"}), False),
        ('{"a": "\\u00001"}', True),
        ("{}", False),
    ],
)
def test_has_nul_finds_only_an_escape_that_is_one(text, expected):
    assert json.loads(text) is not None
    assert _holds_nul(json.loads(text)) is expected  # the parsed value agrees with the case
    assert has_nul(text) is expected
    assert has_nul(text.encode()) is expected


@pytest.mark.django_db
def test_the_lean_dispatch_leaves_a_body_with_the_escape_to_drf(user_key):
    factory = RequestFactory()

    def prepared(text: str):
        request = factory.post(
            "/api/x", text.encode(), content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {user_key}"
        )
        return lean_prepare(request)

    assert prepared('{"a": 1}') is not None  # the plain case is lean's
    assert prepared('{"a": "\\u0000"}') is None
    assert prepared('{"a": "\\\\u0000"}') is None  # text, not a NUL: DRF's parser decides (it accepts it)
