"""The preamble of a benchmark's output: what is compared, on what, and what the columns mean.

``splitenv bench`` and ``splitenv run`` print it above their tables (and write it at the top
of ``summary.md``), so that an output read alone says which scenario and timescale it is,
how many seeded episodes, that lower is better, and what the reference of the normalized
column is for each scenario (including why it is the same number on every seed for CARD).
The conclusion under each table comes from :func:`baselines.harness.summary.conclusion`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from baselines.base import problem_family
from splitenv.config import Scenario

#: what the method decides at each timescale (and what the env's inner allocator does)
TIMESCALES = {
    "joint": "the method decides everything (split, rank, compression and every epoch's "
    "allocation): the papers' comparison",
    "round": "the method chooses the split / rank / compression of each round and the "
    "paper's inner allocator ({allocator}) allocates every epoch, for every method, `equal` "
    "included (so `equal` is not the reference there and its normalized cost is not 1): "
    "the setting where learned schedulers act",
    "epoch": "the split is fixed at the preset's default and the method allocates every epoch",
}

#: the env's inner allocator of each problem family (splitenv.allocation.papers)
ALLOCATORS = {
    "scct": "SCCT's Alg. 1",
    "sft": "SFT's Alg. 3, SQP bandwidth",
    "card": "CARD's closed-form server clock f* (16)",
    "fedsllm": "FedsLLM's Alg. 2 + power control (25)",
}


def _allocator(scn: Scenario) -> str:
    try:
        return ALLOCATORS.get(problem_family(scn), "the `paper` allocator")
    except ValueError:
        return "the `paper` allocator"


def cost_text(scn: Scenario) -> str:
    """What the objective of a scenario is, in words, with its unit."""
    if scn.objective.kind == "card_cost":
        w = scn.objective.delay_weight
        return (
            f"CARD's cost U (12) summed over devices and steps: per device w (D - D_min) / "
            f"(D_max - D_min) + (1 - w)(E - E_min) / (E_max - E_min) with w = {w:g}, the "
            "extremes over every cut and server clock of that device in that state (no unit)"
        )
    return "the episode's total latency in s (the sum of its steps' latencies)"


def reference_text(scn: Scenario, references: Sequence[float]) -> str:
    """What the normalized column divides by, for one scenario, and why it may be constant."""
    text = (
        f"the reference is the preset's default decision (split {scn.decision.default_split}, "
        "equal shares of every resource) evaluated on the same states; normalized 1.0 = as good "
        "as it, below 1 = better"
    )
    if scn.schedule.migration:
        text += (
            "; it keeps its split, so it pays no split migration (SCCT (18)) whatever the "
            "method plays and is one value per seed for every method"
        )
    constant = len(references) > 1 and max(references) == min(references)
    if scn.objective.kind == "card_cost":
        w = scn.objective.delay_weight
        text += (
            f". CARD's default (cut {scn.decision.default_split}, server-only, at the top clock) is "
            "every device's delay minimum and energy maximum, so its U is exactly "
            f"(1 - w) = {1 - w:g} per device and step"
        )
        if constant:
            text += f" ({references[0]:g} on every seed)"
        text += ": normalized = the share of server-only-at-full-clock's cost"
    elif constant:
        text += f" (the same {references[0]:g} on every seed)"
    return text


def preamble(rows: Sequence[Mapping[str, Any]], scenarios: Mapping[str, Scenario]) -> str:
    """A short paragraph per (scenario, timescale) block of a benchmark's rows, markdown."""
    blocks: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for r in rows:
        blocks.setdefault((str(r["scenario"]), str(r["timescale"])), []).append(r)
    lines = ["## What is compared", ""]
    for (name, timescale), part in blocks.items():
        scn = scenarios[name]
        seeds = sorted({int(r["seed"]) for r in part})
        methods = list(dict.fromkeys(str(r["method"]) for r in part))
        refs = list({int(r["seed"]): float(r["reference_cost"]) for r in part}.values())
        episode = (
            f"{_count(part[0]['rounds'], 'round')} x {_count(part[0]['epochs_per_round'], 'epoch')}"
        )
        lines += [
            f"- **{name}, timescale `{timescale}`**: {len(methods)} methods on the same "
            f"{len(seeds)} seeded episodes (seeds {_seed_list(seeds)}; {episode}), scored by "
            "the cost engine through the env. At this timescale "
            + TIMESCALES.get(timescale, timescale).format(allocator=_allocator(scn))
            + f". Cost: {cost_text(scn)}; **lower is better**. Normalized: "
            + reference_text(scn, refs)
            + ".",
        ]
    return "\n".join(lines) + "\n"


def _seed_list(seeds: Sequence[int]) -> str:
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(str(s) for s in seeds)


def _count(n: Any, word: str) -> str:
    return f"{n} {word}{'' if str(n) == '1' else 's'}"
