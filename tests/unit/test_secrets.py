"""Secrets in free text and output documents: URL credentials, secret query values, bearer tokens
and the API key this process sends are masked; everything else is left exactly as it was."""

from __future__ import annotations

import orjson
import pytest

from sparktop import secrets
from sparktop.recording import redact
from sparktop.secrets import REDACTED, keep_secret, redact_document, redact_text, redact_url


@pytest.fixture(autouse=True)
def no_known_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secrets, "_known", set())


def test_recordings_keep_importing_the_helpers_from_where_they_were() -> None:
    assert redact.redact_url is redact_url and redact.REDACTED == REDACTED


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000",
        "http://h:1/v1?a=b%20c&max_tokens=5",
        "https://[::1]:8443/x#frag",
        "docker:vllm",
        "http://h:1/?",
    ],
)
def test_a_url_without_secrets_is_left_exactly_as_given(url: str) -> None:
    assert redact_url(url) == url


def test_a_url_loses_its_credentials_and_secret_query_values_only() -> None:
    url = "http://admin:pw@h:8000/v1?token=t1&a=b%20c&api%5Fkey=k2"
    assert redact_url(url) == f"http://{REDACTED}@h:8000/v1?token={REDACTED}&a=b%20c&api%5Fkey={REDACTED}"


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        (
            "cannot read metrics from http://u:pw@h:8000: unreachable",
            f"cannot read metrics from http://{REDACTED}@h:8000: unreachable",
        ),
        ("see (http://u:pw@h:1).", f"see (http://{REDACTED}@h:1)."),
        ("bad port in 'u:pw@h:x'", f"bad port in '{REDACTED}@h:x'"),
        ("not an http(s) URL: '/?token=t1&x=2'", f"not an http(s) URL: '/?token={REDACTED}&x=2'"),
        ("401 Invalid API key: Bearer sk-abc.def", f"401 Invalid API key: Bearer {REDACTED}"),
        ("max_tokens=8&temperature=0 at 12:00", "max_tokens=8&temperature=0 at 12:00"),
        ("http://127.0.0.1:8000/metrics, ok", "http://127.0.0.1:8000/metrics, ok"),
    ],
)
def test_free_text(text: str, shown: str) -> None:
    assert redact_text(text) == shown


def test_a_kept_secret_is_masked_anywhere_and_a_short_one_is_not_kept() -> None:
    keep_secret("sk-proj-9f8e7d")
    keep_secret("abc")  # too short to tell from ordinary text
    assert redact_text("the key sk-proj-9f8e7d was refused; abc") == f"the key {REDACTED} was refused; abc"


def test_a_document_stays_valid_json_and_a_secret_is_found_escaped() -> None:
    key = 'k\\ey"with/quote'
    keep_secret(key)
    doc = {"url": "http://u:pw@h:1/?api_key=zz", "error": f"echoed {key}", "n": 1}
    data = redact_document(orjson.dumps(doc))
    assert orjson.loads(data) == {
        "url": f"http://{REDACTED}@h:1/?api_key={REDACTED}",
        "error": f"echoed {REDACTED}",
        "n": 1,
    }
