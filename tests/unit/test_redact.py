"""Which names and options count as secrets: whole words, so figures like ``max_tokens`` survive."""

from __future__ import annotations

import pytest

from sparktop.container.lifecycle import secret_values
from sparktop.recording.redact import REDACTED, argv_secrets, looks_secret, redact_argv, redact_mapping


@pytest.mark.parametrize(
    "name",
    ["HF_TOKEN", "token", "api_key", "x-api-key", "apiKey", "NGC_API_KEY", "password", "DB_PASSWD",
     "Authorization", "auth", "X-Auth-Token", "credentials", "bearer", "SSH_KEY", "client_secret"],
)  # fmt: skip
def test_secret_looking_names(name: str) -> None:
    assert looks_secret(name)


@pytest.mark.parametrize(
    "name",
    ["max_tokens", "tokenizer", "max-num-batched-tokens", "prompt_tokens", "author", "keyboard",
     "monkey", "max_model_len", "kv_cache_dtype", "served_model_name"],
)  # fmt: skip
def test_ordinary_names_are_kept(name: str) -> None:
    assert not looks_secret(name)


def test_a_workload_keeps_its_token_figures() -> None:
    meta = {"stages": [{"max_tokens": 256, "input_len": 1024}], "auth": {"bearer": "b"}, "hf_token": "t"}
    assert redact_mapping(meta) == {
        "stages": [{"max_tokens": 256, "input_len": 1024}],
        "auth": {"bearer": REDACTED},
        "hf_token": REDACTED,
    }


def test_secret_options_lose_their_values_and_nothing_else() -> None:
    argv = [
        "serve",
        "m",
        "--api-key",
        "sk-123456",
        "--hf-token=hf_abcdef",
        "--max-num-batched-tokens",
        "8192",
    ]
    assert redact_argv(argv) == [
        "serve", "m", "--api-key", REDACTED, "--hf-token=" + REDACTED, "--max-num-batched-tokens", "8192"
    ]  # fmt: skip
    assert argv_secrets(argv) == ["sk-123456", "hf_abcdef"]
    assert redact_argv(["--api-key"]) == ["--api-key"]  # a flag at the end has no value to hide


def test_container_logs_are_masked_with_the_secret_arguments_too() -> None:
    values = secret_values({"HF_TOKEN": "hf_fromenv", "MAX_TOKENS": "4096"}, ["--api-key", "sk-fromargs"])
    assert set(values) == {"hf_fromenv", "sk-fromargs"}
