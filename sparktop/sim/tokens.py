"""A deterministic toy tokenizer and a generator of plausible output text.

Prompts are split into word-sized pieces (a word with its leading space, a number, a punctuation
mark), about 4-5 characters per token as real BPE vocabularies give for English, and each piece is
hashed to a stable id. Chat messages are wrapped in a Gemma-style template so their token counts
include the template's special tokens. Generated text is read from a fixed pseudo-English stream at
a per-request offset (cheap per token, the same for the same seed), made of the tokenizer's own
pieces so that re-tokenizing an answer gives back its token count.
"""

from __future__ import annotations

import random
import re
import zlib
from collections.abc import Iterable, Mapping

VOCAB_SIZE = 262144
BOS_ID = 2
START_OF_TURN_ID = 105
END_OF_TURN_ID = 106
NEWLINE_ID = 107
_ROLE_IDS = {"system": 108, "user": 109, "assistant": 110, "model": 110, "tool": 111, "developer": 108}
_FIRST_TEXT_ID = 1000
_SPECIAL_TEXT = {
    BOS_ID: "<bos>",
    START_OF_TURN_ID: "<start_of_turn>",
    END_OF_TURN_ID: "<end_of_turn>",
    NEWLINE_ID: "\n",
    108: "system",
    109: "user",
    110: "model",
    111: "tool",
}

_PIECE = re.compile(r" ?[A-Za-z]{1,7}| ?[0-9]{1,3}| ?[^\sA-Za-z0-9]|\s+")


def _piece_id(piece: str) -> int:
    return _FIRST_TEXT_ID + zlib.crc32(piece.encode("utf-8", "surrogatepass")) % (VOCAB_SIZE - _FIRST_TEXT_ID)


def encode_text(text: str) -> list[int]:
    """Token ids of ``text`` (no special tokens)."""
    return [_piece_id(p) for p in _PIECE.findall(text)]


def count_text(text: str) -> int:
    """How many tokens ``text`` is, without building the ids."""
    return sum(1 for _ in _PIECE.finditer(text))


def encode_prompt(text: str, *, add_special_tokens: bool = True) -> list[int]:
    """A completion prompt: BOS then the text."""
    return ([BOS_ID] if add_special_tokens else []) + encode_text(text)


def message_text(content: object) -> str:
    """The text of a chat message's ``content`` (a string or a list of text parts)."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(part.get("text", ""))
            for part in content
            if isinstance(part, Mapping) and part.get("type") == "text"
        )
    return str(content)


def encode_chat(messages: Iterable[Mapping[str, object]], *, add_generation_prompt: bool = True) -> list[int]:
    """Messages rendered with a Gemma-style chat template, then tokenized."""
    ids = [BOS_ID]
    for message in messages:
        role = str(message.get("role", "user"))
        ids += [START_OF_TURN_ID, _ROLE_IDS.get(role, _piece_id(role)), NEWLINE_ID]
        ids += encode_text(message_text(message.get("content")))
        ids += [END_OF_TURN_ID, NEWLINE_ID]
    if add_generation_prompt:
        ids += [START_OF_TURN_ID, _ROLE_IDS["model"], NEWLINE_ID]
    return ids


def prompt_pieces(text: str, *, add_special_tokens: bool = True) -> list[str]:
    """The text of each token of ``encode_prompt(text)`` (for echo and prompt logprobs)."""
    return ([_SPECIAL_TEXT[BOS_ID]] if add_special_tokens else []) + _PIECE.findall(text)


def chat_pieces(messages: Iterable[Mapping[str, object]]) -> list[str]:
    """The text of each token of ``encode_chat(messages)``."""
    out = [_SPECIAL_TEXT[BOS_ID]]
    turn, end, newline = _SPECIAL_TEXT[START_OF_TURN_ID], _SPECIAL_TEXT[END_OF_TURN_ID], "\n"
    for message in messages:
        out += [turn, str(message.get("role", "user")), newline]
        out += _PIECE.findall(message_text(message.get("content")))
        out += [end, newline]
    return [*out, turn, "model", newline]


def piece_text(token_id: int) -> str:
    """The text of a token id: special tokens, the generated stream's pieces, or a placeholder
    (the toy tokenizer hashes text to ids, so other ids cannot be decoded)."""
    special = _SPECIAL_TEXT.get(token_id)
    if special is not None:
        return special
    return _STREAM_TEXT.get(token_id, f"<|{token_id}|>")


# --------------------------------------------------------------------------------------------------
# generated text

_WORDS = re.findall(
    r"\w+",
    """
the of and to a in is that for it as with was on be by this are from at or an have not which
but all can has more one will their so if also other about than into there when some time these
may only new would two first any like most over such where after should many well then through
model memory token cache batch request server latency throughput prompt context decode prefill
engine kernel power budget queue user answer result value system device spark unified bandwidth
expert layer weight sequence block output input concurrency quality report office document
summary plan step check number measure estimate because however therefore while each every both
between under during before within without again further once here how what why who whom same
own very just now simple clear short long large small fast slow high low good better best early
late
""",
)
_STREAM_LEN = 8192


def _build_stream() -> tuple[str, ...]:
    rng = random.Random(0x5BA7C)
    out: list[str] = []
    capital = True
    since_stop = 0
    while len(out) < _STREAM_LEN:
        word = rng.choice(_WORDS)
        out.extend(_PIECE.findall(" " + (word.capitalize() if capital else word)))
        capital = False
        since_stop += 1
        if since_stop > 6 and rng.random() < 0.14:
            out.append("." if rng.random() < 0.85 else "?")
            capital = True
            since_stop = 0
            if rng.random() < 0.12:
                out.append("\n\n")
        elif since_stop > 3 and rng.random() < 0.06:
            out.append(",")
    return tuple(out[:_STREAM_LEN])


STREAM: tuple[str, ...] = _build_stream()
"""Pseudo-English output tokens, one string per token."""
STREAM_IDS: tuple[int, ...] = tuple(_piece_id(p) for p in STREAM)
"""The token id of each entry of ``STREAM``."""
_STREAM_TEXT = dict(zip(STREAM_IDS, STREAM, strict=True))
STREAM_ID_JSON: tuple[bytes, ...] = tuple(b"[%d]" % i for i in STREAM_IDS)
"""``[id]`` as JSON for each entry of ``STREAM`` (a one-token chunk's ``token_ids``, pre-rendered)."""


def stream_text(offset: int, count: int) -> str:
    """``count`` generated tokens starting at ``offset`` of the stream (wrapping around)."""
    start = offset % _STREAM_LEN
    end = start + count
    if end <= _STREAM_LEN:
        return "".join(STREAM[start:end])
    return "".join(STREAM[start:]) + stream_text(0, end - _STREAM_LEN)


def stream_ids_json(offset: int, count: int) -> bytes:
    """``stream_ids(offset, count)`` as JSON."""
    if count == 1:
        return STREAM_ID_JSON[offset % _STREAM_LEN]
    return b"[" + b",".join(b"%d" % i for i in stream_ids(offset, count)) + b"]"


def stream_ids(offset: int, count: int) -> list[int]:
    """The token ids of ``stream_text(offset, count)``."""
    start = offset % _STREAM_LEN
    end = start + count
    if end <= _STREAM_LEN:
        return list(STREAM_IDS[start:end])
    return list(STREAM_IDS[start:]) + stream_ids(0, end - _STREAM_LEN)
