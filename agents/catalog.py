"""The agents this package ships (``agents/pretrained/<name>.zip`` with its ``<name>.json``).

Each shipped agent has a sidecar of plain JSON (:func:`agents.envs.read_metadata`): the run's
args, env recipe and hyperparameters, the ``sha256`` of its file (checked on load,
:mod:`agents.safe_load`), and what ``splitenv agents`` lists (:data:`COLUMNS`): the scenario
and its version, the hash of the scenario config it was trained on (``config_sha256``, the
:meth:`splitenv.config.Scenario.sha256` of the preset with the recipe's overrides), training
steps, seed, and its evaluation score (``evaluation``: the mean normalized cost on the test
instances with its 95 % interval, from ``splitenv bench``).

``@NAME`` names a shipped agent (``ppo:@scct_round_ppo``); ``@SCENARIO`` the scenario's own
(:func:`shipped_for`: the one trained on the preset without overrides; agents trained on a
variant, such as another number of devices, are named by ``@NAME``), which is what bare
``ppo`` means in ``splitenv bench``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agents.envs import read_metadata
from splitenv.errors import ConfigError, SplitenvError
from splitenv.scenarios import load_scenario

#: the folder of the shipped agents
SHIPPED = Path(__file__).resolve().parent / "pretrained"
#: what ``splitenv agents`` prints for each shipped agent
COLUMNS = (
    "name", "scenario", "version", "timescale", "config", "steps", "seed", "score",
)  # fmt: skip


def shipped_agents() -> list[tuple[Path, dict[str, Any]]]:
    """The shipped agents: ``(model file, sidecar metadata)``, sorted by name."""
    return [(p, read_metadata(p)) for p in sorted(SHIPPED.glob("*.zip"))]


def shipped_list() -> str:
    """``@NAME (scenario, timescale, algo)`` of every shipped agent, for error messages."""
    return (
        ", ".join(
            f"@{p.stem} ({m['env'].get('scenario')}, {m['env'].get('timescale')}, {m['algo']})"
            for p, m in shipped_agents()
        )
        or "none"
    )


def shipped_for(scenario: str, algo: str | None = None) -> Path:
    """The shipped agent of a scenario (``algo``: only agents of that algorithm).

    Raises:
        ConfigError: none ships for the scenario, or several do (name one as ``@NAME``);
            the message names the scenario and lists the shipped agents.
    """
    found = [
        p
        for p, m in shipped_agents()
        if m["env"].get("scenario") == scenario
        and (algo is None or m["algo"] == algo)
        and not m["env"].get("overrides")  # trained on the preset itself, not a variant of it
    ]
    kind = f"{algo} agent" if algo else "agent"
    if not found:
        raise ConfigError(
            f"no shipped {kind} for scenario {scenario!r}; shipped: {shipped_list()} "
            "(train one with `splitenv train`, then use ppo:PATH)"
        )
    if len(found) > 1:
        names = ", ".join(f"@{p.stem}" for p in found)
        raise ConfigError(
            f"scenario {scenario!r} ships several {kind}s ({names}): name one as ppo:@NAME"
        )
    return found[0]


def current_config_sha256(meta: dict[str, Any]) -> str | None:
    """The hash of the agent's scenario config as it is now (None: it no longer loads)."""
    env = meta.get("env") or {}
    try:
        return load_scenario(env["scenario"], env.get("overrides") or {}).sha256()
    except (SplitenvError, KeyError):
        return None


def score_text(meta: dict[str, Any]) -> str:
    """The evaluation score: test-set mean normalized cost +- 95 % CI, else the best validation."""
    ev = meta.get("evaluation") or {}
    if "mean_normalized_cost" in ev:
        return (
            f"{ev['mean_normalized_cost']:.4f} +- {ev.get('ci95', float('nan')):.4f} "
            f"({ev.get('set', '?')}, {ev.get('seeds', '?')} seeds)"
        )
    best = meta.get("best_validation") or {}
    if "best_mean_reward" in best:
        return f"validation reward {best['best_mean_reward']:.5g}"
    return "-"


def agent_row(path: Path, meta: dict[str, Any]) -> dict[str, Any]:
    """One shipped agent as the :data:`COLUMNS` of ``splitenv agents`` (plus ``stale``).

    ``stale``: the scenario config changed since the agent was trained (its recorded
    ``config_sha256`` is not the preset's hash now), so its score may no longer hold.
    """
    env = meta.get("env") or {}
    recorded = meta.get("config_sha256")
    now = current_config_sha256(meta)
    return {
        "name": path.stem,
        "scenario": env.get("scenario", "?"),
        "version": meta.get("scenario_version", "?"),
        "timescale": env.get("timescale", "?"),
        "config": (recorded or "?")[:12],
        "steps": meta.get("num_timesteps", "?"),
        "seed": meta.get("seed", (meta.get("args") or {}).get("seed", "?")),
        "score": score_text(meta),
        "algo": meta.get("algo", "?"),
        "stale": bool(recorded and now and recorded != now),
    }


def agent_rows() -> list[dict[str, Any]]:
    """Every shipped agent as a row of ``splitenv agents``."""
    return [agent_row(p, m) for p, m in shipped_agents()]


def replay_test_seeds(
    path: Path, meta: dict[str, Any], count: int = 2
) -> list[tuple[int, float, float]]:
    """``(seed, normalized cost now, recorded)`` of the first ``count`` recorded test seeds.

    Each seed is replayed through the bench's own path (:func:`baselines.harness.episode.play`)
    at the timescale and episode length the sidecar's ``evaluation`` was measured at, on the
    variant of the scenario the agent was trained and scored on (its ``overrides``).
    """
    from baselines.harness.episode import play
    from baselines.harness.jobs import Job

    ev = meta["evaluation"]
    out = []
    for seed in sorted(int(s) for s in ev["per_seed"])[:count]:
        job = Job(
            scenario=meta["env"]["scenario"], method=f"ppo:{path}", seed=seed,
            timescale=ev["timescale"], rounds=ev["rounds"],
            epochs_per_round=ev["epochs_per_round"],
            overrides=tuple(sorted((meta["env"].get("overrides") or {}).items())),
        )  # fmt: skip
        result = play(job).result
        out.append((seed, result.total_cost / result.total_reference, ev["per_seed"][str(seed)]))
    return out
