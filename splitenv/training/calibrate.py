"""``splitenv calibrate``: measure accuracy with real training over a grid, fit the accuracy models.

* ``--scenario sft``: accuracy after a fixed budget of rounds for every
  (keep ratio rho, quantization bits q) of the grid at the default cut, the
  uncompressed reference (rho = 1, q = 0), and a sweep of cut layers at one
  compressed point. Fits SFT (35), the 10-coefficient cubic A(rho, q), by least
  squares on the quantized points (:func:`splitenv.model.accuracy.sft_cubic_features`;
  rho is the kept fraction, as the engine evaluates the fit), reports its MSE
  and proposes A_th = A_ref - 0.02 (SFT's 2 % tolerance, Sec. VIII-B).
* ``--scenario fedsllm``: accuracy curves per LoRA rank (Q and V, FedsLLM's
  placement; one server adapter shared by the clients, FedsLLM (4)) and per cut.
  E(r) is the first round whose accuracy reaches the target; the fit is
  ``E(r) = a + b / r`` (least squares over the ranks that reached it).

Accuracy at the end of a run is the mean of the last two rounds' evaluations
(less noise than one). Everything is written to ``--out``:
``<scenario>.json`` (grid, seeds, experiment, package version, the command,
every run with its per-round curve and measured vs modelled wire bits, the fit),
``<scenario>_runs.csv`` (one row per run and round) and ``<scenario>_fit.png``
(measured vs fitted). :class:`~splitenv.training.providers.TableAccuracy`
reads the JSON.
"""

from __future__ import annotations

import csv
import json
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from splitenv.model.accuracy import sft_cubic, sft_cubic_features
from splitenv.training.experiment import ExperimentConfig, build_trainer
from splitenv.training.federated import RoundPlan, TrainSettings
from splitenv.training.records import read_record
from splitenv.training.wire import WireSpec

TAIL = 2  # rounds averaged for the end-of-run accuracy
TOLERANCE = 0.02  # SFT Sec. VIII-B: "accuracy loss within 2 %"


@dataclass(frozen=True)
class Grid:
    """What one calibration measures."""

    keep_ratios: tuple[float, ...] = (1.0,)
    quant_bits: tuple[int, ...] = (0,)
    ranks: tuple[int, ...] = (8,)
    cut_sweep: tuple[int, ...] = ()  # cut layers (trained model) at sweep_point
    sweep_point: tuple[float, int] = (1.0, 0)  # (rho, q) of the cut sweep
    rounds: int = 6
    seeds: tuple[int, ...] = (0,)
    target: float = 0.85  # accuracy that defines E(r) (fedsllm)


@dataclass(frozen=True)
class Setup:
    """A scenario's experiment, its default cut / rank and its grids."""

    experiment: ExperimentConfig
    cut: int
    rank: int
    grids: dict[str, Grid]


#: ours: Adam 5e-3 (SGD at SFT's 1e-4 does not move in a few rounds), 4 local steps of 16 samples
SFT_SETTINGS = TrainSettings(local_steps=4, lr=5e-3, eval_samples=300, lora_alpha=16.0)
#: ours: Dirichlet(1.0), milder than SFT's 0.5, so that run-to-run noise stays below the effects
NON_IID_ALPHA = 1.0
SETUPS = {
    "sft": Setup(
        ExperimentConfig(
            model="minilm", n_devices=5, dirichlet_alpha=NON_IID_ALPHA, settings=SFT_SETTINGS
        ),
        cut=3,  # SFT's ViT-B cut 5 of 12, mapped to MiniLM's 6 blocks
        rank=16,  # SFT Table II
        grids={
            "default": Grid(
                keep_ratios=(1.0, 0.5, 0.2, 0.1, 0.05),
                quant_bits=(2, 3, 4, 5, 6, 8),  # dense in q: a cubic through 4 noisy q swings
                cut_sweep=(1, 5),
                sweep_point=(0.2, 3),
                rounds=6,
            ),
            "small": Grid(keep_ratios=(1.0, 0.2, 0.05), quant_bits=(2, 8), rounds=3),
        },
    ),
    "fedsllm": Setup(
        ExperimentConfig(
            model="minilm",
            n_devices=5,
            dirichlet_alpha=NON_IID_ALPHA,
            # ours: 1e-3, as the shared server adapter steps once per device and iteration
            settings=replace(
                SFT_SETTINGS, lora_targets=("q", "v"), server_adapters="shared", lr=1e-3
            ),
        ),
        cut=1,  # FedsLLM's default split 1 of 12, mapped
        rank=8,
        grids={
            "default": Grid(ranks=(1, 2, 4, 8), cut_sweep=(3,), rounds=10, target=0.85),
            "small": Grid(ranks=(1, 8), rounds=3, target=0.5),
        },
    ),
}


def run_point(
    cfg: ExperimentConfig, seed: int, rounds: int, cut: int, rank: int, rho: float, q: int
) -> dict[str, Any]:
    """One training run; returns its per-round curve and wire measurements."""
    start_wall, start_cpu = time.perf_counter(), time.process_time()
    trainer = build_trainer(cfg.with_seed(seed), rank)
    plan = RoundPlan(
        cuts=((cut,),) * cfg.n_devices, rank=rank, wire=WireSpec(keep_ratio=rho, quant_bits=q)
    )
    rows = [trainer.run_round(plan) for _ in range(rounds)]
    up = sum(r.wire["bytes_up"] for r in rows)
    modelled = sum(r.wire["modelled_bytes_up"] for r in rows)
    curve = [r.accuracy for r in rows]
    return {
        "keep_ratio": rho,
        "quant_bits": q,
        "rank": rank,
        "cut": cut,
        "seed": seed,
        "curve": curve,
        "loss_curve": [r.loss for r in rows],
        "train_loss": [r.train_loss for r in rows],
        "bits_per_element_up": [r.wire["bits_per_element_up"] for r in rows],
        "final_accuracy": float(np.mean(curve[-TAIL:])),
        "bytes_up": up,
        "modelled_bytes_up": modelled,
        "size_model_error": (up - modelled) / modelled if modelled else 0.0,
        "wall_s": time.perf_counter() - start_wall,
        "cpu_s": time.process_time() - start_cpu,
    }


def grid_points(name: str, setup: Setup, grid: Grid) -> list[tuple[int, int, float, int]]:
    """(cut, rank, rho, q) of every run, before seeds."""
    pts: list[tuple[int, int, float, int]] = []
    if name == "sft":
        pts.append((setup.cut, setup.rank, 1.0, 0))  # the uncompressed reference
        pts += [(setup.cut, setup.rank, r, q) for r in grid.keep_ratios for q in grid.quant_bits]
    else:
        pts += [(setup.cut, r, 1.0, 0) for r in grid.ranks]
    rho, q = grid.sweep_point
    pts += [(c, setup.rank, rho, q) for c in grid.cut_sweep if c != setup.cut]
    return list(dict.fromkeys(pts))


def fit_sft(runs: list[dict[str, Any]], cut: int) -> dict[str, Any]:
    """Least-squares fit of SFT (35) on the quantized runs at ``cut``; reference and claims."""
    ref = [
        r["final_accuracy"]
        for r in runs
        if r["cut"] == cut and r["keep_ratio"] == 1.0 and r["quant_bits"] == 0
    ]
    pts: dict[tuple[float, int], list[float]] = {}
    for r in runs:
        if r["cut"] == cut and r["quant_bits"] > 0:
            pts.setdefault((r["keep_ratio"], r["quant_bits"]), []).append(r["final_accuracy"])
    keys = sorted(pts)
    rho = np.array([k[0] for k in keys])
    q = np.array([k[1] for k in keys], dtype=np.float64)
    y = np.array([np.mean(pts[k]) for k in keys])
    x = sft_cubic_features(rho, q)
    coeffs, *_ = np.linalg.lstsq(x, y, rcond=None)
    fitted = sft_cubic(coeffs, rho, q)
    a_ref = float(np.mean(ref)) if ref else float(np.max(y))
    loss = {f"{k[0]:g}/{k[1]}": a_ref - float(np.mean(pts[k])) for k in keys}
    return {
        "coeffs": [float(c) for c in coeffs],
        "mse": float(np.mean((fitted - y) ** 2)),
        "max_abs_error": float(np.max(np.abs(fitted - y))),
        "r2": float(1.0 - np.sum((fitted - y) ** 2) / max(np.sum((y - y.mean()) ** 2), 1e-12)),
        "n_points": len(keys),
        "underdetermined": len(keys) < 10,
        "reference_accuracy": a_ref,
        "threshold": a_ref - TOLERANCE,
        "accuracy_loss_vs_reference": loss,
    }


def fit_rounds(runs: list[dict[str, Any]], cut: int, target: float) -> dict[str, Any]:
    """E(r): first round reaching ``target`` per rank at ``cut``; fit ``a + b / r``."""
    by_rank: dict[int, list[int | None]] = {}
    for r in runs:
        if r["cut"] != cut or r["quant_bits"] != 0:
            continue
        hit = next((i + 1 for i, a in enumerate(r["curve"]) if a >= target), None)
        by_rank.setdefault(int(r["rank"]), []).append(hit)
    measured = {
        k: (float(np.mean([h for h in v if h is not None])) if None not in v else None)
        for k, v in sorted(by_rank.items())
    }
    ok = [(k, v) for k, v in measured.items() if v is not None]
    fit: dict[str, Any] = {"target": target, "rounds_by_rank_measured": measured}
    if len(ok) >= 2:
        ranks = np.array([k for k, _ in ok], dtype=np.float64)
        e = np.array([v for _, v in ok])
        (a, b), *_ = np.linalg.lstsq(np.stack([np.ones_like(ranks), 1.0 / ranks], 1), e, rcond=None)
        fit.update(
            a=float(a),
            b=float(b),
            mse=float(np.mean((a + b / ranks - e) ** 2)),
            rounds_by_rank=[[int(k), math.ceil(v)] for k, v in ok],
        )
    return fit


def fit_scenario(scenario: str, runs: list[dict[str, Any]], grid: Grid) -> dict[str, Any]:
    """The scenario's fit at its default cut: SFT (35) or FedsLLM's E(r)."""
    cut = SETUPS[scenario].cut
    return fit_sft(runs, cut) if scenario == "sft" else fit_rounds(runs, cut, grid.target)


def _write_csv(path: Path, scenario: str, runs: list[dict[str, Any]]) -> None:
    cols = [
        "scenario",
        "keep_ratio",
        "quant_bits",
        "rank",
        "cut",
        "seed",
        "round",
        "accuracy",
        "loss",
        "train_loss",
        "bits_per_element_up",
    ]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(cols)
        for r in runs:
            for t, acc in enumerate(r["curve"]):
                w.writerow([scenario, r["keep_ratio"], r["quant_bits"], r["rank"], r["cut"], r["seed"], t + 1,
                            f"{acc:.4f}", f"{r['loss_curve'][t]:.4f}", f"{r['train_loss'][t]:.4f}",
                            f"{r['bits_per_element_up'][t]:.4f}"])  # fmt: skip


def _plot(
    path: Path, scenario: str, runs: list[dict[str, Any]], fit: dict[str, Any], cut: int
) -> bool:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print('calibrate: no matplotlib, no plot (pip install "splitenv[plot]")', file=sys.stderr)
        return False
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    if scenario == "sft":
        ax = axes[0]
        grid = np.linspace(0.05, 1.0, 96)
        n_seeds = len({r["seed"] for r in runs})
        for i, q in enumerate(sorted({r["quant_bits"] for r in runs if r["quant_bits"] > 0})):
            by_rho = _by(runs, lambda r, q=q: r["quant_bits"] == q and r["cut"] == cut,
                         lambda r: r["keep_ratio"])  # fmt: skip
            rhos = sorted(by_rho)
            ys = [np.mean([r["final_accuracy"] for r in by_rho[x]]) for x in rhos]
            sd = [np.std([r["final_accuracy"] for r in by_rho[x]]) for x in rhos]
            # dodge the q's sideways on the log axis so that the error bars stay readable
            xs = np.array(rhos) * 1.03 ** (i - 2.5)
            label = f"q = {q} measured" + (
                f" (mean ± sd, {n_seeds} seeds)" if i == 0 and n_seeds > 1 else ""
            )
            ax.errorbar(xs, ys, yerr=sd if n_seeds > 1 else None, fmt="o", ms=4, capsize=2,
                        color=f"C{i}", label=label)  # fmt: skip
            ax.plot(grid, sft_cubic(fit["coeffs"], grid, q), "-", color=f"C{i}", alpha=0.7)
        ax.axhline(fit["reference_accuracy"], color="k", lw=0.8, label="uncompressed")
        ax.axhline(fit["threshold"], color="k", ls="--", lw=0.8, label="A_th = ref - 0.02")
        ax.set(xlabel="keep ratio rho (1 - sparsity)", ylabel="accuracy", xscale="log",
               title=f"SFT (35) fit: MSE {fit['mse']:.2e}")  # fmt: skip
        ax.legend(fontsize=7)
        ax = axes[1]
        shown = _by(runs, lambda r: r["quant_bits"] == 0 or (r["keep_ratio"], r["quant_bits"]) in ((0.2, 3), (0.05, 2)),
                    lambda r: (r["keep_ratio"], r["quant_bits"], r["cut"]))  # fmt: skip
        for (rho, q, c), group in shown.items():
            curve = np.mean([g["curve"] for g in group], axis=0)
            ax.plot(range(1, len(curve) + 1), curve, label=f"rho {rho:g} q {q} cut {c}")
        title = "per-round curves" + (f" (mean of {n_seeds} seeds)" if n_seeds > 1 else "")
        ax.set(xlabel="round", ylabel="accuracy", title=title)
        ax.legend(fontsize=7)
    else:
        ax = axes[0]
        for r in runs:
            ax.plot(
                range(1, len(r["curve"]) + 1), r["curve"], label=f"r = {r['rank']} cut {r['cut']}"
            )
        ax.axhline(fit["target"], color="k", ls="--", lw=0.8, label="target")
        ax.set(xlabel="round", ylabel="accuracy", title="accuracy per round")
        ax.legend(fontsize=7)
        ax = axes[1]
        meas = [(k, v) for k, v in fit["rounds_by_rank_measured"].items() if v is not None]
        if meas:
            ax.plot(*zip(*meas, strict=True), "o", label="measured E(r)")
        if "a" in fit:
            rr = np.linspace(1, max(k for k, _ in meas), 50)
            ax.plot(rr, fit["a"] + fit["b"] / rr, "-", label="a + b / r")
        ax.set(xlabel="LoRA rank r", ylabel="rounds to target", title="E(r)")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return True


def _by(runs: list[dict[str, Any]], keep: Any, key: Any) -> dict[Any, list[dict[str, Any]]]:
    """The runs ``keep`` accepts, grouped by ``key`` (seeds of one point together), in run order."""
    out: dict[Any, list[dict[str, Any]]] = {}
    for r in runs:
        if keep(r):
            out.setdefault(key(r), []).append(r)
    return out


def calibrate(
    scenario: str,
    grid_name: str,
    out: str | Path,
    *,
    model: str | None = None,
    seeds: Sequence[int] | None = None,
    threads: int = 1,
    workers: int = 1,
    command: str = "",
    log: Any = sys.stderr,
) -> dict[str, Any]:
    """Run the grid, fit, write JSON + CSV + PNG into ``out``; returns the JSON record.

    ``workers`` > 1 runs the (point, seed) runs in that many processes (``threads``
    torch threads each); the record is the same as with one worker but for the times.
    """
    from splitenv import __version__
    from splitenv.training._deps import require_torch

    for flag, value in (("--threads", threads), ("--workers", workers)):
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 1024:
            raise ValueError(f"calibrate: {flag} {value!r}; allowed: an integer in [1, 1024]")
    if seeds and any(isinstance(x, bool) or not 0 <= x < 2**32 for x in seeds):
        raise ValueError(f"calibrate: --seeds {list(seeds)}; allowed: integers in [0, 2**32)")
    require_torch().set_num_threads(threads)
    if scenario not in SETUPS:
        raise ValueError(f"calibrate: scenario {scenario!r}; allowed: {', '.join(SETUPS)}")
    setup = SETUPS[scenario]
    if grid_name not in setup.grids:
        raise ValueError(f"calibrate: grid {grid_name!r}; allowed: {', '.join(setup.grids)}")
    grid = setup.grids[grid_name]
    if seeds:
        grid = replace(grid, seeds=tuple(seeds))
    cfg = setup.experiment if model is None else replace(setup.experiment, model=model)
    points = grid_points(scenario, setup, grid)
    tasks = [(cut, rank, rho, q, seed) for cut, rank, rho, q in points for seed in grid.seeds]
    start = time.perf_counter()

    def report(done: int, run: dict[str, Any]) -> None:
        print(f"[{done}/{len(tasks)}] cut {run['cut']} rank {run['rank']} rho {run['keep_ratio']:g} "
              f"q {run['quant_bits']} seed {run['seed']}: acc {run['final_accuracy']:.3f} "
              f"({run['wall_s']:.0f} s wall, {run['cpu_s']:.0f} s cpu)", file=log, flush=True)  # fmt: skip

    results: list[dict[str, Any] | None] = [None] * len(tasks)
    if workers == 1:
        for i, (cut, rank, rho, q, seed) in enumerate(tasks):
            results[i] = run_point(cfg, seed, grid.rounds, cut, rank, rho, q)
            report(i + 1, results[i])  # type: ignore[arg-type]
    else:
        # one process per run, `threads` torch threads each; every run is seeded by its own
        # (point, seed), so the records are the same as with one worker, in the same order
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        ctx = multiprocessing.get_context("spawn")  # no torch thread pools forked mid-state
        with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_init_worker,
                                 initargs=(threads,)) as pool:  # fmt: skip
            futures = {
                pool.submit(run_point, cfg, seed, grid.rounds, cut, rank, rho, q): i
                for i, (cut, rank, rho, q, seed) in enumerate(tasks)
            }
            for done, fut in enumerate(as_completed(futures), 1):
                results[futures[fut]] = fut.result()
                report(done, results[futures[fut]])  # type: ignore[arg-type]
    runs = [r for r in results if r is not None]
    fit = fit_scenario(scenario, runs, grid)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        "scenario": scenario,
        "grid": grid_name,
        "grid_spec": {k: getattr(grid, k) for k in grid.__dataclass_fields__},
        "command": command
        or f"splitenv calibrate --scenario {scenario} --grid {grid_name} --out {out}",
        "package_version": __version__,
        "seeds": list(grid.seeds),
        "threads": threads,
        "workers": workers,
        "experiment": cfg.to_dict(),
        "default_cut": setup.cut,
        "default_rank": setup.rank,
        "model_layers": build_model_layers(cfg),
        "fit": fit,
        "runs": runs,
        "total_wall_s": time.perf_counter() - start,
        "total_cpu_s": sum(r["cpu_s"] for r in runs),
    }
    return _write(out, record)


def _write(out: Path, record: dict[str, Any]) -> dict[str, Any]:
    """``<scenario>.json``, ``<scenario>_runs.csv`` and ``<scenario>_fit.png`` under ``out``."""
    scenario, runs, fit = record["scenario"], record["runs"], record["fit"]
    (out / f"{scenario}.json").write_text(json.dumps(record, indent=1))
    _write_csv(out / f"{scenario}_runs.csv", scenario, runs)
    record["plot"] = _plot(out / f"{scenario}_fit.png", scenario, runs, fit, record["default_cut"])
    return record


#: what records must share to be merged (the runs' seeds are what differs)
MERGE_KEYS = ("scenario", "grid", "experiment", "default_cut", "default_rank", "model_layers")


def merge(
    paths: Sequence[str | Path], out: str | Path, command: str = "", scenario: str | None = None
) -> dict[str, Any]:
    """Merge calibration records of the same grid run with different seeds, refit, write ``out``.

    Every run is seeded by its own (point, seed), so merging the records of
    ``--seeds 0``, ``--seeds 1`` and ``--seeds 2`` gives the record of
    ``--seeds 0 1 2`` (times aside): a way to add seeds to a shipped calibration,
    or to spread seeds over machines.

    Raises:
        ValueError: fewer than two records, records of different grids or experiments
            (or not of ``scenario``), or a (point, seed) run present twice with different
            results.
        FileFormatError: a record that is not a calibration record (a ValueError too).
        FileNotFoundError: no such record file.
    """
    from splitenv import __version__

    if len(paths) < 2:
        raise ValueError(f"calibrate --merge: {len(paths)} record(s); give two or more JSON files")
    records = [read_record(p) for p in paths]
    first = records[0]
    if scenario is not None and first["scenario"] != scenario:
        raise ValueError(
            f"calibrate --merge: --scenario {scenario}, but {paths[0]} is of {first['scenario']!r}"
        )
    for path, rec in zip(paths[1:], records[1:], strict=True):
        for key in MERGE_KEYS:
            if rec.get(key) != first.get(key):
                raise ValueError(
                    f"calibrate --merge: {path} differs from {paths[0]} in {key!r}; "
                    "only records of the same grid and experiment merge"
                )
    scenario = first["scenario"]
    setup = SETUPS[scenario]
    by_key: dict[tuple[Any, ...], dict[str, Any]] = {}
    for path, rec in zip(paths, records, strict=True):
        for run in rec["runs"]:
            rkey = (run["cut"], run["rank"], run["keep_ratio"], run["quant_bits"], run["seed"])
            if rkey in by_key and by_key[rkey]["curve"] != run["curve"]:
                raise ValueError(
                    f"calibrate --merge: run {rkey} of {path} disagrees with an earlier record"
                )
            by_key.setdefault(rkey, run)
    seeds = sorted({k[-1] for k in by_key})
    spec: dict[str, Any] = {
        k: tuple(v) if isinstance(v, list) else v for k, v in first["grid_spec"].items()
    }
    grid = Grid(**spec)
    grid = replace(grid, seeds=tuple(seeds))
    order = [
        (cut, rank, rho, q, seed)
        for cut, rank, rho, q in grid_points(scenario, setup, grid)
        for seed in seeds
    ]
    runs = [by_key[k] for k in order if k in by_key]
    fit = fit_scenario(scenario, runs, grid)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    record = {
        **{k: first[k] for k in MERGE_KEYS},
        "grid_spec": {k: getattr(grid, k) for k in grid.__dataclass_fields__},
        "command": command or "splitenv calibrate --merge " + " ".join(map(str, paths)),
        "merged_from": [
            {k: r[k] for k in ("seeds", "command", "package_version")} | {"path": str(p)}
            for p, r in zip(paths, records, strict=True)
        ],
        "package_version": __version__,
        "seeds": seeds,
        "fit": fit,
        "runs": runs,
        "missing_runs": [list(k) for k in order if k not in by_key],
        "total_cpu_s": sum(r["cpu_s"] for r in runs),
    }
    return _write(out, record)


def _init_worker(threads: int) -> None:
    from splitenv.training._deps import require_torch

    require_torch().set_num_threads(threads)


def build_model_layers(cfg: ExperimentConfig) -> int:
    """Depth of the experiment's model (for mapping scenario cuts in the table provider)."""
    if cfg.model == "tiny":
        return int(cfg.tiny_shape["n_layers"])
    from splitenv.training.experiment import _pretrained

    return int(_pretrained(cfg, 2)[0].cfg.n_layers)
