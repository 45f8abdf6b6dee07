"""Scenario records: presets load, round-trip, override one field at a time, stay frozen."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest
import yaml

import splitenv as se
from splitenv import ConfigError
from splitenv.config import NetworkSpec, Scenario

SCENARIOS = se.list_scenarios()
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _flatten(data, prefix: str = "") -> dict:
    """Nested to_dict() output -> {dotted.key: leaf}."""
    out = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten(value, path + "."))
        else:
            out[path] = value
    return out


# --------------------------------------------------------------------------------------
# loading
# --------------------------------------------------------------------------------------


def test_every_yaml_in_configs_is_listed():
    on_disk = {p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.startswith("_")}
    assert on_disk <= set(SCENARIOS)
    assert {"card", "fedsllm", "scct", "sft", "splitllm"} <= set(SCENARIOS)


@pytest.mark.parametrize("name", SCENARIOS)
def test_preset_loads(name):
    scn = se.load_scenario(name)
    assert isinstance(scn, Scenario)
    assert scn.name == name
    assert scn.description
    lo, hi = scn.decision.split_range
    assert 0 <= lo <= scn.decision.default_split <= hi <= scn.model.n_layers
    assert scn.decision.default_rank in scn.workload.rank_choices
    # by name, by path and case-insensitively: the same record
    assert se.load_scenario(CONFIGS / f"{name}.yaml") == scn
    assert se.load_scenario(name.upper()) == scn


@pytest.mark.parametrize("name", SCENARIOS)
def test_preset_yaml_has_no_silently_ignored_keys(name):
    """Every key written in the YAML ends up in the record with the written value."""
    raw = _flatten(yaml.safe_load((CONFIGS / f"{name}.yaml").read_text()))
    raw.pop("base", None)  # a variation's base preset (merged under it: test_scenario_files)
    loaded = _flatten(se.load_scenario(name).to_dict())
    for key, value in raw.items():
        assert key in loaded, key
        got = loaded[key]
        if isinstance(value, list):
            assert [list(v) if isinstance(v, (list, tuple)) else v for v in got] == value, key
        else:
            assert got == value, key


# --------------------------------------------------------------------------------------
# round trips
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_to_dict_from_dict_round_trip(name):
    scn = se.load_scenario(name)
    data = scn.to_dict()
    back = Scenario.from_dict(data)
    assert back == scn
    assert back.to_dict() == data
    assert hash(back) == hash(scn)
    # through the serializations a user would write it out with
    assert Scenario.from_dict(yaml.safe_load(yaml.safe_dump(data))) == scn
    assert Scenario.from_dict(json.loads(json.dumps(data))) == scn


@pytest.mark.parametrize("name", SCENARIOS)
def test_to_dict_is_plain_data(name):
    """Only dicts, lists and scalars: what yaml.safe_load / json.loads would give back."""

    def check(x):
        if isinstance(x, dict):
            assert all(isinstance(k, str) for k in x)
            for v in x.values():
                check(v)
        elif isinstance(x, list):
            for v in x:
                check(v)
        else:
            assert x is None or type(x) in (bool, int, float, str), (type(x), x)

    check(se.load_scenario(name).to_dict())


def test_default_scenario_round_trips():
    scn = Scenario()
    assert Scenario.from_dict(scn.to_dict()) == scn
    assert Scenario.from_dict({}) == scn


# --------------------------------------------------------------------------------------
# overrides
# --------------------------------------------------------------------------------------


def _overrides(scn: Scenario) -> list[tuple[str, object]]:
    return [
        ("network.bandwidth_hz", scn.network.bandwidth_hz * 2),
        ("network.n_devices", scn.n_devices + 1),
        ("compute.edge_flops", scn.compute.edge_flops * 3),
        ("workload.batch_size", scn.workload.batch_size + 1),
        ("schedule.rounds", scn.schedule.rounds + 7),
        ("description", scn.description + " (changed)"),
        ("memory.device_memory_bytes", [1e9, 2e9]),
    ]


@pytest.mark.parametrize("name", SCENARIOS)
def test_with_overrides_changes_exactly_one_field(name):
    scn = se.load_scenario(name)
    before = _flatten(scn.to_dict())
    for key, value in _overrides(scn):
        new = scn.with_overrides({key: value})
        after = _flatten(new.to_dict())
        assert set(after) == set(before)
        changed = {k for k in before if after[k] != before[k]}
        assert changed == {key}, (key, changed)
        assert new != scn
        assert _flatten(scn.to_dict()) == before  # the original is untouched
    # the override is coerced to the field's type
    widened = scn.with_overrides({"network.bandwidth_hz": 30_000_000})
    assert isinstance(widened.network.bandwidth_hz, float)
    moved = scn.with_overrides({"memory.device_memory_bytes": [1e9, 2e9]})
    assert moved.memory.device_memory_bytes == (1e9, 2e9)
    # load_scenario applies the same overrides
    assert se.load_scenario(name, {"network.n_devices": 3}) == scn.with_overrides(
        {"network.n_devices": 3}
    )


@pytest.mark.parametrize("name", SCENARIOS)
def test_with_overrides_revalidates(name):
    scn = se.load_scenario(name)
    L = scn.model.n_layers
    with pytest.raises(
        ConfigError, match=r"workload\.batch_size = 0 is out of range; allowed: >= 1"
    ):
        scn.with_overrides({"workload.batch_size": 0})
    with pytest.raises(
        ConfigError, match=rf"decision\.default_split = {L + 1} is outside split_range"
    ):
        scn.with_overrides({"decision.default_split": L + 1})
    # a cross-field rule between sections: fewer layers than the split range needs
    hi = scn.decision.split_range[1]
    with pytest.raises(
        ConfigError, match=rf"must satisfy 0 <= lo <= hi <= model\.n_layers = {hi - 1}"
    ):
        scn.with_overrides({"model.n_layers": hi - 1})
    # several overrides are validated together: this pair is consistent
    lo = scn.decision.split_range[0]
    ok = scn.with_overrides({"decision.split_range": [lo, lo], "decision.default_split": lo})
    assert ok.decision.split_range == (lo, lo)


# --------------------------------------------------------------------------------------
# hashable and frozen
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_is_hashable(name):
    a = se.load_scenario(name)
    b = se.load_scenario(name)
    assert a == b and a is not b
    assert hash(a) == hash(b)
    c = a.with_overrides({"network.n_devices": a.n_devices + 1})
    table = {a: "original", c: "changed"}
    assert table[b] == "original"
    assert len({a, b, c}) == 2


@pytest.mark.parametrize("name", SCENARIOS)
def test_scenario_is_frozen(name):
    scn = se.load_scenario(name)
    with pytest.raises(dataclasses.FrozenInstanceError):
        scn.name = "other"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        scn.network.n_devices = 99  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        scn.decision.split_range = (1, 2)  # type: ignore[misc]
    # sequences are tuples, not lists that could be mutated in place
    assert isinstance(scn.decision.split_range, tuple)
    assert isinstance(scn.workload.rank_choices, tuple)
    assert isinstance(scn.accuracy.rounds_by_rank, tuple)
    assert all(isinstance(p, tuple) for p in scn.accuracy.rounds_by_rank)
    assert scn == se.load_scenario(name)


def test_mutating_to_dict_output_does_not_touch_the_record():
    scn = se.load_scenario("scct")
    data = scn.to_dict()
    data["network"]["n_devices"] = 1
    data["decision"]["split_range"][1] = 2
    assert scn.n_devices == 10
    assert scn.decision.split_range == (1, 12)


def test_direct_construction_validates():
    with pytest.raises(
        ConfigError, match=r"bandwidth_hz = -5\.0 is out of range; allowed: > 0 \[Hz\]"
    ):
        NetworkSpec(bandwidth_hz=-5.0)
    with pytest.raises(ConfigError, match=r"distance_m = \(300\.0, 10\.0\) must be \(low, high\)"):
        NetworkSpec(distance_m=(300.0, 10.0))


# --------------------------------------------------------------------------------------
# cross-field validation
# --------------------------------------------------------------------------------------


def test_split_range_beyond_n_layers():
    scct = se.load_scenario("scct")
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "decision.split_range = (1, 30) must satisfy 0 <= lo <= hi <= model.n_layers = 24"
        ),
    ):
        scct.with_overrides({"decision.split_range": [1, 30]})
    with pytest.raises(
        ConfigError, match=r"decision\.split_range = \(5, 3\) must satisfy 0 <= lo <= hi"
    ):
        scct.with_overrides({"decision.split_range": [5, 3], "decision.default_split": 4})


def test_default_split_outside_range():
    scct = se.load_scenario("scct")
    with pytest.raises(
        ConfigError, match=r"decision\.default_split = 13 is outside split_range 1\.\.12"
    ):
        scct.with_overrides({"decision.default_split": 13})
    with pytest.raises(
        ConfigError, match=r"decision\.default_split = 0 is outside split_range 1\.\.12"
    ):
        scct.with_overrides({"decision.default_split": 0})


def test_default_edge_split_three_tier():
    llm = se.load_scenario("splitllm")
    with pytest.raises(
        ConfigError,
        match=r"decision\.default_edge_split = 2 must be in default_split\.\.n_layers = 3\.\.12",
    ):
        llm.with_overrides({"decision.default_edge_split": 2})


def test_card_cost_needs_frequency_control():
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "objective.kind = 'card_cost' needs compute.server_freq_hz and server_flops_per_cycle"
        ),
    ):
        se.load_scenario("scct", {"objective.kind": "card_cost"})
    card = se.load_scenario("card")
    assert card.objective.kind == "card_cost"
    with pytest.raises(ConfigError, match=r"objective\.kind = 'card_cost' needs"):
        card.with_overrides({"compute.server_flops_per_cycle": 0.0})
    with pytest.raises(ConfigError, match=r"objective\.kind = 'card_cost' needs"):
        card.with_overrides({"compute.server_freq_hz": [0.0, 0.0]})


def test_rank_without_lora_targets():
    with pytest.raises(
        ConfigError,
        match=re.escape("workload.rank_choices has ranks > 0 but workload.lora_targets is empty"),
    ):
        se.load_scenario("scct", {"workload.rank_choices": [0, 8]})
    with pytest.raises(
        ConfigError, match=r"rank_choices has ranks > 0 but workload\.lora_targets is empty"
    ):
        se.load_scenario("fedsllm", {"workload.lora_targets": []})


def test_default_rank_not_offered():
    with pytest.raises(
        ConfigError,
        match=r"decision\.default_rank = 3 is not in workload\.rank_choices \(1, 2, 4, 6, 8\)",
    ):
        se.load_scenario("fedsllm", {"decision.default_rank": 3})


def test_federated_exchange_needs_a_pool():
    with pytest.raises(
        ConfigError, match=r"adapter_exchange = 'federated' needs network\.fed_n_subchannels > 0"
    ):
        se.load_scenario("fedsllm", {"network.fed_n_subchannels": 0})


def test_gated_lora_target_needs_gated_ffn():
    with pytest.raises(
        ConfigError, match=r"lora_targets contains 'ffn_gate' but model\.ffn_matrices = 2"
    ):
        se.load_scenario("fedsllm", {"workload.lora_targets": ["q", "ffn_gate"]})
