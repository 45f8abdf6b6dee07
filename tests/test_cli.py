"""The splitenv command line, run in-process through splitenv.cli.main."""

import json

import pytest

from splitenv.cli import main
from splitenv.scenarios import list_scenarios


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_scenarios_lists_every_preset(capsys):
    code, out, _ = run(capsys, "scenarios")
    assert code == 0
    for name in ("scct", "sft", "splitllm", "card", "fedsllm"):
        assert name in out


def test_allocators_lists_each_with_the_presets_paper_runs_it_for(capsys):
    from splitenv import allocation

    code, out, _ = run(capsys, "allocators")
    assert code == 0
    rows = {line.split()[0]: line for line in out.splitlines()[1:]}
    assert set(rows) == set(allocation.available())
    # the preset -> allocator map of `paper` (splitenv.allocation.papers._paper_choice)
    expected = {"scct_alg1": "scct", "sft_sqp": "sft", "card_frequency": "card",
                "fedsllm_comm": "fedsllm", "equal": "splitlora"}  # fmt: skip
    for name, preset in expected.items():
        assert f" {preset}" in rows[name], (name, rows[name])
    assert rows["sft_bisection"].split()[1:3] == ["yes", "-"]  # batched, opt-in only
    assert "P3 (42)" in rows["sft_bisection"]


def test_state_then_evaluate_round_trip(capsys, tmp_path):
    code, out, _ = run(capsys, "state", "--scenario", "sft", "--seed", "3")
    assert code == 0
    path = tmp_path / "state.json"
    path.write_text(out)
    code, from_file, _ = run(
        capsys, "evaluate", "--scenario", "sft", "--state", str(path), "--decision", "default"
    )
    code2, from_seed, _ = run(
        capsys, "evaluate", "--scenario", "sft", "--seed", "3", "--decision", "default"
    )
    assert code == code2 == 0
    a, b = json.loads(from_file), json.loads(from_seed)
    assert a == b  # the JSON state reproduces the seeded one exactly
    for key in ("latency_s", "energy_j", "feasible", "violations", "terms", "per_device"):
        assert key in a


def test_evaluate_decision_file_and_overrides(capsys, tmp_path):
    decision = tmp_path / "d.json"
    decision.write_text(json.dumps({"split": [2, 2, 2, 2], "subchannels": [50, 50, 50, 60]}))
    code, out, _ = run(
        capsys, "evaluate", "--scenario", "scct", "--seed", "0", "--decision", str(decision),
        "--set", "network.n_devices=4",
    )  # fmt: skip
    assert code == 0
    result = json.loads(out)
    assert result["violations"] == {"subchannels": 10.0} and result["feasible"] is False


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["evaluate", "--scenario", "nope", "--seed", "0", "--decision", "default"], "unknown scenario 'nope'"),
        (["evaluate", "--scenario", "scct", "--seed", "0", "--decision", "default", "--set", "network.bandwidth_hz=-1"], "bandwidth_hz"),
        (["evaluate", "--scenario", "scct", "--seed", "0", "--decision", "missing.json"], "no such file"),
        (["solve", "--scenario", "card", "--solver", "nope"], "unknown solver 'nope'"),
    ],
)  # fmt: skip
def test_errors_are_clear_and_exit_2(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_solve_and_solvers(capsys):
    code, out, _ = run(capsys, "solvers")
    assert code == 0 and "scctt" in out and "card_exact" in out
    code, out, _ = run(capsys, "solve", "--scenario", "card", "--seed", "1", "--solver", "card")
    result = json.loads(out)
    assert code == 0 and result["feasible"] and result["solver"] == "card"
    assert set(result["decision"]) >= {"split", "server_freq_hz"}


def test_breakdown_prints_every_preset(capsys):  # `run` is the benchmark main job now
    code, out, _ = run(capsys, "breakdown")
    assert code == 0
    assert out.count("yes") == len(list_scenarios())  # every preset's default is feasible
