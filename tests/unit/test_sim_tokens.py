"""The toy tokenizer and the generated-text stream."""

from __future__ import annotations

from sparktop.sim import tokens

ENGLISH = (
    "The DGX Spark shares 128 GB of memory between the CPU and the GPU, so the KV cache competes with "
    "everything else on the host. Prefill is compute bound; decode is bound by memory bandwidth."
)


def test_tokenizing_is_deterministic_and_counting_agrees() -> None:
    ids = tokens.encode_text(ENGLISH)
    assert ids == tokens.encode_text(ENGLISH)
    assert len(ids) == tokens.count_text(ENGLISH)
    assert all(0 <= t < tokens.VOCAB_SIZE for t in ids)


def test_english_is_about_four_to_five_characters_per_token() -> None:
    ratio = len(ENGLISH) / tokens.count_text(ENGLISH)
    assert 3.5 < ratio < 6.0


def test_different_words_get_different_ids_and_the_same_word_the_same() -> None:
    a, b = tokens.encode_text(" memory"), tokens.encode_text(" bandwidth")
    assert a != b
    assert tokens.encode_text(" memory memory") == a + a


def test_prompts_start_with_bos_unless_told_not_to() -> None:
    assert tokens.encode_prompt("hi")[0] == tokens.BOS_ID
    assert tokens.encode_prompt("hi", add_special_tokens=False) == tokens.encode_text("hi")
    assert tokens.encode_prompt("") == [tokens.BOS_ID]


def test_chat_template_wraps_every_message_and_adds_the_generation_prompt() -> None:
    one = tokens.encode_chat([{"role": "user", "content": "hello there"}])
    two = tokens.encode_chat(
        [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
    )
    text = tokens.count_text("hello there")
    assert len(one) == 1 + 3 + text + 2 + 3
    assert len(two) == len(one) + 3 + tokens.count_text("be brief") + 2
    parts = [
        {"role": "user", "content": [{"type": "text", "text": "hello "}, {"type": "text", "text": "there"}]}
    ]
    assert tokens.encode_chat(parts) == one


def test_generated_text_reads_like_words_and_wraps_around() -> None:
    text = tokens.stream_text(0, 50)
    assert len(text.split()) >= 40
    n = len(tokens.STREAM)
    assert (
        tokens.stream_text(n - 2, 4)
        == tokens.STREAM[-2] + tokens.STREAM[-1] + tokens.STREAM[0] + tokens.STREAM[1]
    )
    assert tokens.stream_text(5, 3) == tokens.stream_text(5 + n, 3)


def test_generated_text_re_tokenizes_to_its_token_count() -> None:
    for offset, count in ((0, 300), (1234, 57), (len(tokens.STREAM) - 10, 40)):
        assert tokens.count_text(tokens.stream_text(offset, count)) == count
