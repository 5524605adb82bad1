"""Tiny, offline building blocks for the model / training / CLI tests.

A random BERT (hidden 32, 2 layers, vocab 99) with a local word-piece tokenizer, and two small
synthetic tasks written as real JSONL / CSV files so the generic loaders are exercised.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

import pytest
import torch

WORDS = ("the a is my what how to card bank money transfer balance stock price up down good "
         "bad i want book flight pay bill hotel rain sun market shares rise fall today please "
         "help me can you check").split()
LETTERS = "abcdefghijklmnopqrstuvwxyz"
VOCAB = (["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
         + [c for c in LETTERS if c not in WORDS] + [f"##{c}" for c in LETTERS])[:99]

INTENTS = {"card": "card", "flight": "travel", "bill": "payment"}
SENTIMENT = {"rise": "positive", "fall": "negative", "good": "positive", "bad": "negative"}


def write_tokenizer(directory: Path) -> Path:
    from transformers import BertTokenizer

    tok = BertTokenizer(vocab={w: i for i, w in enumerate(VOCAB)})
    tok.save_pretrained(str(directory))
    return directory


def tiny_encoder(tokenizer_dir: Path, *, seed: int = 0, finetune: bool = False,
                 max_length: int = 16):
    """A random tiny BERT as a TextEncoder (weights seeded, so two calls give the same one)."""
    from transformers import BertConfig

    from qattn_hybrid.modeling.encoders import TextEncoder, load_encoder

    config = BertConfig(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=37, max_position_embeddings=64)
    state = torch.random.get_rng_state()
    torch.manual_seed(seed)
    model, tokenizer = load_encoder(config=config, tokenizer=str(tokenizer_dir))
    torch.random.set_rng_state(state)
    return TextEncoder(model, tokenizer, max_length=max_length, finetune=finetune)


def _sentence(rng: random.Random, keyword: str) -> str:
    filler = rng.sample(WORDS[:20], 3)
    filler.insert(rng.randrange(4), keyword)
    return " ".join(filler)


def write_tasks(directory: Path, n_train: int = 24, n_eval: int = 9) -> dict[str, Path]:
    """intent.jsonl (3 classes, train/validation/test) and sentiment.csv (2 classes)."""
    rng = random.Random(0)
    directory.mkdir(parents=True, exist_ok=True)
    rows = []
    for split, n in (("train", n_train), ("validation", n_eval), ("test", n_eval)):
        keys = list(INTENTS)
        for i in range(n):
            key = keys[i % len(keys)]
            rows.append({"text": _sentence(rng, key), "label": INTENTS[key], "split": split})
    intent = directory / "intent.jsonl"
    intent.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    sentiment = directory / "sentiment.csv"
    with sentiment.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=["sentence", "sentiment", "part"])
        w.writeheader()
        keys = list(SENTIMENT)
        for split, n in (("train", n_train), ("validation", n_eval), ("test", n_eval)):
            for i in range(n):
                key = keys[i % len(keys)]
                w.writerow({"sentence": _sentence(rng, key), "sentiment": SENTIMENT[key],
                            "part": split})
    return {"intent": intent, "sentiment": sentiment}


def tiny_config_dict(data_dir: Path, output_dir: Path) -> dict:
    files = write_tasks(data_dir)
    return {
        "model": {"encoder": "tiny", "circuit": {"n_qubits": 2, "n_layers": 1},
                  "max_length": 16, "dropout": 0.1},
        "data": {"tasks": [
            {"name": "intent", "file": str(files["intent"])},
            {"name": "sentiment", "file": str(files["sentiment"]), "text_field": "sentence",
             "label_field": "sentiment", "split_field": "part"},
        ]},
        "training": {"epochs": 2, "batch_size": 8, "eval_batch_size": 16, "lr": 0.01,
                     "output_dir": str(output_dir), "progress": False, "patience": None,
                     "seed": 0},
        "sampling": {"method": "round_robin"},
    }


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory) -> Path:
    return write_tokenizer(tmp_path_factory.mktemp("tiny_tokenizer"))


@pytest.fixture
def make_encoder(tokenizer_dir):
    def make(**kwargs):
        return tiny_encoder(tokenizer_dir, **kwargs)
    return make


@pytest.fixture
def config_dict(tmp_path) -> dict:
    return tiny_config_dict(tmp_path / "data", tmp_path / "run")


@pytest.fixture
def make_trainer(config_dict, make_encoder):
    """``make_trainer(training={"epochs": 1}, ...)``: a Trainer of ``config_dict`` (as it is when
    called) with those fields of each section overridden, on a fresh tiny encoder."""
    def make(**sections):
        from qattn_hybrid.config.sections import Config
        from qattn_hybrid.training.factory import build_trainer

        data = json.loads(json.dumps(config_dict))
        for name, changes in sections.items():
            data.setdefault(name, {}).update(changes)
        return build_trainer(Config.from_dict(data), encoder=make_encoder())
    return make


@pytest.fixture
def tiny_config(config_dict):
    from qattn_hybrid.config.sections import Config

    return Config.from_dict(config_dict)


@pytest.fixture(scope="session")
def encoder_dir(tmp_path_factory, tokenizer_dir) -> Path:
    """The tiny BERT saved as a local transformers folder (what a user's encoder = "path" is)."""
    directory = tmp_path_factory.mktemp("tiny_encoder")
    encoder = tiny_encoder(tokenizer_dir)
    encoder.model.save_pretrained(str(directory))
    encoder.tokenizer.save_pretrained(str(directory))
    return directory


@pytest.fixture(scope="session")
def make_config_dict():
    """tiny_config_dict(data_dir, output_dir), for fixtures with a wider scope."""
    return tiny_config_dict


@pytest.fixture
def batch():
    """Features (2, 4, 6) float64 and a mask with one padded token, for the attention layers."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 6, dtype=torch.float64, generator=g)
    mask = torch.tensor([[1, 1, 1, 0], [1, 1, 1, 1]], dtype=torch.bool)
    return x, mask


@pytest.fixture(scope="module")
def config_path(tmp_path_factory, encoder_dir, make_config_dict) -> Path:
    """config.json of the tiny tasks on the saved tiny encoder (for `qattn` commands); runs
    write to ``run/`` beside it."""
    root = tmp_path_factory.mktemp("probe")
    config = make_config_dict(root / "data", root / "run")
    config["model"]["encoder"] = str(encoder_dir)
    path = root / "config.json"
    path.write_text(json.dumps(config))
    return path
