"""LoRA slots, FedAvg weights D_n / D, and why averaging factors is not averaging updates."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from splitenv.training import lora  # noqa: E402


def _layer(rank=2, seed=0):
    torch.manual_seed(seed)
    layer = lora.LoRALinear(torch.nn.Linear(6, 5), rank, alpha=4.0)
    lora.add_slots(layer, ["dev0", "dev1"], torch.Generator().manual_seed(seed))
    return layer


def test_fresh_adapter_changes_nothing():
    layer = _layer()
    x = torch.randn(3, 6)
    layer.active = "dev0"
    torch.testing.assert_close(layer(x), layer.base(x))
    assert not layer.base.weight.requires_grad
    assert all(p.requires_grad for p in layer.slots["dev0"].parameters())


def test_fedavg_uses_data_size_weights():
    states = [{"w": torch.full((2,), 1.0)}, {"w": torch.full((2,), 5.0)}]
    out = lora.fedavg(states, [100, 300])  # D_n: 1/4 and 3/4
    torch.testing.assert_close(out["w"], torch.full((2,), 4.0))
    with pytest.raises(ValueError, match="one weight per state"):
        lora.fedavg(states, [1.0])
    with pytest.raises(ValueError, match="positive sum"):
        lora.fedavg(states, [0.0, 0.0])


def test_averaging_factors_is_not_averaging_products():
    layer = _layer()
    g = torch.Generator().manual_seed(3)
    for name in ("dev0", "dev1"):
        layer.slots[name].A.data = torch.randn(2, 6, generator=g)
        layer.slots[name].B.data = torch.randn(5, 2, generator=g)
    w = [0.3, 0.7]
    avg = lora.fedavg([lora.slot_state(layer, n) for n in ("dev0", "dev1")], w)
    product_of_means = layer.scale * avg["B"] @ avg["A"]
    mean_of_products = w[0] * layer.delta_weight("dev0") + w[1] * layer.delta_weight("dev1")
    # the cross terms B_i A_j (i != j) make the difference
    s0, s1 = layer.slots["dev0"], layer.slots["dev1"]
    b0, b1, a0, a1 = s0.B, s1.B, s0.A, s1.A
    cross = layer.scale * w[0] * w[1] * (b0 @ a1 + b1 @ a0 - b0 @ a0 - b1 @ a1)
    torch.testing.assert_close(product_of_means - mean_of_products, cross.detach())
    assert (product_of_means - mean_of_products).abs().max() > 0.1
    # when every device holds the same adapter the two agree
    same = lora.fedavg([lora.slot_state(layer, "dev0")] * 2, w)
    torch.testing.assert_close(
        layer.scale * same["B"] @ same["A"], layer.delta_weight("dev0").detach()
    )


def test_set_rank_keeps_the_update():
    layer = _layer(rank=2)
    layer.slots["dev0"].B.data = torch.randn(5, 2)
    before = layer.delta_weight("dev0").detach()
    layer.set_rank(4, torch.Generator().manual_seed(0))  # grow: exact
    torch.testing.assert_close(layer.delta_weight("dev0").detach(), before, atol=1e-5, rtol=1e-5)
    layer.set_rank(2, torch.Generator().manual_seed(0))  # shrink to the update's rank: exact
    torch.testing.assert_close(layer.delta_weight("dev0").detach(), before, atol=1e-5, rtol=1e-5)
    layer.set_rank(1, torch.Generator().manual_seed(0))  # shrink below: best rank-1 approximation
    s = torch.linalg.svdvals(before)
    err = torch.linalg.matrix_norm(layer.delta_weight("dev0").detach() - before)
    torch.testing.assert_close(err, s[1], atol=1e-5, rtol=1e-4)


def test_add_lora_targets(tiny_model):
    wrapped = lora.add_lora(tiny_model, ["q", "v"], 2, 4.0)
    assert len(wrapped) == 2 * tiny_model.cfg.n_layers
    with pytest.raises(ValueError, match="unknown LoRA targets"):
        lora.add_lora(tiny_model, ["qkv"], 2, 4.0)


def test_shared_and_device_slots_select_parameters(tiny_model):
    lora.add_lora(tiny_model, ["q"], 2, 4.0)
    lora.add_slots(tiny_model, ["dev0", "dev1", lora.SHARED], torch.Generator().manual_seed(0))
    p0 = {id(p) for p in lora.slot_parameters(tiny_model, "dev0")}
    p1 = {id(p) for p in lora.slot_parameters(tiny_model, "dev1")}
    assert p0 and not p0 & p1
    # 4 LoRA pairs (A, B) + the head's weight and bias
    assert len(p0) == 2 * tiny_model.cfg.n_layers + 2
