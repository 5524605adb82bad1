"""The attention registry: every built-in kind by name, the builders' wiring of the config,
unknown names, kinds registered at run time."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from qattn_hybrid.config.choices import ATTENTION_KINDS
from qattn_hybrid.config.sections import Config, ModelConfig
from qattn_hybrid.layers.classical import ClassicalAttention, count_parameters
from qattn_hybrid.layers.quantum import QuantumAttention
from qattn_hybrid.layers.registry import ATTENTIONS, build_attention, register_attention
from qattn_hybrid.layers.self_attention import QuantumEncoderLayer, SelfAttentionPooling

D, K = 8, 3  # d_model, tasks


def config(circuit=None, execution=None, **changes) -> ModelConfig:
    return ModelConfig(circuit={"n_qubits": 2, "n_layers": 1, **(circuit or {})},
                       execution=execution or {}, **changes)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_every_kind_pools_with_the_model_interface(kind):
    """forward(x (B, T, D), task_id, mask (B, T)) -> pooled (B, D), weights (B, H, T): weights
    >= 0, summing to 1 over the real tokens and 0 on padding."""
    torch.manual_seed(0)
    module = build_attention(config(attention=kind, n_heads=2), D, K)
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    pooled, weights = module(torch.randn(2, 4, D), torch.tensor([0, 2]), mask)
    H = 1 if kind == "mean" else 2  # mean pooling has no heads to split: one set of weights
    assert pooled.shape == (2, D) and weights.shape == (2, H, 4)
    assert torch.allclose(weights.sum(-1), torch.ones(2, H), atol=1e-5)
    assert bool((weights[1, :, 2:] == 0).all()) and bool((weights >= 0).all())


def test_quantum_builder_passes_every_circuit_setting():
    c = config(n_heads=2, circuit=dict(n_qubits=3, n_layers=2, ansatz="strongly_entangling",
                                       conditioning="task_rotations", rotation="X",
                                       reupload=True, readout="z_zz"),
               execution=dict(qml_device="default.qubit", shots=20, device_options={"seed": 3}))
    layer = build_attention(c, D, K)
    assert isinstance(layer, QuantumAttention)
    s = layer.spec
    assert (s.n_qubits, s.n_layers, s.n_tasks, s.ansatz.value, s.conditioning.value) == (
        3, 2, K, "strongly_entangling", "task_rotations")
    assert (s.rotation.value, s.reupload, s.readout.value) == ("X", True, "z_zz")
    assert (layer.n_heads, layer.qml_device, layer.shots) == (2, "default.qubit", 20)
    assert layer.device_options == {"seed": 3}


def test_classical_control_matches_the_quantum_parameter_count():
    circuit = {"n_qubits": 4, "n_layers": 2}
    quantum = build_attention(config(circuit), 32, K)
    classical = build_attention(config(circuit, attention="classical"), 32, K)
    assert isinstance(classical, ClassicalAttention)
    per_unit = 32 + 1 + K  # one more hidden unit of the classical layer
    assert abs(count_parameters(quantum) - count_parameters(classical)) <= per_unit // 2 + 1


def test_quantum_self_builds_an_encoder_layer_then_pools():
    module = build_attention(config(attention="quantum_self", n_heads=2), D, K)
    assert isinstance(module, SelfAttentionPooling)
    assert isinstance(module.layer, QuantumEncoderLayer)


def test_quantum_self_device_options_reach_the_circuit():
    """`quantum_self` dropped device_options (a QPU config lost its backend)."""
    options = {"seed": 7}  # a real default.qubit option, so the device is built with it
    c = config(attention="quantum_self", n_heads=2,
               execution=dict(qml_device="default.qubit", shots=50, device_options=options))
    attention = build_attention(c, D, K).layer.self_attn
    quantum = build_attention(dataclasses.replace(c, attention="quantum"), D, K)
    assert attention.device_options == quantum.device_options == options
    assert attention.qml_device == "default.qubit" and attention.shots == 50
    assert attention.execution == quantum.execution == c.execution


def test_quantum_self_device_options_reach_the_device():
    """The seed in device_options seeds quantum_self's shot sampling: the same seed draws the
    same shots, another seed other shots (so the device was built with the options)."""
    def features(seed: int) -> torch.Tensor:
        torch.manual_seed(0)
        c = config(attention="quantum_self", n_heads=2, execution=dict(
            qml_device="default.qubit", shots=50, device_options={"seed": seed}))
        layer = build_attention(c, D, K).layer.self_attn
        x = torch.randn(2, 4, D, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            return layer.features(x, 0, torch.ones(2, 4, dtype=torch.bool))

    first = features(7)
    assert torch.equal(first, features(7)) and not torch.equal(first, features(8))


def test_unknown_attention_lists_the_choices():
    c = config()
    c.attention = "nonexistent"  # past the config's own check
    with pytest.raises(ValueError, match="Unknown attention 'nonexistent'. Available: "
                                         "classical, mean, quantum, quantum_self"):
        build_attention(c, D, K)


def test_a_kind_registered_at_run_time_is_built_and_accepted_by_the_config(monkeypatch):
    monkeypatch.setitem(ATTENTIONS, "mine", None)  # removed again after the test
    register_attention("mine")(lambda c, d_model, n_tasks: ClassicalAttention(d_model, n_tasks))
    Config.from_dict({"model": {"attention": "mine"}})  # no ConfigError
    assert isinstance(build_attention(config(attention="mine"), D, K), ClassicalAttention)
