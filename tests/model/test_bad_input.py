"""Bad input fails loudly: each error names the field and what is allowed.

Malformed configs raise ConfigError, malformed decisions DecisionError, malformed
states StateError; every test asserts on the message, not only on the type.
"""

from __future__ import annotations

import re

import numpy as np
import pytest

import splitenv as se
from splitenv import ConfigError, DecisionError
from splitenv.config import Scenario
from splitenv.model import State, StateError, complete, enabled_fields

# "decision.split = 0", also when numpy prints the scalar as np.int64(0)
_NUM = r"(?:np\.\w+\()?{}\)?"


@pytest.fixture(scope="module")
def scct() -> Scenario:
    return se.load_scenario("scct")


@pytest.fixture(scope="module")
def scct_state(scct) -> State:
    return se.sample_state(scct, 0)


@pytest.fixture(scope="module")
def fed() -> Scenario:
    return se.load_scenario("fedsllm")


@pytest.fixture(scope="module")
def fed_state(fed) -> State:
    return se.sample_state(fed, 0)


def _per_device(scn: Scenario, value: float) -> np.ndarray:
    return np.full(scn.n_devices, value, dtype=np.float64)


# --------------------------------------------------------------------------------------
# configs
# --------------------------------------------------------------------------------------


def test_unknown_preset_lists_known_names():
    known = ", ".join(se.list_scenarios())
    with pytest.raises(
        ConfigError, match=re.escape(f"unknown scenario 'nope'; known scenarios: {known}")
    ):
        se.load_scenario("nope")
    assert {"card", "fedsllm", "scct", "sft", "splitllm"} <= set(se.list_scenarios())


def test_missing_yaml_file_is_named(tmp_path):
    path = tmp_path / "absent.yaml"
    with pytest.raises(ConfigError, match=re.escape(str(path))):
        se.load_scenario(path)


@pytest.mark.parametrize("name", se.list_scenarios())
def test_negative_bandwidth_override(name):
    with pytest.raises(
        ConfigError,
        match=re.escape("network.bandwidth_hz = -1.0 is out of range; allowed: > 0 [Hz]"),
    ):
        se.load_scenario(name, {"network.bandwidth_hz": -1})


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        (
            "network.bandwidth_hz",
            0.0,
            "network.bandwidth_hz = 0.0 is out of range; allowed: > 0 [Hz]",
        ),
        (
            "network.bandwidth_hz",
            float("nan"),
            "network.bandwidth_hz = nan is not finite; allowed: > 0",
        ),
        (
            "network.bandwidth_hz",
            float("inf"),
            "network.bandwidth_hz = inf is not finite; allowed: > 0",
        ),
        ("workload.batch_size", 0, "workload.batch_size = 0 is out of range; allowed: >= 1"),
        ("workload.batch_size", 2.5, "workload.batch_size = 2.5 must be an integer"),
        (
            "network.device_power_dbm",
            61.0,
            "network.device_power_dbm = 61.0 is out of range; allowed: <= 60 [dBm]",
        ),
        (
            "network.rate_model",
            "magic",
            "network.rate_model = 'magic' is not allowed; allowed: one of 'shannon'",
        ),
        (
            "compute.device_flops",
            [2e12, 1e12],
            "compute.device_flops = (2000000000000.0, 1000000000000.0) must be (low, high)",
        ),
        (
            "compute.device_flops",
            [1e12],
            "compute.device_flops = [1000000000000.0] must have 2 entries",
        ),
        (
            "workload.lora_targets",
            ["q", "qq"],
            "workload.lora_targets[1] = 'qq' is not allowed; allowed: one of 'q'",
        ),
        ("schedule.migration", "yes", "schedule.migration = 'yes' must be true or false"),
    ],
)
def test_out_of_range_config_values_name_field_and_range(scct, key, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        scct.with_overrides({key: value})


def test_unknown_override_field_lists_the_section_fields(scct):
    with pytest.raises(
        ConfigError,
        match=r"unknown field 'network\.bandwith_hz': network has fields .*\bbandwidth_hz\b",
    ):
        scct.with_overrides({"network.bandwith_hz": 1e6})
    with pytest.raises(
        ConfigError, match=r"unknown field 'netwrok\.n_devices': Scenario has fields .*\bnetwork\b"
    ):
        scct.with_overrides({"netwrok.n_devices": 3})


def test_unknown_yaml_field_lists_the_section_fields(scct, tmp_path):
    data = scct.to_dict()
    data["network"]["bandwith_hz"] = 1e6
    with pytest.raises(
        ConfigError,
        match=r"unknown field network\.bandwith_hz; known fields of network: .*\bbandwidth_hz\b",
    ):
        Scenario.from_dict(data)
    # the same from a YAML file on disk
    import yaml

    path = tmp_path / "typo.yaml"
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"unknown field network\.bandwith_hz"):
        se.load_scenario(path)


# --------------------------------------------------------------------------------------
# decisions
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_decision_value_names_field(scct, scct_state, fed, fed_state, bad):
    share = _per_device(scct, 0.1)
    share[3] = bad
    with pytest.raises(DecisionError, match=r"decision\.compute_share contains NaN or inf"):
        se.evaluate(scct, scct_state, {"compute_share": share})
    power = _per_device(fed, 0.1)
    power[1] = bad
    with pytest.raises(DecisionError, match=r"decision\.power_w contains NaN or inf"):
        se.evaluate(fed, fed_state, {"power_w": power})


def test_nan_in_continuous_bandwidth_names_field():
    sft = se.load_scenario("sft")
    bw = _per_device(sft, sft.network.bandwidth_hz / sft.n_devices)
    bw[0] = np.nan
    with pytest.raises(DecisionError, match=r"decision\.bandwidth_hz contains NaN or inf"):
        se.evaluate(sft, se.sample_state(sft, 0), {"bandwidth_hz": bw})


def test_nan_in_scalar_decision_names_field():
    sft = se.load_scenario("sft")
    with pytest.raises(DecisionError, match=r"decision\.keep_ratio contains NaN or inf"):
        se.evaluate(sft, se.sample_state(sft, 0), {"keep_ratio": float("nan")})


@pytest.mark.parametrize(
    ("name", "field", "value", "allowed"),
    [
        ("fedsllm", "power_w", np.nan, r">= 0"),
        ("scct", "split", np.nan, r"\[1, 12\]"),
        ("scct", "compute_share", np.inf, r"\[0, 1\]"),
    ],
)
def test_non_finite_decision_message_states_allowed_range(name, field, value, allowed):
    scn = se.load_scenario(name)
    arr = np.asarray(complete(scn, None).to_dict()[field], dtype=np.float64)
    arr[0] = value
    with pytest.raises(DecisionError, match=rf"decision\.{field}.*{allowed}"):
        se.evaluate(scn, se.sample_state(scn, 0), {field: arr})


@pytest.mark.parametrize("length", [3, 11, 0])
def test_wrong_array_length(scct, scct_state, length):
    with pytest.raises(
        DecisionError,
        match=rf"decision\.compute_share has shape \({length},\); "
        r"expected \(N,\) or \(B, N\) with N = 10 devices",
    ):
        se.evaluate(scct, scct_state, {"compute_share": np.full(length, 0.1)})
    with pytest.raises(DecisionError, match=rf"decision\.split has shape \({length},\); expected"):
        se.evaluate(scct, scct_state, {"split": np.full(length, 4)})


def test_wrong_array_rank(scct, scct_state):
    with pytest.raises(DecisionError, match=r"decision\.split has shape \(2, 3, 10\); expected"):
        se.evaluate(scct, scct_state, {"split": np.ones((2, 3, 10), dtype=int)})
    with pytest.raises(
        DecisionError, match=r"decision\.rank has shape \(2, 2\); expected a scalar or \(B,\)"
    ):
        se.evaluate(scct, scct_state, {"rank": [[0, 0], [0, 0]]})


def test_batch_size_mismatch(scct, scct_state):
    with pytest.raises(
        DecisionError, match=re.escape("decision fields have different batch sizes [2, 3]")
    ):
        se.evaluate_batch(
            scct, scct_state, {"split": [[4] * 10] * 2, "compute_share": [[0.1] * 10] * 3}
        )


@pytest.mark.parametrize("name", se.list_scenarios())
def test_split_outside_preset_range(name):
    scn = se.load_scenario(name)
    state = se.sample_state(scn, 0)
    lo, hi = scn.decision.split_range
    L = scn.model.n_layers
    for bad in sorted({0, lo - 1, hi + 1, L} - set(range(lo, hi + 1))):
        if bad < 0:
            continue
        msg = (
            rf"decision\.split = {_NUM.format(bad)} is outside the allowed range \[{lo}, {hi}\] "
            rf"\(decision\.split_range\)"
        )
        with pytest.raises(DecisionError, match=msg):
            se.evaluate(scn, state, {"split": np.full(scn.n_devices, bad)})


def test_split_zero_and_L_rejected_for_scct(scct, scct_state):
    for bad in (0, scct.model.n_layers):
        with pytest.raises(
            DecisionError, match=rf"decision\.split = {_NUM.format(bad)} is outside .*\[1, 12\]"
        ):
            se.evaluate(scct, scct_state, {"split": np.full(10, bad)})


def test_shared_split_must_be_equal():
    sft = se.load_scenario("sft")
    with pytest.raises(DecisionError, match=r"decision\.split = .* must be equal for all devices"):
        se.evaluate(sft, se.sample_state(sft, 0), {"split": [3, 4, 3, 3, 3, 3, 3, 3]})


def test_rank_not_in_rank_choices():
    fed = se.load_scenario("fedsllm")
    with pytest.raises(
        DecisionError, match=re.escape("decision.rank = [3] is not one of [1, 2, 4, 6, 8]")
    ):
        se.evaluate(fed, se.sample_state(fed, 0), {"rank": 3})
    with pytest.raises(
        DecisionError, match=re.escape("decision.rank = [0] is not one of [1, 2, 4, 6, 8]")
    ):
        se.evaluate(fed, se.sample_state(fed, 0), {"rank": 0})


def test_rank_on_a_full_finetuning_preset(scct, scct_state):
    with pytest.raises(DecisionError, match=re.escape("decision.rank = [8] is not one of [0]")):
        se.evaluate(scct, scct_state, {"rank": 8})


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("server_freq_hz", 1e9),
        ("bandwidth_hz", 1e6),
        ("keep_ratio", 0.5),
        ("edge_split", 24),
        ("fed_subchannels", 1),
    ],
)
def test_field_the_scenario_does_not_expose(scct, scct_state, field, value):
    exposed = enabled_fields(scct)
    assert {"split", "rank", "subchannels", "compute_share"} <= set(exposed)
    assert field not in exposed
    msg = (
        f"decision.{field} is not a decision of scenario 'scct'; "
        f"its decisions are: {', '.join(exposed)}"
    )
    arr = value if field == "keep_ratio" else np.full(10, value)
    with pytest.raises(DecisionError, match=re.escape(msg)):
        se.evaluate(scct, scct_state, {field: arr})


def test_power_is_only_a_decision_with_power_control(scct, scct_state, fed):
    assert fed.decision.power_control and "power_w" in enabled_fields(fed)
    if not scct.decision.power_control:
        with pytest.raises(
            DecisionError, match=r"decision\.power_w is not a decision of scenario 'scct'"
        ):
            se.evaluate(scct, scct_state, {"power_w": np.full(10, 0.1)})


def test_unknown_decision_field(scct, scct_state):
    with pytest.raises(
        DecisionError, match=r"unknown decision field 'splt'; known: split, edge_split, rank"
    ):
        se.evaluate(scct, scct_state, {"splt": 3})


def test_non_integer_subchannels(scct, scct_state):
    with pytest.raises(DecisionError, match=r"decision\.subchannels = .*1\.5.* must be integers"):
        se.evaluate(scct, scct_state, {"subchannels": np.full(10, 1.5)})


def test_non_integer_split(scct, scct_state):
    with pytest.raises(DecisionError, match=r"decision\.split = .*4\.5.* must be integers"):
        se.evaluate(scct, scct_state, {"split": np.full(10, 4.5)})


def test_non_numeric_decision(scct, scct_state):
    with pytest.raises(DecisionError, match=r"decision\.split = 'abc' is not numeric"):
        se.evaluate(scct, scct_state, {"split": "abc"})


@pytest.mark.parametrize("field", ["subchannels", "power_w", "fed_subchannels", "fed_power_w"])
def test_negative_allocation(fed, fed_state, field):
    value = np.full(fed.n_devices, 1 if "subchannels" in field else 0.1)
    value[2] = -1
    minus_one = _NUM.format(r"-1(?:\.0)?")
    with pytest.raises(DecisionError, match=rf"decision\.{field} = {minus_one} must be >= 0"):
        se.evaluate(fed, fed_state, {field: value})


def test_negative_bandwidth_decision():
    sft = se.load_scenario("sft")
    bw = _per_device(sft, 1e5)
    bw[0] = -1.0
    with pytest.raises(
        DecisionError, match=rf"decision\.bandwidth_hz = {_NUM.format('-1.0')} must be >= 0"
    ):
        se.evaluate(sft, se.sample_state(sft, 0), {"bandwidth_hz": bw})


def test_individual_share_above_one_is_malformed(scct, scct_state):
    with pytest.raises(
        DecisionError,
        match=rf"decision\.compute_share = {_NUM.format('1.5')} "
        r"is outside the allowed range \[0, 1\]",
    ):
        se.evaluate(scct, scct_state, {"compute_share": np.full(10, 1.5)})


def test_compression_and_frequency_ranges():
    sft = se.load_scenario("sft")
    st = se.sample_state(sft, 0)
    with pytest.raises(
        DecisionError,
        match=rf"decision\.keep_ratio = {_NUM.format('0.01')} is outside the allowed range "
        r"\[0\.05, 1\] \(compression\.keep_ratio_range\)",
    ):
        se.evaluate(sft, st, {"keep_ratio": 0.01})
    with pytest.raises(
        DecisionError,
        match=re.escape("decision.quant_bits = [12] must be 0 (unquantized) or in [1, 8]"),
    ):
        se.evaluate(sft, st, {"quant_bits": 12})
    card = se.load_scenario("card")
    with pytest.raises(
        DecisionError,
        match=r"decision\.server_freq_hz = .*3000000000\.0\)? is outside the allowed range "
        r"\[5e\+08, 2\.46e\+09\] \(compute\.server_freq_hz\)",
    ):
        se.evaluate(card, se.sample_state(card, 0), {"server_freq_hz": np.full(5, 3e9)})


def test_edge_split_before_split_three_tier():
    llm = se.load_scenario("splitllm")
    st = se.sample_state(llm, 0)
    with pytest.raises(DecisionError, match=r"decision\.edge_split = 2 must lie in split\.\.12"):
        se.evaluate(llm, st, {"split": np.full(20, 3), "edge_split": np.full(20, 2)})


# --------------------------------------------------------------------------------------
# states
# --------------------------------------------------------------------------------------


def test_state_wrong_length_in_one_field(scct_state):
    with pytest.raises(
        StateError, match=r"state\.device_flops has 3 entries, expected 10 \(one per device\)"
    ):
        scct_state.replace(device_flops=scct_state.device_flops[:3])


def test_state_wrong_length_in_first_field_names_that_field(scct_state):
    with pytest.raises(StateError, match=r"state\.channel_gain has 3 entries"):
        scct_state.replace(channel_gain=scct_state.channel_gain[:3])


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("field", ["channel_gain", "device_flops", "noise_psd_w_hz"])
def test_state_non_finite(scct_state, field, bad):
    arr = getattr(scct_state, field).copy()
    arr[4] = bad
    with pytest.raises(StateError, match=rf"state\.{field} contains NaN or inf"):
        scct_state.replace(**{field: arr})


def test_state_negative(scct_state):
    with pytest.raises(StateError, match=r"state\.device_flops must be >= 0"):
        scct_state.replace(device_flops=-scct_state.device_flops)


def test_state_two_dimensional(scct_state):
    with pytest.raises(
        StateError, match=r"state\.distance_m must be a 1-D array over devices, got shape \(2, 10\)"
    ):
        scct_state.replace(distance_m=np.ones((2, 10)))


def test_state_from_dict_unknown_and_missing_fields(scct_state):
    data = scct_state.to_dict()
    with pytest.raises(StateError, match=r"unknown state field 'foo'; known: .*channel_gain"):
        State.from_dict({**data, "foo": 1})
    del data["device_flops"]
    with pytest.raises(StateError, match=r"state is missing field 'device_flops'"):
        State.from_dict(data)


def test_state_with_wrong_number_of_devices(scct, scct_state):
    six = se.sample_state(se.load_scenario("scct", {"network.n_devices": 6}), 0)
    with pytest.raises(
        StateError, match=re.escape("state has 6 devices but network.n_devices = 10")
    ):
        se.evaluate(scct, six)
    with pytest.raises(
        StateError, match=re.escape("state has 10 devices but network.n_devices = 6")
    ):
        se.evaluate(se.load_scenario("scct", {"network.n_devices": 6}), scct_state)


def test_state_prev_split_outside_range(scct, scct_state):
    with pytest.raises(StateError, match=r"state\.prev_split = .* outside -1 or 1\.\.12"):
        se.evaluate(scct, scct_state.replace(prev_split=np.full(10, 20)))


def test_negative_seed():
    with pytest.raises(ValueError, match=r"seed = -1 must be a non-negative integer"):
        se.StateSampler(se.load_scenario("scct"), -1)
