"""Tiny fixtures for the training hook: a random 4-layer encoder and a padded batch.

torch is imported inside the fixtures so that the torch-free tests of this
folder (coding, data, lazy imports) run without it.
"""

from __future__ import annotations

import pytest


@pytest.fixture
def torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


@pytest.fixture
def tiny_cfg(torch):
    from splitenv.training.model import EncoderConfig

    return EncoderConfig(
        vocab_size=50,
        hidden_dim=16,
        n_layers=4,
        n_heads=2,
        ffn_dim=32,
        max_positions=32,
        n_classes=3,
    )


@pytest.fixture
def tiny_model(torch, tiny_cfg):
    from splitenv.training.model import Encoder, init_weights

    model = Encoder(tiny_cfg)
    init_weights(model, torch.Generator().manual_seed(0))
    return model


@pytest.fixture
def batch(torch):
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(4, 50, (5, 9), generator=g)
    mask = torch.ones(5, 9)
    mask[1, 6:] = 0.0
    mask[3, 4:] = 0.0
    ids[mask == 0] = 0
    labels = torch.tensor([0, 1, 2, 1, 0])
    return ids, mask, labels
