"""BiGRUMixer against torch's GRU run on each row's real tokens alone; padding, gradients,
bad inputs and the config (the model with a mixer: tests/qattn_hybrid/modeling/test_model.py)."""

from __future__ import annotations

import pytest
import torch

from qattn_hybrid.config.checks import ConfigError
from qattn_hybrid.config.sections import Config
from qattn_hybrid.layers.mixer import BiGRUMixer, build_mixer


def reference(mixer: BiGRUMixer, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Each row's real tokens through the two GRUs by hand: one sequence at a time, the
    backward one reversed; zeros where the mask is False."""
    out = torch.zeros(*x.shape[:2], mixer.d_out, dtype=x.dtype)
    for b in range(x.shape[0]):
        where = mask[b].nonzero().flatten()
        tokens = x[b, where][None]  # (1, L, D)
        ahead, _ = mixer.forward_gru(tokens)
        behind, _ = mixer.backward_gru(tokens.flip(1))
        out[b, where] = torch.cat([ahead[0], behind[0].flip(0)], dim=-1)
    return out


@pytest.fixture
def mixer():
    torch.manual_seed(0)
    return BiGRUMixer(6, units=4, dropout=0.0).double().eval()


class TestBiGRUMixer:
    @pytest.mark.parametrize("rows", [
        [[1, 1, 1, 1, 1]],                       # no padding
        [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]],      # right padding, as the tokenizer pads
        [[0, 1, 1, 0, 1], [1, 0, 0, 0, 0]],      # holes: padding before and between tokens
    ])
    def test_equals_a_gru_over_each_rows_real_tokens(self, mixer, rows):
        mask = torch.tensor(rows, dtype=torch.bool)
        x = torch.randn(*mask.shape, 6, dtype=torch.float64)
        torch.testing.assert_close(mixer(x, mask), reference(mixer, x, mask), atol=1e-12, rtol=0)

    def test_padding_is_neither_read_nor_written(self, mixer):
        mask = torch.tensor([[1, 1, 1, 0]], dtype=torch.bool)
        x = torch.randn(1, 4, 6, dtype=torch.float64)
        noisy = x.clone()
        noisy[0, 3] = 1e3  # what stands at a padded position does not matter
        longer = torch.cat([x, torch.randn(1, 2, 6, dtype=torch.float64)], 1)
        out = mixer(x, mask)
        torch.testing.assert_close(mixer(noisy, mask), out, atol=1e-12, rtol=0)
        torch.testing.assert_close(mixer(longer, torch.cat([mask, torch.zeros(1, 2).bool()], 1))
                                   [:, :4], out, atol=1e-12, rtol=0)
        assert bool((out[0, 3] == 0).all())

    def test_each_token_reads_its_neighbours(self, mixer):
        """Changing the last token changes the first token's vector (the backward GRU)."""
        mask = torch.ones(1, 4, dtype=torch.bool)
        x = torch.randn(1, 4, 6, dtype=torch.float64)
        changed = x.clone()
        changed[0, 3] += 1.0
        assert not torch.allclose(mixer(x, mask)[0, 0], mixer(changed, mask)[0, 0])

    def test_gradients_match_finite_differences(self, mixer):
        mask = torch.tensor([[1, 1, 0], [1, 1, 1]], dtype=torch.bool)
        x = torch.randn(2, 3, 6, dtype=torch.float64, requires_grad=True)
        assert torch.autograd.gradcheck(lambda t: mixer(t, mask), (x,))

    @pytest.mark.parametrize("call, error, message", [
        (lambda m: m(torch.randn(2, 3, 5), torch.ones(2, 3).bool()), ValueError,
         r"x must be \(B, T, 6\); got shape \(2, 3, 5\)"),
        (lambda m: m(torch.randn(2, 3, 6), torch.ones(2, 3)), ValueError,
         r"mask must be a bool tensor \(B, T\) = \(2, 3\); got torch.float32"),
        (lambda m: BiGRUMixer(6, units=0), ValueError, "units must be a positive int; got 0"),
        (lambda m: BiGRUMixer(6, dropout=1.0), ValueError, r"dropout must be in \[0, 1\)"),
        (lambda m: build_mixer("lstm", 6, 4), ValueError,
         "mixer must be one of 'bigru' or None; got 'lstm'"),
    ])
    def test_bad_input(self, call, error, message):
        with pytest.raises(error, match=message):
            call(BiGRUMixer(6, units=4))


class TestConfig:
    @pytest.mark.parametrize("changes, message", [
        ({"mixer": "lstm"}, "model.mixer must be one of 'bigru'; got 'lstm'"),
        ({"mixer_units": 0}, "model.mixer_units must be >= 1; got 0"),
    ])
    def test_bad_values(self, changes, message):
        with pytest.raises(ConfigError, match=message):
            Config.from_dict({"model": changes})
