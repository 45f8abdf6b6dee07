"""Ship a trained agent and draw its training curve against the classical methods (issue 13).

Two steps after ``splitenv train`` and ``splitenv bench``::

    # 1. the agent's test-set score from a bench that played it (ppo:RUN/best_model.zip)
    python benchmarks/agent_report.py ship RUN_DIR --bench BENCH_DIR [--name NAME]
    # 2. its validation curve (the run's EvalCallback log) with the classical methods as lines
    python benchmarks/agent_report.py curve agents/pretrained/NAME.zip [--methods equal,bcd,sqp,alns]
    # 3. the table of every shipped agent against the best general classical method
    python benchmarks/agent_report.py table     # printed; `readme` writes it (and the curves)

``ship`` copies the run's ``best_model.zip`` to ``agents/pretrained/NAME.zip`` and writes the
sidecar ``NAME.json``: the run's metadata (args, env recipe, versions, timing), the file's
``sha256``, the test-set ``evaluation`` read from the bench's ``results.csv`` (mean normalized
cost of the agent's rows with a t 95 % interval, and each other method's, so the sidecar holds
the comparison it was shipped with), and the validation ``curve`` read from the run's
``evaluations.npz`` (steps, mean cost ratio per decision). So the curve can be redrawn from a
fresh clone without the run folder.

``curve`` plays each classical method (``baselines.SolverPolicy``, a snapshot re-solver) on
the agent's validation env (its evaluation recipe and validation seeds, the env the curve was
measured in) and plots the curve with each method's value as a horizontal line, to
``docs/img/agents/<agent name>.png``. The measure on both: the mean over validation episodes of
the per-decision cost ratio (minus the episode reward over its steps: ``cost / reference``
capped as the env's reward is, ``splitenv.env.SplitLoRAEnv``), lower is better.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np

from agents.envs import EnvRecipe, metadata_path
from agents.safe_load import file_sha256
from baselines.harness.policy import SolverPolicy, run_episode
from splitenv.instances import InstanceReset

ROOT = Path(__file__).resolve().parents[1]
SHIPPED = ROOT / "agents" / "pretrained"
FIGURES = ROOT / "docs" / "img" / "agents"


def _t95(n: int) -> float:
    """Two-sided 95 % Student t quantile with n - 1 degrees of freedom (scipy)."""
    from scipy import stats

    return float(stats.t.ppf(0.975, n - 1)) if n > 1 else math.nan


def bench_scores(bench_dir: Path) -> dict[str, dict[str, Any]]:
    """Per method of a bench: mean normalized cost, its 95 % interval, seeds, decision ms."""
    rows: dict[str, list[dict[str, str]]] = {}
    with open(bench_dir / "results.csv", newline="") as f:
        for row in csv.DictReader(f):
            rows.setdefault(row["method"], []).append(row)
    out = {}
    for method, rs in rows.items():
        x = np.array([float(r["normalized_cost"]) for r in rs])
        out[method] = {
            "mean_normalized_cost": round(float(x.mean()), 6),
            "ci95": round(float(_t95(len(x)) * x.std(ddof=1) / math.sqrt(len(x))), 6),
            "seeds": len(x),
            # the CSV's decision_time_s is the mean time of one policy call in the episode
            "decision_ms": round(
                1000 * float(np.mean([float(r["decision_time_s"]) for r in rs])), 3
            ),
            "timescale": rs[0]["timescale"],
            "rounds": int(rs[0]["rounds"]),
            "epochs_per_round": int(rs[0]["epochs_per_round"]),
            "config_sha256": rs[0]["config_sha256"],
            "per_seed": {r["seed"]: round(float(r["normalized_cost"]), 9) for r in rs},
        }
    return out


def validation_curve(run_dir: Path) -> dict[str, list[float]]:
    """Steps and mean cost ratio per decision of each validation (EvalCallback's log)."""
    with np.load(run_dir / "evaluations.npz") as log:
        steps, rewards, lengths = log["timesteps"], log["results"], log["ep_lengths"]
    ratio = (-rewards / np.maximum(lengths, 1)).mean(axis=1)
    return {"timesteps": [int(s) for s in steps], "cost_ratio": [round(float(r), 6) for r in ratio]}


def ship(run_dir: Path, bench_dir: Path, name: str | None, note: str) -> Path:
    meta = json.loads((run_dir / "run.json").read_text())
    scenario, timescale = meta["env"]["scenario"], meta["env"]["timescale"]
    name = name or f"{scenario}_{timescale}_{meta['algo']}"
    scores = bench_scores(bench_dir)
    agent = [m for m in scores if m.startswith("ppo") or m.startswith("maskable_ppo")]
    if len(agent) != 1:
        raise SystemExit(f"{bench_dir}: expected one agent method in the bench, got {agent}")
    mine = scores.pop(agent[0])
    if mine["config_sha256"] != meta["config_sha256"]:
        raise SystemExit(
            f"{bench_dir} ran config {mine['config_sha256'][:12]}, the run trained on "
            f"{meta['config_sha256'][:12]}"
        )
    target = SHIPPED / f"{name}.zip"
    old = (
        json.loads(target.with_suffix(".json").read_text())
        if target.with_suffix(".json").exists()
        else {}
    )
    if old.get("run_name") == meta["run_name"] and "validation_lines" in old:
        meta["validation_lines"] = old["validation_lines"]  # the same run: its lines still hold
    # the run's command with the run folder in the default place and no flags of the session
    command = re.sub(r" --out \S+", " --out runs", meta["command"]).replace(" -q", "")
    shutil.copyfile(run_dir / "best_model.zip", target)
    best = meta.get("best_validation") or {}
    meta.update(
        status="done",
        shipped={
            "file": target.name,
            "from": f"best_model.zip of run {meta['run_name']} (best validation at "
            f"{best.get('best_at_timesteps', '?')} steps)",
            "reproduce": f"{command} && cp runs/{meta['run_name'].rsplit('__', 1)[0]}__*/"
            f"best_model.zip agents/pretrained/{target.name}",
            "note": note,
        },
        evaluation=_evaluation(mine, scores, name, meta),
        curve=validation_curve(run_dir),
        sha256=file_sha256(target),
    )
    meta.pop("pid", None)
    target.with_suffix(".json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"shipped {target} ({mine['mean_normalized_cost']:.4f} +- {mine['ci95']:.4f} on test)")
    return target


def _evaluation(mine: dict[str, Any], scores: dict[str, Any], name: str, meta: dict[str, Any]):
    """The sidecar's ``evaluation`` from a bench's scores (``mine``: the agent's)."""
    scenario = meta["env"]["scenario"]
    sets = "".join(f" --set {k}={v}" for k, v in sorted(meta["env"]["overrides"].items()))
    return {
        "set": "test",
        "seeds": mine["seeds"],
        "mean_normalized_cost": mine["mean_normalized_cost"],
        "ci95": mine["ci95"],
        "decision_ms": mine["decision_ms"],
        "timescale": mine["timescale"],
        "rounds": mine["rounds"],
        "epochs_per_round": mine["epochs_per_round"],
        "per_seed": mine["per_seed"],
        "compared": {
            m: {k: s[k] for k in ("mean_normalized_cost", "ci95", "decision_ms", "per_seed")}
            for m, s in scores.items()
        },
        "command": f"splitenv bench --scenario {scenario} --seeds test --methods "
        f"ppo:@{name},{','.join(scores)}{sets} --out results/agents/{name}",
    }


def rescore(model: Path, bench_dir: Path | None) -> None:
    """Re-measure a shipped agent on the env as it is now.

    With ``bench_dir`` (a bench that played ``ppo:@NAME`` on the test seeds): its evaluation
    is replaced by the bench's. Without: two recorded test seeds are replayed and must give
    the recorded costs (the scenario's config changed in fields the agent's env does not use);
    then only the recorded config hash is brought up to date.
    """
    from agents.catalog import current_config_sha256

    path = model.with_suffix(".json")
    meta = json.loads(path.read_text())
    now = current_config_sha256(meta)
    if bench_dir is not None:
        scores = bench_scores(bench_dir)
        agent = [m for m in scores if m.startswith("ppo")]
        if len(agent) != 1 or scores[agent[0]]["config_sha256"] != now:
            raise SystemExit(f"{bench_dir}: needs one ppo method on the current config {now}")
        mine = scores.pop(agent[0])
        meta["evaluation"] = _evaluation(mine, scores, model.stem, meta)
        how = f"re-scored by {bench_dir.name} on the test seeds"
    else:
        from agents.catalog import replay_test_seeds

        for seed, got, recorded in replay_test_seeds(model, meta):
            if not math.isclose(got, recorded, rel_tol=1e-7):
                raise SystemExit(f"seed {seed}: {got} now, {recorded} recorded")
        how = "replayed seeds give the recorded costs"
    meta["evaluation"]["measured"] = f"config {now[:12]}: {how}"
    meta["config_sha256"] = now
    path.write_text(json.dumps(meta, indent=1) + "\n")
    print(f"{model.name}: config {now[:12]}, {how}")


def _episode_ratio(env: Any, policy: SolverPolicy, seed: int) -> float:
    """Mean cost ratio per decision of one episode (minus its reward over its steps)."""
    result = run_episode(env, policy, seed)
    return -result.total_reward / result.steps


def classical_lines(meta: dict[str, Any], methods: list[str]) -> dict[str, float]:
    """Each method's mean cost ratio per decision on the agent's validation env and seeds."""
    recipe = EnvRecipe.from_dict(meta["eval_env"])
    seeds = meta["validation_seeds"]
    lines = {}
    for method in methods:
        env = InstanceReset(recipe.make(), seeds)
        policy = SolverPolicy(method)
        lines[method] = round(float(np.mean([_episode_ratio(env, policy, s) for s in seeds])), 6)
        print(f"  {method}: {lines[method]:.4f}", file=sys.stderr)
    return lines


def curve(model: Path, methods: list[str], out: Path | None) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = metadata_path(model)
    meta = json.loads(path.read_text())
    lines = meta.get("validation_lines") or {}
    missing = [m for m in methods if m not in lines]
    if missing:
        lines.update(classical_lines(meta, missing))
        meta["validation_lines"] = lines
        path.write_text(json.dumps(meta, indent=1) + "\n")
    data = meta["curve"]
    fig, ax = plt.subplots(figsize=(6, 3.6))
    ax.plot(data["timesteps"], data["cost_ratio"], marker="o", ms=3, color="k", label="ppo")
    for i, (method, value) in enumerate(sorted(lines.items(), key=lambda kv: kv[1])):
        ax.axhline(value, ls="--", lw=1, color=f"C{i}", label=method)
    ax.set_xlabel("training steps")
    ax.set_ylabel("cost / reference per decision")
    ax.set_title(f"{scenario_label(meta)}, {meta['env']['timescale']} timescale (validation seeds)")
    ax.legend(fontsize=8, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    out = out or FIGURES / f"{model.stem}.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)
    plt.close(fig)
    print(f"wrote {out}")
    return out


def scenario_label(meta: dict[str, Any]) -> str:
    """The agent's scenario, with the overrides it was trained on (``splitllm (n_devices=10)``)."""
    env = meta["env"]
    overrides = env.get("overrides") or {}
    if not overrides:
        return str(env["scenario"])
    sets = ", ".join(f"{k.rsplit('.', 1)[-1]}={v}" for k, v in sorted(overrides.items()))
    return f"{env['scenario']} ({sets})"


#: the general classical methods (every scenario), among which "the best" is taken
GENERAL = ("alns", "sqp", "bcd", "de", "random_search")


def paired_gap(agent: dict[str, float], other: dict[str, float]) -> tuple[float, float]:
    """Mean of agent / other - 1 over the shared seeds, in %, and its t 95 % half-width."""
    seeds = sorted(set(agent) & set(other))
    d = np.array([agent[s] / other[s] - 1 for s in seeds]) * 100
    return float(d.mean()), float(_t95(len(d)) * d.std(ddof=1) / math.sqrt(len(d)))


def table() -> str:
    """Markdown: each shipped agent's test score next to the best general classical method."""
    rows = [
        "| scenario | agent | timescale | agent's cost | best general method | its cost | "
        "paired gap (95 % CI) | decision ms: agent / alns |",
        "| --- | --- | --- | ---: | --- | ---: | ---: | ---: |",
    ]
    for path in sorted(SHIPPED.glob("*.zip")):
        meta = json.loads(path.with_suffix(".json").read_text())
        ev = meta.get("evaluation") or {}
        if "per_seed" not in ev:
            continue
        general = {m: c for m, c in ev["compared"].items() if m in GENERAL}
        best = min(general, key=lambda m: general[m]["mean_normalized_cost"])
        gap, ci = paired_gap(ev["per_seed"], general[best]["per_seed"])
        alns = general.get("alns", {}).get("decision_ms", math.nan)
        rows.append(
            f"| {scenario_label(meta)} | `{path.stem}` | {ev['timescale']} | "
            f"{ev['mean_normalized_cost']:.4f} ± {ev['ci95']:.4f} | {best} | "
            f"{general[best]['mean_normalized_cost']:.4f} ± {general[best]['ci95']:.4f} | "
            f"{gap:+.2f} ± {ci:.2f} % | {ev['decision_ms']:.1f} / {alns:.0f} |"
        )
    return "\n".join(rows)


def readme_block() -> str:
    """The README's agents block: the table, then each scenario's curve."""
    figures = sorted(FIGURES.glob("*.png"))
    images = " ".join(
        f'<img src="docs/img/agents/{f.name}" width="49%" alt="{f.stem} training curve">'
        for f in figures
    )
    return f"{table()}\n\n{images}\n" if figures else f"{table()}\n"


def write_readme(readme: Path = ROOT / "README.md") -> None:
    """Replace the block between ``<!-- agents:start -->`` and ``<!-- agents:end -->``."""
    text = readme.read_text()
    start, end = "<!-- agents:start -->\n", "<!-- agents:end -->"
    if start not in text or end not in text:
        raise SystemExit(f"{readme}: no {start.strip()} ... {end} block")
    head, rest = text.split(start, 1)
    _, tail = rest.split(end, 1)
    readme.write_text(f"{head}{start}{readme_block()}{end}{tail}")
    print(f"wrote the agents block of {readme}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    s = sub.add_parser("ship", help="copy a run's best model to agents/pretrained with its sidecar")
    s.add_argument("run_dir", type=Path)
    s.add_argument("--bench", type=Path, required=True, help="bench folder that played the run")
    s.add_argument("--name", default=None, help="shipped name (default SCENARIO_TIMESCALE_ALGO)")
    s.add_argument("--note", default="", help="what to know about this agent")
    c = sub.add_parser("curve", help="validation curve of a shipped agent with classical lines")
    c.add_argument("model", type=Path)
    c.add_argument("--methods", default="equal,bcd,sqp,alns")
    c.add_argument("--out", type=Path, default=None)
    r = sub.add_parser("rescore", help="re-measure a shipped agent on the env as it is now")
    r.add_argument("model", type=Path)
    r.add_argument("--bench", type=Path, default=None, help="a bench that played ppo:@NAME")
    sub.add_parser("table", help="markdown table of the shipped agents vs the classical methods")
    sub.add_parser("readme", help="write the table and the curves into README.md's agents block")
    a = parser.parse_args(argv)
    if a.command == "table":
        print(table())
    elif a.command == "rescore":
        rescore(a.model, a.bench)
    elif a.command == "readme":
        write_readme()
    elif a.command == "ship":
        ship(a.run_dir, a.bench, a.name, a.note)
    else:
        curve(a.model, [m for m in a.methods.split(",") if m], a.out)


if __name__ == "__main__":
    main()
