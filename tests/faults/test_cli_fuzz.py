"""Property-based fuzz of every ``splitenv`` subcommand: exit status 0 or 2, never a traceback.

The subcommands and their options come from the CLI's own parser (the plug-in commands
included), so a new command is fuzzed without touching this file. Each example is an argv
of the command's options with values drawn from numbers as users mistype them, names, paths
to a folder, a missing file and a garbage file, and ``--set`` pairs. It runs in process;
a request that is valid and simply takes long is cut by an alarm after ``BUDGET_S``, which
raises ``KeyboardInterrupt`` (the commands' own interrupt path then runs: exit 130 is
accepted only then). The default run draws a few examples per command; the slow run many.
"""

from __future__ import annotations

import argparse
import signal

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from splitenv.cli import build_parser, main  # noqa: E402

BUDGET_S = 1.5
NUMBERS = ["0", "1", "2", "-1", "3e7", "1_000", "1e308", "-1e308", "nan", "inf", ".5", "1e-9",
           "10000000", "99999999999999999999", "0x10", "true", ""]  # fmt: skip
WORDS = ["scct", "sft", "card", "fedsllm", "splitllm", "equal", "random", "ppo", "joint",
         "epoch", "round", "default", "small", "test", "validation", "0-2", "0,1", "3-1",
         "ppo:@scct_round_ppo", "ppo:nope.zip", "nope", "é", "--", "-", "x" * 300]  # fmt: skip
SETS = ["network.n_devices=4", "network.n_devices=-3", "network.n_devices=1e9",
        "network.bandwidth_hz=3e7", "nope.key=1", "noequals", "network.n_devices=",
        "n_envs=1", "learning_rate=.nan", "decision.split_range=[1,2]", "a=!!python/name:os"]  # fmt: skip


def subcommands() -> dict[str, argparse.ArgumentParser]:
    """Every subcommand's parser, from the CLI's parser (plug-ins included)."""
    parser = build_parser()
    actions = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


COMMANDS = subcommands()


def test_the_fuzz_covers_the_plugin_commands():
    assert {"state", "evaluate", "bench", "solve", "run", "train"} <= set(COMMANDS)


@st.composite
def argv_for(draw, name: str, paths: dict[str, str]):
    """An argv for subcommand ``name``: its required options always, the others sometimes."""
    values = st.sampled_from(NUMBERS + WORDS + list(paths.values()))
    out = [name]
    for action in COMMANDS[name]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:  # a positional
            choices = list(action.choices or []) + WORDS[:3]
            out.append(draw(st.sampled_from(choices)))
            continue
        if not action.required and not draw(st.booleans()):
            continue
        flag = action.option_strings[-1]
        if action.nargs == 0:
            out.append(flag)
        elif flag == "--set":
            out += [flag, draw(st.sampled_from(SETS))]
        else:
            pool = (
                st.sampled_from([*map(str, action.choices), "nope"]) if action.choices else values
            )
            count = draw(st.integers(1, 2)) if action.nargs in ("+", "*") else 1
            out += [flag, *(draw(pool) for _ in range(count))]
    return out


class Budget(KeyboardInterrupt):
    """The fuzz's time budget ran out (a valid request doing real work)."""


def _alarm(signum, frame):
    raise Budget


#: modules the commands import lazily; imported before the fuzz, so the budget's interrupt
#: never lands inside an import (an import cut in half cannot be retried in one process)
HEAVY = ("torch", "sympy", "sympy.printing", "stable_baselines3", "sb3_contrib", "scipy.stats",
         "matplotlib.figure", "tqdm", "agents.train", "agents.policy", "baselines.harness.bench",
         "baselines.harness.figures", "baselines.reproduce", "splitenv.training.calibrate")  # fmt: skip


@pytest.fixture(scope="module", autouse=True)
def imported():
    import importlib

    for module in HEAVY:
        try:
            importlib.import_module(module)
        except ImportError:  # an extra that is not installed: its command says so (exit 2)
            pass


@pytest.fixture
def paths(tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    (root / "garbage.json").write_bytes(b"\xff\x00{[")
    (root / "agent.zip").write_bytes(b"PK\x03\x04 not really")
    return {"dir": str(root / "d"), "missing": str(root / "missing.json"),
            "garbage": str(root / "garbage.json"), "zip": str(root / "agent.zip")}  # fmt: skip


def run_one(argv: list[str], capsys) -> None:
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, BUDGET_S)
    fired = False
    try:
        code = main(argv)
    except SystemExit as exc:  # argparse: --help (0) or a usage error (2)
        code = exc.code
    except Budget:
        fired, code = True, 130
    finally:
        fired = fired or signal.getitimer(signal.ITIMER_REAL)[0] == 0.0
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    err = capsys.readouterr().err
    assert "Traceback" not in err, (argv, err)
    assert code in (0, 2) or (code == 130 and fired), (argv, code, err[-500:])


def _fuzz(name, data, paths, capsys, monkeypatch, tmp_path):
    monkeypatch.chdir(tmp_path)  # commands with a default output folder write here
    monkeypatch.setenv("SPLITENV_MEMORY_LIMIT", "2e9")
    run_one(data.draw(argv_for(name, paths)), capsys)


FEW = settings(max_examples=3, deadline=None, derandomize=True, database=None,
               suppress_health_check=list(HealthCheck))  # fmt: skip
MANY = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=list(HealthCheck))  # fmt: skip


@pytest.mark.parametrize("name", sorted(COMMANDS))
@FEW
@given(data=st.data())
def test_fuzz_every_subcommand(name, data, paths, capsys, monkeypatch, tmp_path):
    _fuzz(name, data, paths, capsys, monkeypatch, tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(COMMANDS))
@MANY
@given(data=st.data())
def test_fuzz_every_subcommand_long(name, data, paths, capsys, monkeypatch, tmp_path):
    _fuzz(name, data, paths, capsys, monkeypatch, tmp_path)
