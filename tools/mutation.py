"""A short mutation check of the env layer: does the suite catch small wrong changes?

Each mutant is one wrong change, located by a code snippet that must occur exactly once in
the package trees (``splitenv/``, ``baselines/``, ``agents/``), so that the list survives files
moving between modules. For each mutant the repository is copied to a temporary folder, the
change is applied to the copy, and the relevant tests run there with ``python -m pytest``
and the copy first on ``PYTHONPATH`` (the venv's editable install points at the original
tree; a canary mutant that breaks ``import splitenv`` checks that the copy is what is
imported). A mutant the tests do not fail *survives*.

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
    # --- reward (env) -------------------------------------------------------------------
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
           "ref += float(step_cost[1])", "ref += float(step_cost[0])"),
    Mutant("energy_weight", "energy_weight ignored in the cost",
           "step_cost = step_lat + self.energy_weight * step_energy", "step_cost = step_lat"),
    Mutant("round_start", "the round's start (migration, distribution) never counted",
           "step_lat = epoch_latency(scn, ev, first, last)",
           "step_lat = epoch_latency(scn, ev, False, last)"),
    Mutant("reference_history", "the reference on the policy's previous split (issue 13 finding)",
           "ev = evaluate_own(scn, _with_reference(scn, state), _stack(scn, decision, trusted))",
           "ev = evaluate_own(scn, state, _stack(scn, decision, trusted))"),
    Mutant("raw", "raw reward not scaled by the reference",
           'reward = -ratio if self.reward_mode == "normalized" else -ratio * ref',
           "reward = -ratio"),
    # --- observation -------------------------------------------------------------------
    Mutant("snr_swap", "each device observes another device's channel (issue 16 c)",
           "snr_db = 10.0 * np.log10(state.channel_gain / state.noise_psd_w_hz)",
           "snr_db = 10.0 * np.log10(np.roll(state.channel_gain, 1) / state.noise_psd_w_hz)"),
    Mutant("compute", "compute feature scaled wrong",
           "state.device_flops / self.max_flops,", "state.device_flops / self.max_flops / 2,"),
    Mutant("memory", "memory feature shows the data size",
           "state.device_memory_bytes / self.max_memory,", "state.data_size / self.max_data,"),
    Mutant("split_feature", "split feature always the default split",
           "current = np.full(scn.n_devices, scn.decision.default_split) if split is None else split",
           "current = np.full(scn.n_devices, scn.decision.default_split)"),
    Mutant("active", "active flag always 1",
           "state.active.astype(np.float64),", "np.ones(scn.n_devices),"),
    Mutant("distance", "distance scaled without the federated server's offset",
           "far = hi + net.fed_server_offset_m", "far = hi"),
    Mutant("epoch_progress", "epoch counter off by one",
           "epoch_progress=self._epoch / self.epochs_per_round,",
           "epoch_progress=(self._epoch + 1) / self.epochs_per_round,"),
    Mutant("last_ratio", "last cost ratio never updated",
           "self._last_ratio = ratio", "self._last_ratio = 1.0"),
    # --- masks -------------------------------------------------------------------------
    Mutant("mask_shared", "shared-cut mask: some device fits instead of every device",
           'masks["split"] = ok.all(axis=1) if self.scenario.decision.shared_split else ok.T.copy()',
           'masks["split"] = ok.any(axis=1) if self.scenario.decision.shared_split else ok.T.copy()'),
    Mutant("mask_open", "per-device mask all True",
           'masks["split"] = ok.all(axis=1) if self.scenario.decision.shared_split else ok.T.copy()',
           'masks["split"] = ok.all(axis=1) if self.scenario.decision.shared_split else np.ones_like(ok.T)'),
    Mutant("flat_mask", "MultiDiscreteAction's flat mask ignores the split mask",
           "out.append(m.reshape(-1) if fs.per_device else m)",
           "out.append(np.ones(m.size, dtype=bool))"),
    # --- wrappers ----------------------------------------------------------------------
    Mutant("box_index0", "BoxAction decodes every discrete choice to index 0 (issue 16 d)",
           "v = np.minimum(np.floor(v * n), np.asarray(n) - 1)", "v = np.zeros_like(v)"),
    Mutant("box_memory", "BoxAction's split range ignores memory",
           'if fs.name == "split" and "split" in masks:  # memory-feasible values only',
           "if False:"),
    Mutant("box_weights", "BoxAction resource weights + 1 instead of + 1e-3",
           "w = v + (1.0 if not fractions else 1e-3)", "w = v + 1.0"),
    Mutant("box_power", "BoxAction power 0.01 + 0.9 u",
           "v = 0.01 + 0.99 * v", "v = 0.01 + 0.9 * v"),
    Mutant("md_power", "MultiDiscrete power level / levels",
           "else (v + 1.0) / self.levels", "else v / self.levels"),
    Mutant("md_fraction", "MultiDiscrete fraction level / levels",
           "else v / (self.levels - 1)", "else v / self.levels"),
    # --- spaces ------------------------------------------------------------------------
    Mutant("remainder", "smallest remainder first",
           'order = np.argsort(-(exact - counts), kind="stable")',
           'order = np.argsort(exact - counts, kind="stable")'),
    Mutant("min_subchannel", "no minimum of one subchannel per device",
           "return largest_remainder(shares, net.n_subchannels, 1)",
           "return largest_remainder(shares, net.n_subchannels, 0)"),
    Mutant("power_budget", "powers not scaled into the total budget",
           "return fractions * min(1.0, net.total_power_w / watts)", "return fractions"),
    Mutant("freq_range", "server clock fraction of F_max, not of the range",
           "lo, hi = scn.compute.server_freq_hz\n        return lo + v * (hi - lo)",
           "lo, hi = scn.compute.server_freq_hz\n        return v * hi"),
    Mutant("split_offset", "native split index without split_range[0]",
           "out[name] = value.astype(np.int64) + lo", "out[name] = value.astype(np.int64)"),
    Mutant("edge_repair", "edge split not raised to the split",
           'out["edge_split"] = np.maximum(out["edge_split"], split)',
           'out["edge_split"] = out["edge_split"]'),
]  # fmt: skip

#: must be killed, else the tests did not import the mutated copy
CANARY = Mutant("canary", "import splitenv fails (checks that the copy is what is tested)",
                "register_envs()\n\n__version__", 'raise ImportError("mutation canary")\n\n__version__')  # fmt: skip


def locate(mutant: Mutant, root: Path) -> tuple[Path | None, str]:
    """The one file under the package trees holding ``mutant.old``, or None and why."""
    hits: list[tuple[Path, int]] = []
    for pkg in PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            count = path.read_text(encoding="utf-8").count(mutant.old)
            if count:
                hits.append((path.relative_to(root), count))
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
