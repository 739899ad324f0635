"""Write the real-vLLM lane's tiny model: a Llama config and a tokenizer built here, no download.

Run with the real vLLM's Python (it needs ``tokenizers``): ``python tiny_model.py DIR``. The model is
a small ``LlamaForCausalLM`` served with ``--load-format dummy`` (random weights); the tokenizer is a
word-level one with exactly the model's 32,000 ids, so every id the model samples decodes to text,
text prompts tokenize, and a chat template makes ``/v1/chat/completions`` work.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

VOCAB_SIZE = 32000
SPECIALS = ["<unk>", "<s>", "</s>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"]
CHAT_TEMPLATE = (
    "{% for m in messages %}<|{{ m['role'] }}|> {{ m['content'] }} <|end|> {% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>{% endif %}"
)
CONFIG = {
    "architectures": ["LlamaForCausalLM"],
    "model_type": "llama",
    "hidden_size": 256,
    "intermediate_size": 512,
    "num_hidden_layers": 2,
    "num_attention_heads": 4,
    "num_key_value_heads": 4,
    "head_dim": 64,
    "vocab_size": VOCAB_SIZE,
    "max_position_embeddings": 2048,
    "rms_norm_eps": 1e-5,
    "rope_theta": 10000.0,
    "hidden_act": "silu",
    "tie_word_embeddings": False,
    "bos_token_id": 1,
    "eos_token_id": 2,
    "torch_dtype": "float32",
}


def words() -> list[str]:
    """Distinct lower-case pseudo-words (consonant-vowel syllables), deterministic."""
    consonants = "bdfghklmnprstvz"
    vowels = "aeiou"
    syllables = [c + v for c in consonants for v in vowels]  # 75
    out = list("abcdefghijklmnopqrstuvwxyz0123456789.,;:!?'\"()-")
    out += ["the", "a", "and", "of", "to", "in", "is", "it", "you", "that", "hello", "world", "user"]
    out += syllables
    out += [a + b for a in syllables for b in syllables]  # 5,625
    out += [a + b + c for a in syllables for b in syllables for c in syllables[:8]]  # 45,000
    return list(dict.fromkeys(out))  # first occurrence of each, in order


def tokenizer_json() -> dict[str, object]:
    vocab: dict[str, int] = {}
    for token in SPECIALS:
        vocab[token] = len(vocab)
    for word in words():
        if len(vocab) == VOCAB_SIZE:
            break
        vocab["▁" + word] = len(vocab)
    assert len(vocab) == VOCAB_SIZE
    added = [
        {"id": i, "content": t, "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": False, "special": True}
        for i, t in enumerate(SPECIALS)
    ]  # fmt: skip
    return {
        "version": "1.0",
        "truncation": None,
        "padding": None,
        "added_tokens": added,
        "normalizer": {"type": "Lowercase"},
        "pre_tokenizer": {
            "type": "Sequence",
            "pretokenizers": [
                {"type": "WhitespaceSplit"},
                {"type": "Punctuation", "behavior": "Isolated"},
                {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
            ],
        },
        "post_processor": {
            "type": "TemplateProcessing",
            "single": [
                {"SpecialToken": {"id": "<s>", "type_id": 0}},
                {"Sequence": {"id": "A", "type_id": 0}},
            ],
            "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
            "special_tokens": {"<s>": {"id": "<s>", "ids": [1], "tokens": ["<s>"]}},
        },
        "decoder": {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "always", "split": True},
        "model": {"type": "WordLevel", "vocab": vocab, "unk_token": "<unk>"},
    }


def write(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.json").write_text(json.dumps(CONFIG, indent=2))
    (folder / "tokenizer.json").write_text(json.dumps(tokenizer_json(), ensure_ascii=False))
    (folder / "tokenizer_config.json").write_text(
        json.dumps(
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "bos_token": "<s>",
                "eos_token": "</s>",
                "unk_token": "<unk>",
                "model_max_length": 2048,
                "chat_template": CHAT_TEMPLATE,
            },
            indent=2,
        )
    )
    (folder / "generation_config.json").write_text(
        json.dumps({"bos_token_id": 1, "eos_token_id": 2, "_from_model_config": True})
    )


if __name__ == "__main__":
    write(Path(sys.argv[1]))
    from tokenizers import Tokenizer  # type: ignore[import-not-found]  # the real vLLM's venv has it

    tok = Tokenizer.from_file(str(Path(sys.argv[1]) / "tokenizer.json"))
    ids = tok.encode("Hello world, the kalo").ids
    assert ids[0] == 1 and 0 not in ids[1:3], ids
    assert tok.get_vocab_size() == VOCAB_SIZE
    print(f"tiny model written to {sys.argv[1]}: ids {ids} -> {tok.decode(ids)!r}")
