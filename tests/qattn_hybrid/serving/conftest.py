"""A tiny saved model folder for the serving tests: random tiny BERT, quantum attention over
three tasks (two classification, one regression), the tiny tasks' data recorded with it. Built,
not trained: the serving path does not care whether the weights are good."""

from __future__ import annotations

import dataclasses
import importlib.util
import math
from pathlib import Path

import pytest
import torch


def _tiny_encoder(*args, **kwargs):
    """tests/qattn_hybrid/conftest.py's tiny_encoder (a conftest is not importable by name)."""
    path = Path(__file__).resolve().parents[1] / "conftest.py"
    spec = importlib.util.spec_from_file_location("qattn_hybrid_tests_conftest", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.tiny_encoder(*args, **kwargs)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory, tokenizer_dir, make_config_dict) -> Path:
    from qattn_hybrid.config.sections import Config, ModelConfig
    from qattn_hybrid.modeling.model import MultiTaskModel
    from qattn_hybrid.tasks.kinds import ClassificationTask, RegressionTask

    root = tmp_path_factory.mktemp("served")
    config = Config.from_dict(make_config_dict(root / "data", root / "run"))
    tasks = [ClassificationTask("intent", ("card", "payment", "travel")),
             ClassificationTask("sentiment", ("negative", "positive")),
             RegressionTask("score", 3.5, 0.8)]  # standardised targets
    model_config = ModelConfig(encoder="tiny", n_heads=2, max_length=12,
                               circuit={"n_qubits": 3, "n_layers": 2, "readout": "z_zz"})
    state = torch.random.get_rng_state()
    torch.manual_seed(1234)
    model = MultiTaskModel(model_config, tasks, _tiny_encoder(tokenizer_dir, max_length=12))
    with torch.no_grad():  # sharper attention and logits than the mean-pool start
        model.attention.readout.weight.normal_(0, 8)  # it starts at 0 (uniform weights)
        for p in model.attention.circuit.values():
            p.uniform_(-math.pi, math.pi)
        for head in model.heads.values():
            head.weight.mul_(20)
    torch.random.set_rng_state(state)
    model.metadata = {"data": dataclasses.asdict(config.data)}
    return model.save_pretrained(root / "run" / "best").parent  # a run folder


@pytest.fixture(scope="session")
def loaded_model(model_dir):
    from qattn_hybrid.serving.export import load_model

    return load_model(model_dir)
