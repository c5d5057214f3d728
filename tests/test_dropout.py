"""seqkit.nn.dropout: the distribution and scaling of nn.Dropout, a mask drawn with torch.rand on CPU."""

import pytest
import torch
from torch import nn

from seqkit.nn.dropout import Dropout, dropout


@pytest.mark.parametrize("p", [0.02, 0.25, 0.5, 0.9])
def test_units_are_kept_with_probability_one_minus_p_and_scaled(p):
    torch.manual_seed(0)
    x = torch.ones(400_000)
    y = dropout(x, p)
    kept = y != 0
    assert abs(kept.float().mean().item() - (1 - p)) < 4 * ((p * (1 - p) / x.numel()) ** 0.5) + 1e-4
    torch.testing.assert_close(y[kept], torch.full_like(y[kept], 1 / (1 - p)))
    assert abs(y.mean().item() - 1.0) < 0.02  # unbiased, as nn.Dropout


def test_the_gradient_is_the_mask_and_eval_or_p_zero_is_the_identity():
    torch.manual_seed(1)
    x = torch.randn(16, 25, 400, requires_grad=True)
    y = dropout(x, 0.5)
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.where(y != 0, 2.0, 0.0))
    assert dropout(x, 0.5, training=False) is x and dropout(x, 0.0) is x
    assert torch.all(dropout(x, 1.0) == 0)


def test_the_module_is_an_nn_dropout_without_state_and_a_seed_fixes_its_mask():
    module = Dropout(0.3)
    assert isinstance(module, nn.Dropout) and module.p == 0.3 and not module.state_dict()
    x = torch.randn(8, 50)
    torch.manual_seed(7)
    a = module(x)
    torch.manual_seed(7)
    torch.testing.assert_close(module(x), a)
    module.eval()
    assert module(x) is x
