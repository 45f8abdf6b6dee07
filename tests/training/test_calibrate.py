"""The calibration fits (SFT (35), E(r)) and the CLI end to end on a tiny model."""

from __future__ import annotations

import json

import numpy as np
import pytest

from splitenv.model.accuracy import sft_cubic

pytest.importorskip("torch")

from splitenv.training import calibrate as cal


def _run(rho, q, acc, cut=3, rank=16, curve=None):
    return {"keep_ratio": rho, "quant_bits": q, "cut": cut, "rank": rank, "final_accuracy": acc,
            "curve": curve or [acc]}  # fmt: skip


def test_sft_fit_recovers_a_cubic_exactly():
    true = [0.6, 0.3, 0.05, -0.2, -0.004, 0.01, 0.05, 0.0001, -0.01, -0.0005]
    runs = [_run(1.0, 0, 0.93)]
    for rho in (1.0, 0.5, 0.3, 0.2, 0.1, 0.05):
        for q in (2, 3, 4, 8):
            runs.append(_run(rho, q, float(sft_cubic(true, rho, q))))
    fit = cal.fit_sft(runs, cut=3)
    np.testing.assert_allclose(fit["coeffs"], true, atol=1e-8)
    assert fit["mse"] < 1e-20 and fit["n_points"] == 24 and not fit["underdetermined"]
    assert fit["reference_accuracy"] == 0.93 and fit["threshold"] == pytest.approx(0.91)
    assert fit["accuracy_loss_vs_reference"]["0.2/3"] == pytest.approx(
        0.93 - sft_cubic(true, 0.2, 3)
    )


def test_rounds_fit_is_a_plus_b_over_r():
    runs = [_run(1.0, 0, 0, rank=r, cut=1, curve=[min(1.0, t / (2 + 8 / r)) for t in range(1, 20)])
            for r in (1, 2, 4, 8)]  # fmt: skip
    runs.append(_run(1.0, 0, 0, rank=16, cut=1, curve=[0.1] * 5))  # never reaches it
    fit = cal.fit_rounds(runs, cut=1, target=1.0)
    assert fit["rounds_by_rank_measured"] == {1: 10.0, 2: 6.0, 4: 4.0, 8: 3.0, 16: None}
    assert fit["a"] == pytest.approx(2.0) and fit["b"] == pytest.approx(8.0)
    assert fit["rounds_by_rank"] == [[1, 10], [2, 6], [4, 4], [8, 3]]


def test_grid_points():
    setup = cal.SETUPS["sft"]
    pts = cal.grid_points("sft", setup, setup.grids["default"])
    assert pts[0] == (3, 16, 1.0, 0)
    assert len(pts) == 1 + 5 * 6 + 2
    f = cal.SETUPS["fedsllm"]
    assert [p[1] for p in cal.grid_points("fedsllm", f, f.grids["default"])][:4] == [1, 2, 4, 8]


def test_cli_end_to_end_on_a_tiny_model(tmp_path, capsys):
    from splitenv.cli import main

    assert main(["calibrate", "--scenario", "fedsllm", "--grid", "small", "--model", "tiny",
                 "--out", str(tmp_path)]) == 0  # fmt: skip
    record = json.loads((tmp_path / "fedsllm.json").read_text())
    assert record["seeds"] == [0] and record["package_version"]
    assert record["model_layers"] == 4 and len(record["runs"]) == 2
    assert all(len(r["curve"]) == 3 for r in record["runs"])
    assert (tmp_path / "fedsllm_runs.csv").read_text().count("\n") == 1 + 2 * 3
    assert json.loads(capsys.readouterr().out)["runs"] == 2


def test_workers_give_the_same_record(tmp_path):
    """Two processes or one, or seed by seed merged: the same runs in the same order (times aside)."""
    from splitenv.cli import main

    torch_free = ("wall_s", "cpu_s")
    records = []
    for workers in (1, 2):
        rec = cal.calibrate("fedsllm", "small", tmp_path / str(workers), model="tiny", seeds=[0, 1],
                            workers=workers, log=open(tmp_path / f"log{workers}", "w"))  # fmt: skip
        records.append(rec)
    one, two = ([{k: v for k, v in r.items() if k not in torch_free} for r in rec["runs"]]
                for rec in records)  # fmt: skip
    assert len(one) == 2 * 2 and one == two
    assert [(r["rank"], r["seed"]) for r in one] == [(1, 0), (1, 1), (8, 0), (8, 1)]
    assert records[0]["fit"] == records[1]["fit"]
    # the same runs seed by seed, then merged: the record of --seeds 0 1 (times aside)
    for seed in (0, 1):
        cal.calibrate("fedsllm", "small", tmp_path / f"s{seed}", model="tiny", seeds=[seed],
                      log=open(tmp_path / f"logs{seed}", "w"))  # fmt: skip
    parts = [str(tmp_path / f"s{seed}" / "fedsllm.json") for seed in (1, 0)]
    assert main(["calibrate", "--scenario", "fedsllm", "--merge", *parts,
                 "--out", str(tmp_path / "merged")]) == 0  # fmt: skip
    merged = json.loads((tmp_path / "merged" / "fedsllm.json").read_text())
    assert merged["seeds"] == [0, 1] and merged["missing_runs"] == []
    assert [{k: v for k, v in r.items() if k not in torch_free} for r in merged["runs"]] == one
    assert merged["fit"] == json.loads(json.dumps(records[0]["fit"]))
    assert (tmp_path / "merged" / "fedsllm_runs.csv").is_file()
    with pytest.raises(ValueError, match=r"--scenario sft, but .* is of 'fedsllm'"):
        cal.merge(parts, tmp_path / "x", scenario="sft")
    with pytest.raises(ValueError, match="give two or more"):
        cal.merge(parts[:1], tmp_path / "x")
    with pytest.raises(ValueError, match=r"--workers 0; allowed: an integer in \[1, 1024\]"):
        cal.calibrate("sft", "small", tmp_path / "x", model="tiny", workers=0)
