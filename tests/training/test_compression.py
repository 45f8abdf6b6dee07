"""Top-K keeps exactly K entries; the stochastic quantizer (SFT 17-18) is unbiased."""

from __future__ import annotations

import math

import pytest

torch = pytest.importorskip("torch")

from splitenv.training.compression import (  # noqa: E402
    StochasticQuantizer,
    kept_counts,
    quantize,
    topk_mask,
)


@pytest.mark.parametrize("rho", [0.01, 0.05, 0.1, 0.2, 0.5, 0.9, 1.0])
def test_topk_keeps_exactly_k_per_sample(rho, batch):
    _, mask, _ = batch
    x = torch.randn(*mask.shape, 16, generator=torch.Generator().manual_seed(0))
    kept = topk_mask(x, mask, rho)
    n_real = mask.sum(1).long() * 16
    k = torch.clamp(torch.round(rho * n_real.double()).long(), min=1) if rho < 1 else n_real
    assert torch.equal(kept.reshape(5, -1).sum(1), k)
    assert torch.equal(kept_counts(mask, 16, rho), k)
    assert not kept[mask == 0].any()  # padding is never kept
    # |K / n - rho| <= 1 / (2 n): the kept fraction is exact up to rounding one entry
    assert torch.all((k.double() / n_real - rho).abs() <= 0.5 / n_real + 1e-12)
    # the kept entries are the largest in magnitude of each sample
    for b in range(5):
        real = x[b][mask[b].bool()].abs().flatten()
        kb = int(k[b])
        assert x[b][kept[b]].abs().min() >= torch.topk(real, kb).values.min() - 1e-7


def test_topk_mask_multiplies_the_gradient(batch):
    _, mask, _ = batch
    x = torch.randn(*mask.shape, 8, requires_grad=True)
    kept = topk_mask(x, mask, 0.25)
    (x * kept).sum().backward()
    torch.testing.assert_close(x.grad, kept.float())


@pytest.mark.parametrize("bits", [1, 2, 3, 8])
def test_quantizer_is_unbiased(bits):
    g = torch.Generator().manual_seed(bits)
    x = torch.randn(2, 8, 8, generator=g, dtype=torch.float64)
    kept = torch.rand(x.shape, generator=g) < 0.6
    n_draws = 4000
    # one call: the batch holds n_draws copies of each sample (per-sample s_min, s_max are equal)
    reps = quantize(x.repeat(n_draws, 1, 1), kept.repeat(n_draws, 1, 1), bits, g).values
    draws = reps.reshape(n_draws, *x.shape)
    mean = draws.mean(0)
    # each draw is one of two neighbouring levels, so its std is at most step / 2
    mag = x.abs()
    step = torch.stack(
        [(mag[b][kept[b]].max() - mag[b][kept[b]].min()) / (2**bits - 1) for b in range(2)]
    )
    bound = 5.0 * (step / 2)[:, None, None] / math.sqrt(n_draws)
    target = torch.where(kept, x, torch.zeros_like(x))
    assert torch.all((mean - target).abs() <= bound + 1e-12)
    # and it really is stochastic where the entry is not on a level
    assert draws.std(0).max() > 0


def test_quantizer_levels_signs_and_ends():
    x = torch.tensor([[[0.5, -2.0, 1.0, -0.25, 3.0, 0.0]]])
    kept = x != 0
    q = quantize(x, kept, 2, torch.Generator().manual_seed(0))
    assert q.levels.min() >= 0 and q.levels.max() <= 3
    torch.testing.assert_close(q.side, torch.tensor([[0.25, 3.0]]))
    assert torch.equal(q.negative, torch.tensor([False, True, False, True, False]))
    # the smallest and largest kept magnitudes are levels themselves: exact
    assert q.values[0, 0, 3] == -0.25 and q.values[0, 0, 4] == 3.0
    grid = 0.25 + torch.arange(4) * (3.0 - 0.25) / 3
    got = q.values[kept].abs()
    assert all(torch.isclose(grid, v).any() for v in got)
    assert q.values[0, 0, 5] == 0.0


def test_quantizer_autograd_is_straight_through_on_kept():
    x = torch.randn(2, 3, 4, requires_grad=True)
    kept = torch.rand(2, 3, 4) < 0.5
    sink = []
    y = StochasticQuantizer.apply(x, kept, 3, torch.Generator().manual_seed(0), sink)
    assert len(sink) == 1 and sink[0].levels.numel() == int(kept.sum())
    upstream = torch.randn(2, 3, 4)
    y.backward(upstream)
    torch.testing.assert_close(x.grad, upstream * kept)


def test_bad_arguments():
    x = torch.randn(1, 2, 3)
    with pytest.raises(ValueError, match="keep_ratio"):
        topk_mask(x, torch.ones(1, 2), 0.0)
    with pytest.raises(ValueError, match="quant_bits"):
        quantize(x, x > 0, 0, torch.Generator())
