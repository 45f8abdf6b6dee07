"""A short mutation check of the env layer: does the suite catch small wrong changes?

Each mutant is one wrong change, located by a code snippet that must occur exactly once in
the package trees (``splitenv/``, ``baselines/``, ``agents/``), so that the list survives files
moving between modules. For each mutant the repository is copied to a temporary folder, the
change is applied to the copy, and the relevant tests run there with ``python -m pytest``
and the copy first on ``PYTHONPATH`` (the venv's editable install points at the original
tree; a canary mutant that breaks ``import splitenv`` checks that the copy is what is
imported). A mutant the tests do not fail *survives*.

Where the env's logic exists twice, in the single env (``env.py``, ``Features.observe``,
``spaces.native_to_decision``) and in the natively batched vector env (``vector*.py``,
``Features.observe_batch``, ``batch_actions.py``), each copy has its own mutant (``vec_*``):
the exactness tests of the vector env against single envs must catch a change of either.
tests/test_mutation_list.py (the default test run) checks that every snippet occurs exactly
once and that every mutated module compiles, so the list cannot go stale unnoticed.

Usage (from the repository root, with the project's venv)::

    .venv/bin/python tools/mutation.py                       # the current tests
    .venv/bin/python tools/mutation.py --tests-from c46d11b  # the tests of another commit
    .venv/bin/python tools/mutation.py --only cap,sqrt -v    # some mutants, with pytest output

Exit status: 0 when every mutant was applied and none survived; 1 when some survived; 2
when a snippet was not found (or found more than once): the mutant is reported as "not
applied", never skipped silently, so the list must follow the refactors of the code.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("splitenv", "baselines", "agents")
#: the env layer's tests (the 1000-step vector runs add minutes and check no value)
TESTS = ("tests/env", "tests/agents/test_smoke.py", "tests/test_dynamics.py")
DESELECT = "not 1000_steps"
TIMEOUT_S = 900


@dataclass(frozen=True)
class Mutant:
    """One wrong change: ``old`` (unique in the package trees) replaced by ``new``."""

    name: str
    what: str
    old: str
    new: str


MUTANTS = [
    # --- reward (single env: splitenv/env.py) --------------------------------------------
    Mutant("cap", "feasible reward without the cost cap (issue 16 a)",
           "ratio = min(cost / ref if ref > 0 else 1.0, self.cost_cap)",
           "ratio = cost / ref if ref > 0 else 1.0"),
    Mutant("sqrt", "feasible steps: -sqrt(cost / reference) instead of -cost / reference (issue 16 b)",
           'reward = -ratio if self.reward_mode == "normalized" else -ratio * ref',
           'reward = (-np.sqrt(ratio) if feasible else -ratio) if self.reward_mode == "normalized" else -ratio * ref'),
    Mutant("sqrt_all", "every step: sqrt of the normalized cost",
           "ratio = min(cost / ref if ref > 0 else 1.0, self.cost_cap)",
           "ratio = min(np.sqrt(cost / ref) if ref > 0 else 1.0, self.cost_cap)"),
    Mutant("penalty", "no infeasibility penalty",
           "ratio = min(ratio, self.cost_cap) + self.infeasible_penalty",
           "ratio = min(ratio, self.cost_cap)"),
    Mutant("reference", "the reference is the decision's own cost",
           "ref += reference_cost", "ref += policy_cost"),
    Mutant("energy_weight", "energy_weight ignored in the cost",
           "step_cost = step_lat + self.energy_weight * step_energy", "step_cost = step_lat"),
    Mutant("round_start", "the round's start (migration, distribution) never counted",
           "step_lat = epoch_latency(scn, ev, first, last)",
           "step_lat = epoch_latency(scn, ev, False, last)"),
    Mutant("reference_history", "the reference on the policy's previous split (issue 13 finding)",
           "ev = evaluate_own(scn, with_reference(scn, state), stack_with_reference(scn, decision, trusted))",
           "ev = evaluate_own(scn, state, stack_with_reference(scn, decision, trusted))"),
    Mutant("raw", "raw reward not scaled by the reference",
           'reward = -ratio if self.reward_mode == "normalized" else -ratio * ref',
           "reward = -ratio"),
    # --- reward (vector env: Episodes.book / _epoch in splitenv/vector_parts.py) -----------
    Mutant("vec_reference", "vector: the reference is the decision's own cost",
           "ref + step_cost[p:]", "ref + step_cost[:p]"),
    Mutant("vec_reference_history", "vector: the reference on the policy's previous split",
           "own = reference_prev_split(self.scn, prev)", "own = prev"),
    Mutant("vec_cap", "vector: feasible reward without the cost cap",
           "ratio = np.minimum(np.where(ref > 0, cost / ref, 1.0), env.cost_cap)",
           "ratio = np.where(ref > 0, cost / ref, 1.0)"),
    Mutant("vec_penalty", "vector: no infeasibility penalty",
           "np.minimum(ratio, env.cost_cap) + env.infeasible_penalty, ratio)",
           "np.minimum(ratio, env.cost_cap), ratio)"),
    Mutant("vec_raw", "vector: raw reward not scaled by the reference",
           'reward = -ratio if env.reward_mode == "normalized" else -ratio * ref',
           "reward = -ratio"),
    Mutant("vec_energy_weight", "vector: energy_weight ignored in the cost",
           "step_cost = step_lat + self.env.energy_weight * (", "step_cost = step_lat + 0.0 * ("),
    Mutant("vec_round_start", "vector, envs in step: the round's start never counted",
           "pre if t == 0 else zeros,", "zeros,"),
    Mutant("vec_round_start_rows", "vector, envs out of step: the round's start counted every epoch",
           'np.where(first[:, None], per["pre_round_s"], 0.0),', 'per["pre_round_s"],'),
    Mutant("vec_last_ratio", "vector: last cost ratio never updated",
           "self.last_ratio[take] = ratio", "self.last_ratio[take] = 1.0"),
    # --- observation (Features.observe: single; observe_batch: vector) -------------------
    Mutant("snr_swap", "each device observes another device's channel (issue 16 c)",
           "snr_db = 10.0 * np.log10(state.channel_gain / state.noise_psd_w_hz)",
           "snr_db = 10.0 * np.log10(np.roll(state.channel_gain, 1) / state.noise_psd_w_hz)"),
    Mutant("compute", "compute feature scaled wrong (half)",
           "self.snr_hi - self.snr_lo, self.max_flops, self.max_memory,",
           "self.snr_hi - self.snr_lo, 2 * self.max_flops, self.max_memory,"),
    Mutant("vec_compute", "vector: compute feature scaled wrong (half)",
           'devices[:, :, 1] = state["device_flops"] / self.max_flops',
           'devices[:, :, 1] = state["device_flops"] / self.max_flops / 2'),
    Mutant("memory", "memory feature shows the data size",
           "(snr_db, state.device_flops, state.device_memory_bytes, current, state.data_size,",
           "(snr_db, state.device_flops, state.data_size, current, state.data_size,"),
    Mutant("vec_memory", "vector: memory feature shows the data size",
           'devices[:, :, 2] = state["device_memory_bytes"] / self.max_memory',
           'devices[:, :, 2] = state["data_size"] / self.max_data'),
    Mutant("split_feature", "split feature always the default split",
           "current = np.full(n, self.scn.decision.default_split) if split is None else split",
           "current = np.full(n, self.scn.decision.default_split)"),
    Mutant("vec_split_feature", "vector: split feature always the default split",
           "devices[:, :, 3] = split / self.scn.model.n_layers",
           "devices[:, :, 3] = self.scn.decision.default_split / self.scn.model.n_layers"),
    Mutant("active", "active flag always 1",
           "state.distance_m, state.active),", "state.distance_m, np.ones(n)),"),
    Mutant("vec_active", "vector: active flag always 1",
           'devices[:, :, 6] = state["active"]', "devices[:, :, 6] = 1.0"),
    Mutant("distance", "distance scaled without the federated server's offset",
           "far = hi + net.fed_server_offset_m", "far = hi"),
    Mutant("epoch_progress", "epoch counter off by one",
           "epoch_progress=self._epoch / self.epochs_per_round,",
           "epoch_progress=(self._epoch + 1) / self.epochs_per_round,"),
    Mutant("vec_epoch_progress", "vector: epoch counter off by one",
           "epoch_progress=self.epoch / self.epochs_per_round,",
           "epoch_progress=(self.epoch + 1) / self.epochs_per_round,"),
    Mutant("last_ratio", "last cost ratio never updated",
           "self._last_ratio = ratio", "self._last_ratio = 1.0"),
    # --- masks -------------------------------------------------------------------------
    Mutant("mask_shared", "shared-cut mask: some device fits instead of every device",
           'masks["split"] = ok.all(axis=1) if self.scenario.decision.shared_split else ok.T.copy()',
           'masks["split"] = ok.any(axis=1) if self.scenario.decision.shared_split else ok.T.copy()'),
    Mutant("mask_open", "per-device mask all True",
           'masks["split"] = ok.all(axis=1) if self.scenario.decision.shared_split else ok.T.copy()',
           'masks["split"] = ok.all(axis=1) if self.scenario.decision.shared_split else np.ones_like(ok.T)'),
    Mutant("vec_mask_shared", "vector: shared-cut mask: some device fits instead of every device",
           "return np.asarray(ok.all(axis=2))", "return np.asarray(ok.any(axis=2))"),
    Mutant("vec_mask_open", "vector: per-device mask all True",
           "return ok.transpose(0, 2, 1)", "return np.ones_like(ok.transpose(0, 2, 1))"),
    Mutant("flat_mask", "MultiDiscreteAction's flat mask ignores the split mask",
           "out.append(m.reshape(-1) if fs.per_device else m)",
           "out.append(np.ones(m.size, dtype=bool))"),
    Mutant("vec_flat_mask", "VectorMultiDiscreteAction's (K, D) masks ignore the split mask",
           'out.append(masks["split"].reshape(k, -1))',
           'out.append(np.ones_like(masks["split"].reshape(k, -1)))'),
    # --- wrappers ----------------------------------------------------------------------
    Mutant("box_index0", "BoxAction decodes every discrete choice to index 0 (issue 16 d)",
           "v = np.minimum(np.floor(v * n), np.asarray(n) - 1)", "v = np.zeros_like(v)"),
    Mutant("box_memory", "BoxAction's split range ignores memory",
           'if fs.name == "split" and "split" in masks:  # memory-feasible values only',
           "if False:"),
    Mutant("vec_box_memory", "VectorBoxAction's split range ignores memory (no masks passed)",
           "masks = {k: v[rows] for k, v in self.base.action_mask().items()}", "masks = {}"),
    Mutant("box_weights", "BoxAction resource weights + 1 instead of + 1e-3",
           "w = v + (1.0 if not fractions else 1e-3)", "w = v + 1.0"),
    Mutant("box_power", "BoxAction power 0.01 + 0.9 u",
           "v = POWER_FLOOR + (1.0 - POWER_FLOOR) * v", "v = POWER_FLOOR + 0.9 * v"),
    Mutant("md_power", "MultiDiscrete power level / levels",
           "else (v + 1.0) / levels", "else v / levels"),
    Mutant("md_fraction", "MultiDiscrete fraction level / levels",
           "else v / (levels - 1)", "else v / levels"),
    # --- spaces and the native decoders (single: spaces.py; vector: batch_actions.py) ----
    Mutant("remainder", "smallest remainder first",
           'order = np.argsort(-(exact - counts), axis=1, kind="stable")',
           'order = np.argsort(exact - counts, axis=1, kind="stable")'),
    Mutant("min_subchannel", "no minimum of one subchannel per device",
           "return largest_remainder(shares, net.n_subchannels, 1)",
           "return largest_remainder(shares, net.n_subchannels, 0)"),
    Mutant("power_budget", "powers not scaled into the total budget",
           "return fractions * np.where(scale < 1.0, scale, 1.0)", "return fractions"),
    Mutant("freq_range", "server clock fraction of F_max, not of the range",
           "lo, hi = scn.compute.server_freq_hz\n        return lo + v * (hi - lo)",
           "lo, hi = scn.compute.server_freq_hz\n        return v * hi"),
    Mutant("split_offset", "native split index without split_range[0] (checked decoder)",
           'is outside {sub}")\n        if name in ("split", "edge_split"):\n'
           "            out[name] = value.astype(np.int64) + lo",
           'is outside {sub}")\n        if name in ("split", "edge_split"):\n'
           "            out[name] = value.astype(np.int64)"),
    Mutant("split_offset_plain", "native split index without split_range[0] (plain-action fast path)",
           'values, strict=True):\n        if name in ("split", "edge_split"):\n'
           "            out[name] = value.astype(np.int64) + lo",
           'values, strict=True):\n        if name in ("split", "edge_split"):\n'
           "            out[name] = value.astype(np.int64)"),
    Mutant("vec_split_offset", "vector: native split index without split_range[0]",
           'value = taken[name]\n        if name in ("split", "edge_split"):\n'
           "            out[name] = value.astype(np.int64) + lo",
           'value = taken[name]\n        if name in ("split", "edge_split"):\n'
           "            out[name] = value.astype(np.int64)"),
    Mutant("edge_repair", "edge split not raised to the split",
           'np.full(scn.n_devices, scn.decision.default_split))\n'
           '        out["edge_split"] = np.maximum(out["edge_split"], split)',
           'np.full(scn.n_devices, scn.decision.default_split))\n'
           '        out["edge_split"] = out["edge_split"]'),
    Mutant("vec_edge_repair", "vector: edge split not raised to the split",
           'np.full((count, n), scn.decision.default_split))\n'
           '        out["edge_split"] = np.maximum(out["edge_split"], split)',
           'np.full((count, n), scn.decision.default_split))\n'
           '        out["edge_split"] = out["edge_split"]'),
    # --- vector env bookkeeping (splitenv/vector.py, vector_parts.py, vector_info.py) ------
    Mutant("vec_autoreset", "vector: a truncated env is not reset on the next step",
           "self._autoreset = ended", "self._autoreset = terminated"),
    Mutant("vec_reset_prev_split", "vector: a new episode keeps the last episode's previous split",
           "self.prev_split[rows] = -1", "pass"),
    Mutant("vec_reset_time", "vector: a new episode keeps the last episode's simulated time",
           "self.last_ratio[rows], self.time_s[rows] = 1.0, 0.0",
           "self.last_ratio[rows] = 1.0"),
    Mutant("vec_rounds_done", "vector: episodes truncated one round late",
           "return self.round[rows] >= self.rounds", "return self.round[rows] > self.rounds"),
    Mutant("vec_truncated_terminated", "vector, envs out of step: truncated also when terminated",
           "truncated[play] = ep.rounds_done(play) & ~result.terminated",
           "truncated[play] = ep.rounds_done(play)"),
    Mutant("vec_info_time", "vector info: simulated_time_s is the step's latency (block row 0)",
           "block[len(head)], masks[j + 5]", "block[0], masks[j + 5]"),
]  # fmt: skip

#: must be killed, else the tests did not import the mutated copy
CANARY = Mutant("canary", "import splitenv fails (checks that the copy is what is tested)",
                "register_envs()\n\n__version__", 'raise ImportError("mutation canary")\n\n__version__')  # fmt: skip


def package_sources(root: Path) -> dict[Path, str]:
    """The text of every module under the package trees, by path relative to ``root``."""
    return {
        path.relative_to(root): path.read_text(encoding="utf-8")
        for pkg in PACKAGES
        for path in sorted((root / pkg).rglob("*.py"))
    }


def locate(
    mutant: Mutant, root: Path, sources: dict[Path, str] | None = None
) -> tuple[Path | None, str]:
    """The one file under the package trees holding ``mutant.old``, or None and why.

    ``sources``: :func:`package_sources` of ``root`` when already read (tests/test_mutation_list.py).
    """
    if sources is None:
        sources = package_sources(root)
    hits: list[tuple[Path, int]] = []
    for path, text in sources.items():
        count = text.count(mutant.old)
        if count:
            hits.append((path, count))
    total = sum(c for _, c in hits)
    if total == 1:
        return hits[0][0], ""
    if total == 0:
        return None, "snippet not found"
    return None, f"snippet found {total} times ({', '.join(str(p) for p, _ in hits)})"


def make_copy(tests_from: str | None) -> Path:
    """A copy of the repository (no venv, no git) in a temporary folder, tests optionally swapped."""
    dest = Path(tempfile.mkdtemp(prefix="splitenv-mutation-")) / "repo"
    ignore = shutil.ignore_patterns(
        ".venv",
        ".git",
        "__pycache__",
        ".pytest_cache",
        "results",
        "*.egg-info",
        ".mypy_cache",
        ".ruff_cache",
    )
    shutil.copytree(ROOT, dest, ignore=ignore)
    if tests_from:
        shutil.rmtree(dest / "tests")
        archive = subprocess.run(
            ["git", "-C", str(ROOT), "archive", tests_from, "tests"],
            check=True, capture_output=True,
        ).stdout  # fmt: skip
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
    return dest


#: test files run first when present: they pin values and fail fast (``-x``) on a mutant
FIRST = (
    "test_reward_values.py", "test_observation_values.py", "test_wrapper_decoding.py",
    "test_masks.py", "test_env_api.py",
)  # fmt: skip


def ordered(copy: Path, paths: list[str]) -> list[str]:
    """Test files of ``paths`` that exist in the copy, folders expanded, FIRST ones first."""
    files: list[str] = []
    for p in paths:
        target = copy / p.split("::")[0]
        if target.is_dir():
            files += [str(f.relative_to(copy)) for f in sorted(target.rglob("test_*.py"))]
        elif target.exists():
            files.append(p)
    rank = {name: i for i, name in enumerate(FIRST)}
    return sorted(files, key=lambda f: rank.get(Path(f.split("::")[0]).name, len(FIRST)))


def run_tests(copy: Path, tests: list[str], verbose: bool) -> tuple[bool, float, str]:
    """(tests passed, seconds, last lines) of pytest run in the copy on the copy's modules."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(copy), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
           "-k", DESELECT, *tests]  # fmt: skip
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=copy, env=env, capture_output=True, text=True,
                              timeout=TIMEOUT_S)  # fmt: skip
    except subprocess.TimeoutExpired:
        return False, time.perf_counter() - start, "timeout (counted as killed)"
    out = proc.stdout + proc.stderr
    if verbose:
        print(out)
    tail = " | ".join(line for line in out.strip().splitlines()[-2:])
    return proc.returncode == 0, time.perf_counter() - start, tail


def imported_from(copy: Path) -> str:
    """Where ``splitenv`` and ``baselines`` are imported from with the copy on PYTHONPATH."""
    env = dict(os.environ, PYTHONPATH=str(copy))
    return subprocess.run(
        [sys.executable, "-c", "import splitenv, baselines; print(splitenv.__file__, baselines.__file__)"],
        cwd=copy, env=env, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Run the mutants; the exit status says whether any survived or was not applied."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tests-from", help="git revision whose tests/ to run (default: current)")
    parser.add_argument("--only", default="", help="comma-separated mutant names")
    parser.add_argument("--tests", nargs="+", default=list(TESTS), help="test paths to run")
    parser.add_argument("-v", "--verbose", action="store_true", help="print pytest's output")
    parser.add_argument("--list", action="store_true", help="list the mutants and exit")
    args = parser.parse_args(argv)

    mutants = MUTANTS
    if args.only:
        names = set(args.only.split(","))
        unknown = names - {m.name for m in MUTANTS}
        if unknown:
            parser.error(f"unknown mutants: {', '.join(sorted(unknown))}")
        mutants = [m for m in MUTANTS if m.name in names]
    if args.list:
        for m in mutants:
            print(f"{m.name:16s} {m.what}")
        return 0

    copy = make_copy(args.tests_from)
    tests = ordered(copy, args.tests)
    print(f"copy: {copy}  tests: {' '.join(tests)}  (from {args.tests_from or 'the work tree'})")
    where = imported_from(copy)
    print(f"imports: {where}")
    if not all(p.startswith(str(copy)) for p in where.split()):
        print("error: the copy's packages are not the ones imported", file=sys.stderr)
        return 2

    try:
        ok, seconds, _ = run_tests(copy, tests, args.verbose)
        if not ok:
            print("error: the tests fail without any mutant; fix them first", file=sys.stderr)
            return 2
        print(f"unmutated: tests pass ({seconds:.0f} s)")
        results = []
        for mutant in [CANARY, *mutants]:
            path, why = locate(mutant, copy)
            if path is None:
                results.append((mutant, "not applied", why))
                print(f"{mutant.name:16s} NOT APPLIED  {why}")
                continue
            original = (copy / path).read_text(encoding="utf-8")
            (copy / path).write_text(original.replace(mutant.old, mutant.new), encoding="utf-8")
            try:
                passed, seconds, tail = run_tests(copy, tests, args.verbose)
            finally:
                (copy / path).write_text(original, encoding="utf-8")
            status = "SURVIVED" if passed else "killed"
            results.append((mutant, status, str(path)))
            print(f"{mutant.name:16s} {status:11s} {seconds:6.0f} s  {path}  {tail[:120]}")
            if mutant is CANARY and passed:
                print(
                    "error: the canary survived: the tests do not import the copy", file=sys.stderr
                )
                return 2
    finally:
        shutil.rmtree(copy.parent, ignore_errors=True)

    real = [r for r in results if r[0] is not CANARY]
    survived = [m for m, s, _ in real if s == "SURVIVED"]
    missing = [m for m, s, _ in real if s == "not applied"]
    print(f"\n{len(real)} mutants: {len(real) - len(survived) - len(missing)} killed, "
          f"{len(survived)} survived, {len(missing)} not applied")  # fmt: skip
    for m in survived:
        print(f"  survived: {m.name}: {m.what}")
    for m in missing:
        print(f"  not applied: {m.name}: {m.what}")
    return 2 if missing else 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
