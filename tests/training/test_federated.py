"""Federated split rounds on a tiny random encoder: FedAvg, slots, cut / rank changes, tiers."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from splitenv.training import lora  # noqa: E402
from splitenv.training.experiment import ExperimentConfig, build_trainer  # noqa: E402
from splitenv.training.federated import RoundPlan, TrainSettings  # noqa: E402
from splitenv.training.wire import WireSpec  # noqa: E402

SETTINGS = TrainSettings(
    local_steps=2, batch_size=8, lr=3e-3, eval_samples=64, lora_targets=("q", "v")
)
TINY = ExperimentConfig(model="tiny", n_devices=3, n_samples=300, settings=SETTINGS)


def _plan(cut=2, rank=2, **wire):
    return RoundPlan(cuts=((cut,),) * 3, rank=rank, wire=WireSpec(**wire))


def _all_slots_equal(model):
    for m in lora.slotted(model):
        states = [lora.slot_state(m, name) for name in m.slots]
        for s in states[1:]:
            for k, v in s.items():
                if not torch.equal(v, states[0][k]):
                    return False
    return True


def test_round_trains_averages_and_reports():
    tr = build_trainer(TINY, rank=2)
    # D_n from the Dirichlet partition of the 240 training samples
    assert np.isclose(tr.weights.sum(), 240)
    before = {k: v.clone() for k, v in tr.model.state_dict().items() if ".slots." in k}
    res = tr.run_round(_plan(keep_ratio=0.3, quant_bits=3))
    after = tr.model.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)  # adapters moved
    assert _all_slots_equal(tr.model)  # FedAvg: one adapter state everywhere
    assert 0.0 <= res.accuracy <= 1.0 and np.isfinite(res.loss)
    assert res.wire["bytes_up"] > 0 and res.wire["bytes_down"] > 0
    assert res.wire["bits_per_element_up"] < 32 * 0.3
    assert res.adapter_bytes_up > 0
    assert res.wire["messages"] == SETTINGS.local_steps * 3


def test_fedavg_of_the_round_is_the_weighted_mean_of_device_copies(monkeypatch):
    tr = build_trainer(TINY, rank=2)
    captured = {}
    real = lora.fedavg

    def spy(states, weights):
        captured.setdefault("w", list(weights))
        return real(states, weights)

    monkeypatch.setattr(lora, "fedavg", spy)
    tr.run_round(_plan())
    assert captured["w"] == list(tr.weights)


def test_same_seed_same_round_and_seed_matters():
    a = build_trainer(TINY, rank=2).run_round(_plan(keep_ratio=0.5, quant_bits=2))
    b = build_trainer(TINY, rank=2).run_round(_plan(keep_ratio=0.5, quant_bits=2))
    c = build_trainer(TINY.with_seed(5), rank=2).run_round(_plan(keep_ratio=0.5, quant_bits=2))
    assert a.train_loss == b.train_loss and a.wire == b.wire
    assert a.train_loss != c.train_loss


def test_cut_and_rank_may_change_between_rounds():
    tr = build_trainer(TINY, rank=2)
    tr.run_round(_plan(cut=1, rank=2))
    res = tr.run_round(_plan(cut=3, rank=4))
    assert tr.rank == 4 and np.isfinite(res.train_loss)
    assert all(m.rank == 4 for m in lora.slotted(tr.model) if isinstance(m, lora.LoRALinear))
    tr.run_round(_plan(cut=0, rank=1))  # only the embeddings on the device


def test_shared_server_adapter_and_three_tiers():
    cfg = replace(TINY, settings=replace(SETTINGS, server_adapters="shared"))
    tr = build_trainer(cfg, rank=2)
    plan = RoundPlan(cuts=((1, 3),) * 3, rank=2, wire=WireSpec(keep_ratio=0.5, quant_bits=4))
    res = tr.run_round(plan)
    assert res.upper_wire["bytes_up"] > 0 and res.upper_wire["bits_per_element_up"] == 32.0
    assert _all_slots_equal(tr.model)


def test_settings_are_validated():
    with pytest.raises(ValueError, match="optimizer"):
        TrainSettings(optimizer="lion")
    with pytest.raises(ValueError, match="server_adapters"):
        TrainSettings(server_adapters="some")
    tr = build_trainer(TINY, rank=1)
    with pytest.raises(ValueError, match="cuts for 3 devices"):
        tr.run_round(RoundPlan(cuts=((1,),), rank=1))
