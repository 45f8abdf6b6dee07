"""Requests too large for the machine fail fast, naming the field, the estimate and the cap."""

from __future__ import annotations

import subprocess
import sys
import time

import numpy as np
import pytest

from splitenv import ConfigError, StateSampler, load_scenario
from splitenv.limits import check, estimate_bytes, limit_bytes


def test_device_cap_is_part_of_validation():
    with pytest.raises(ConfigError, match=r"network\.n_devices = 10000000 .*<= 100000"):
        load_scenario("scct", {"network.n_devices": 10_000_000})


def test_cli_refuses_a_huge_request_in_under_a_second():
    start = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "splitenv.cli", "evaluate", "--scenario", "scct", "--seed", "0",
         "--decision", "default", "--set", "network.n_devices=10000000"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert run.returncode == 2, run.stderr
    assert "network.n_devices = 10000000" in run.stderr and "Traceback" not in run.stderr
    # the whole process (interpreter start and imports included) stays well under a few seconds;
    # the refusal itself happens at validation, before any per-device array exists
    assert time.perf_counter() - start < 20


def test_estimate_against_the_cap(monkeypatch):
    scn = load_scenario("scct", {"network.n_devices": 10_000})
    # 10,000 devices: 512 B of state + 1 KiB per decision each
    assert estimate_bytes(scn) == 10_000 * (512 + 1024)
    assert estimate_bytes(scn, batch=100) == 10_000 * 512 + 10_000 * 100 * 1024
    card = load_scenario("card", {"network.n_devices": 10})
    assert estimate_bytes(card, batch=2) == 10 * 512 + 10 * 2 * (1024 + 32 * 1024)
    monkeypatch.setenv("SPLITENV_MEMORY_LIMIT", "1e6")
    assert limit_bytes() == 1_000_000
    with pytest.raises(
        ConfigError, match=r"network\.n_devices = 10000 needs an estimated 15.4 MB.*cap of 1 MB"
    ):
        check(scn)
    with pytest.raises(ConfigError, match=r"network\.n_devices = 10000"):
        StateSampler(scn, 0)  # sampling asks first
    check(load_scenario("scct", {"network.n_devices": 100}))  # 154 kB: fine
    monkeypatch.setenv("SPLITENV_MEMORY_LIMIT", "lots")
    with pytest.raises(ConfigError, match=r"\$SPLITENV_MEMORY_LIMIT = 'lots'"):
        limit_bytes()


def test_engine_checks_the_batch(monkeypatch):
    import splitenv

    scn = load_scenario("scct", {"network.n_devices": 100})
    state = splitenv.sample_state(scn, 0)
    monkeypatch.setenv("SPLITENV_MEMORY_LIMIT", "2e6")
    splitenv.evaluate(scn, state)  # one decision: 154 kB
    batch = splitenv.Decision(split=np.full((50, 100), 6))  # 100 x 50 decisions: 5.2 MB
    with pytest.raises(ConfigError, match=r"network\.n_devices = 100 x a batch of 50 decisions"):
        splitenv.evaluate_batch(scn, state, batch)
