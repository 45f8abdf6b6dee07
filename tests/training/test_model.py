"""The explicit split model: every cut gives the unsplit outputs and gradients."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from splitenv.training import lora  # noqa: E402
from splitenv.training.federated import split_step  # noqa: E402
from splitenv.training.wire import Wire, WireSpec  # noqa: E402

F = torch.nn.functional


def _with_lora(model, rank=3):
    lora.add_lora(model, ["q", "k", "v", "o", "ffn_in", "ffn_out"], rank, alpha=6.0)
    gen = torch.Generator().manual_seed(2)
    lora.add_slots(model, ["dev0"], gen)
    model.freeze_base()
    with torch.no_grad():  # non-zero B so that every LoRA factor gets a gradient
        for m in lora.slotted(model):
            if isinstance(m, lora.LoRALinear):
                m.slots["dev0"].B.normal_(0.0, 0.1, generator=gen)
    lora.set_active(model, "dev0")
    return model


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}


@pytest.mark.parametrize("cuts", [[0], [1], [2], [4], [1, 3], [0, 4], [2, 2]])
def test_split_equals_unsplit(tiny_model, batch, cuts):
    model = _with_lora(tiny_model)
    ids, mask, y = batch
    logits = model(ids, mask)
    F.cross_entropy(logits, y).backward()
    reference = _grads(model)
    model.zero_grad(set_to_none=True)

    segs = model.segments(cuts)
    assert len(segs) == len(cuts) + 1
    wires = [Wire(WireSpec(), torch.Generator().manual_seed(0)) for _ in cuts]
    _, split_logits = split_step(segs, wires, ids, mask, y)
    torch.testing.assert_close(split_logits, logits.detach(), rtol=0, atol=1e-6)
    got = _grads(model)
    assert got.keys() == reference.keys() and len(got) > 20
    for name, g in reference.items():
        torch.testing.assert_close(got[name], g, rtol=1e-5, atol=1e-7, msg=name)


def test_parts_are_separate_modules_and_the_cut_is_a_leaf(tiny_model, batch):
    model = _with_lora(tiny_model)
    ids, mask, _ = batch
    device, server = model.segments([2])
    assert device.embeddings is not None and device.head is None and len(device.blocks) == 2
    assert server.embeddings is None and server.head is not None and len(server.blocks) == 2
    wire = Wire(WireSpec(), torch.Generator())
    sent, received, _ = wire.send(device(ids, mask), mask)
    assert received.is_leaf and received.requires_grad and received.grad_fn is None
    assert sent.grad_fn is not None
    # padding never travels
    assert wire.stats.up_bits == 32 * int(mask.sum()) * model.cfg.hidden_dim


def test_bad_cuts_raise(tiny_model):
    with pytest.raises(ValueError, match="non-decreasing"):
        tiny_model.segments([3, 1])
    with pytest.raises(ValueError, match=r"within 0\.\.4"):
        tiny_model.segments([5])
