"""Scenario presets and seeded sampling of states and traces.

Presets are YAML files in ``configs/`` (one per paper and more), loaded into a
:class:`~splitenv.config.Scenario`. States are sampled from one integer seed:
what stays fixed over an episode (positions, shadowing, memory, data sizes)
comes from the seed alone, and what changes every epoch (block fading, device
compute, CARD's channel state per round) from ``(seed, round, epoch)``. Any
state of a trace can therefore be rebuilt on its own, in any process, in any
order, and every solver sees the identical trace.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from splitenv import limits, plugins
from splitenv._fields import NumberLoader
from splitenv.config import Scenario
from splitenv.draws import (
    STREAM_DYNAMICS,
    STREAM_EPOCH,
    STREAM_ROUND,
    STREAM_STATIC,
    WORD,
    batched_dynamics_draws,
    batched_epoch_draws,
    batched_noise_dbm,
    batched_statics,
    draws_flops,
    dynamics_start,
    dynamics_start_draws,
    dynamics_step,
    dynamics_step_draws,
    epoch_stream,
    epoch_values,
    flat_noise_dbm,
    has_dynamics,
    level_flops,
    static_draws,
    static_values,
    with_dynamics,
)
from splitenv.errors import ConfigError, StateError
from splitenv.model.state import read_only_arrays
from splitenv.model.types import State


def config_dirs() -> list[Path]:
    """Folders searched for presets, first match wins.

    ``$SPLITENV_CONFIGS`` first, then the folder of every package named in the
    ``splitenv.scenarios`` entry-point group (:mod:`splitenv.plugins`): splitenv's own
    ``core`` (``configs/``, installed as ``splitenv.presets``), then installed plug-ins, by name.
    """
    dirs = []
    if os.environ.get("SPLITENV_CONFIGS"):
        dirs.append(Path(os.environ["SPLITENV_CONFIGS"]))
    kinds = plugins.names("scenarios")
    for name in sorted(kinds, key=lambda n: (n != "core", n)):
        package = plugins.load("scenarios", name)
        dirs += [Path(p) for p in getattr(package, "__path__", [])]
    return [d for d in dirs if d.is_dir()]


def model_catalogue() -> dict[str, dict[str, Any]]:
    """Named transformers of ``configs/_models.yaml``."""
    for d in config_dirs():
        path = d / "_models.yaml"
        if path.is_file():
            return yaml.safe_load(path.read_text()) or {}
    return {}


def preset_file(name: str) -> Path | None:
    """The YAML file of the preset ``name`` (first match in :func:`config_dirs`), or None."""
    for d in config_dirs():
        path = d / f"{name.lower()}.yaml"
        try:
            if path.is_file():
                return path
        except OSError:  # a name no file can have (too long, ...): not a preset
            return None
    return None


def preset_header(name: str) -> dict[str, Any]:
    """``name``, ``id_name`` and ``version`` of a preset, read without building the Scenario.

    For the env registry at import time (a few ms for every preset; the full load validates
    every section and is done when an env is made).
    """
    path = preset_file(name)
    if path is None:
        raise ConfigError(
            f"unknown scenario {name!r}; known scenarios: {', '.join(list_scenarios())}"
        )
    data = preset_data(path, loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    return {
        "name": str(data.get("name", name)),
        "id_name": str(data.get("id_name") or data.get("name", name)),
        "version": int(data.get("version", 0)),
    }


def list_scenarios() -> list[str]:
    """Names of all presets, sorted."""
    names = {p.stem for d in config_dirs() for p in d.glob("*.yaml") if not p.stem.startswith("_")}
    return sorted(names)


def load_scenario(
    name_or_path: str | os.PathLike[str] | Scenario, overrides: Mapping[str, Any] | None = None
) -> Scenario:
    """Load a preset by name (``"scct"``) or YAML path, then apply dotted overrides.

    Raises:
        ConfigError: unknown preset (the message lists the known ones), or an invalid field.
    """
    if isinstance(name_or_path, Scenario):
        scn = name_or_path
    else:
        path = Path(name_or_path)
        if path.suffix not in (".yaml", ".yml"):
            found = preset_file(path.name)
            if found is None:
                raise ConfigError(
                    f"unknown scenario {str(name_or_path)!r}; known scenarios: {', '.join(list_scenarios())}"
                )
            path = found
        scn = Scenario.from_dict(preset_data(path))
    return scn.with_overrides(overrides) if overrides else scn


def _read_yaml(path: Path, loader: Any = NumberLoader) -> dict[str, Any]:
    """A scenario file's mapping; every way it can be wrong is a ConfigError naming the file."""
    if path.is_dir():
        raise ConfigError(f"scenario file {str(path)!r} is a directory, not a YAML file")
    if not path.is_file():
        raise ConfigError(f"scenario file {str(path)!r} does not exist")
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"scenario file {str(path)!r} is not UTF-8 text ({exc.reason} at byte {exc.start})"
        ) from None
    except OSError as exc:
        raise ConfigError(f"scenario file {str(path)!r} cannot be read: {exc.strerror}") from None
    try:
        data = yaml.load(text, Loader=loader)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        at = f" (line {where.line + 1}, column {where.column + 1})" if where else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"scenario file {str(path)!r} is not valid YAML{at}: {what}") from None
    if data is None:
        raise ConfigError(
            f"scenario file {str(path)!r} is empty; a scenario is a mapping of sections"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: a scenario must be a mapping of sections, not {type(data).__name__}"
        )
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``over``'s values; sections (mappings) merge key by key."""
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def preset_data(
    path: Path, _seen: tuple[Path, ...] = (), loader: Any = NumberLoader
) -> dict[str, Any]:
    """The sections of a scenario file, with ``base: NAME`` resolved.

    A file may start from another preset (``base: scct``) and give only what differs; its
    sections merge into the base's key by key (the base's ``version`` and ``id_name`` are not
    inherited: a variation is its own scenario).

    Raises:
        ConfigError: unreadable or invalid file, unknown or circular base.
    """
    data = _read_yaml(path, loader)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str):
        raise ConfigError(f"{path}: base = {base!r} must be a preset name")
    base_path = preset_file(base)
    if base_path is None:
        raise ConfigError(
            f"{path}: unknown base scenario {base!r}; known: {', '.join(list_scenarios())}"
        )
    if base_path.resolve() in _seen or base_path.resolve() == path.resolve():
        raise ConfigError(f"{path}: base scenarios form a cycle through {base!r}")
    parent = preset_data(base_path, (*_seen, path.resolve()), loader)
    for key in ("version", "id_name"):
        parent.pop(key, None)
    return _merge(parent, data)


class StateSampler:
    """Seeded states of one episode of a scenario.

    Without dynamics every epoch is drawn on its own (block fading, device compute).
    With ``network.fading_correlation``, ``mobility_step_m``, churn or
    ``compute.device_availability`` set, those evolve as Markov processes over the epochs
    of the episode (Gauss-Markov complex fading ``h_g = rho h_{g-1} + sqrt(1 - rho^2) w_g``,
    a Gaussian random walk of positions kept inside the distance range, devices that leave
    and rejoin with the given probabilities, and each device's available fraction of its
    FLOP/s as a random walk reflected inside ``compute.device_availability``,
    :func:`availability`), with their own random streams so that switching them on leaves
    the other draws unchanged (each process draws after those listed before it in the
    epoch's dynamics stream).

    Args:
        scenario: the scenario.
        seed: the episode's seed; the same seed gives the same states everywhere.
        epochs_per_round: epochs of a round, to order the processes in time
            (default: the scenario's ``schedule.epochs_per_round``).
        presample: rounds whose epochs are drawn at once, when first asked for
            (:mod:`splitenv.batch_draws`; 0: epoch by epoch). The same states either way;
            scenarios with dynamics or noise states are always drawn epoch by epoch.
    """

    def __init__(
        self,
        scenario: Scenario,
        seed: int,
        epochs_per_round: int | None = None,
        *,
        check_memory: bool = True,
        presample: int = 0,
    ) -> None:
        if not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ConfigError(f"seed = {seed!r} must be a non-negative integer")
        if check_memory:  # (the vector env checks its K episodes once, not each sampler)
            limits.check(scenario)  # before any per-device array is drawn
        self.scenario = scenario
        self.seed = int(seed)
        self.epochs_per_round = int(epochs_per_round or scenario.schedule.epochs_per_round)
        self.dynamic = has_dynamics(scenario)
        self._trajectory: tuple[int, dict[str, np.ndarray]] | None = None
        simple = not (self.dynamic or scenario.network.noise_states_dbm_hz)
        self._presample = int(presample) if simple and self.seed < WORD else 0
        self._block: tuple[int, list[dict[str, np.ndarray]]] | None = None

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence([self.seed, *key]))

    @cached_property
    def statics(self) -> dict[str, np.ndarray]:
        """Per-episode draws: positions, distances, shadowing, memory, data sizes.

        The static stream ``[seed, 0]``, drawn by :func:`batched_statics` (one stream of the
        vector env's batched draws, the same values) when the seed is one word, else by numpy.
        """
        if self.seed >= WORD:
            return self.draw_statics(self._rng(STREAM_STATIC))
        return {k: v[0] for k, v in batched_statics(self.scenario, self._seeds).items()}

    @cached_property
    def _seeds(self) -> np.ndarray:
        """The seed as the one row of a batch of streams (:mod:`splitenv.batch_draws`)."""
        return np.array([self.seed], dtype=np.int64)

    def draw_statics(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The statics drawn from ``rng``, which must be this episode's static stream.

        That is ``default_rng([seed, 0])`` (the vector env draws K of them at once,
        :func:`splitenv.draws.batched_statics`). The result is cached as :attr:`statics`.
        """
        out = static_values(self.scenario, static_draws(self.scenario, rng))
        self.__dict__["statics"] = out
        return out

    def _dynamics(self, g: int) -> dict[str, np.ndarray]:
        """Markov processes at global epoch ``g`` (fading, positions, presence, availability).

        Each from its dynamics stream: ``[seed, 3, 0]`` starts the trajectory
        (:func:`dynamics_start`), ``[seed, 3, g]`` moves it from epoch g - 1 to g
        (:func:`dynamics_step`); the last epoch reached is kept, so epochs asked in order cost
        one step each.
        """
        if self._trajectory is None or self._trajectory[0] > g:
            proc = dynamics_start(self.scenario, self.statics, self._dynamics_draws(0))
            self._trajectory = (0, proc)
        k, proc = self._trajectory
        proc = {key: v.copy() for key, v in proc.items()}
        for step in range(k + 1, g + 1):
            proc = dynamics_step(self.scenario, proc, self._dynamics_draws(step))
        self._trajectory = (g, proc)
        return proc

    def _dynamics_draws(self, step: int) -> dict[str, np.ndarray]:
        """The draws of the dynamics stream ``[seed, 3, step]`` (step 0 starts the processes).

        By :func:`batched_dynamics_draws` when the seed is one word (the same values), else
        by numpy (:func:`dynamics_start_draws`, :func:`dynamics_step_draws`).
        """
        scn = self.scenario
        if self.seed >= WORD:
            rng = self._rng(STREAM_DYNAMICS, step)
            return dynamics_start_draws(scn, rng) if step == 0 else dynamics_step_draws(scn, rng)
        named = batched_dynamics_draws(scn, step == 0, self._seeds, (STREAM_DYNAMICS, step))
        return {k: v[0] for k, v in named.items()}

    def state(self, round_index: int = 0, epoch_index: int = 0, prev_split: Any = None) -> State:
        """The state of epoch ``epoch_index`` of round ``round_index``."""
        n = self.scenario.n_devices
        prev = np.full(n, -1) if prev_split is None else np.array(prev_split, dtype=np.int64)
        if prev.shape != (n,):
            raise StateError(f"prev_split has shape {prev.shape}, expected ({n},)")
        st = self.statics
        if self._presample:  # the block's arrays are ready (read_only_arrays): only prev_split
            prev.flags.writeable = False
            return State.read_only(
                **self._block_arrays(round_index, epoch_index),
                prev_split=prev,
                round_index=round_index,
                epoch_index=epoch_index,
            )
        return State.trusted(
            **self.epoch_arrays(round_index, epoch_index),
            device_memory_bytes=st["memory"],
            data_size=st["data"],
            edge_of=st["edge_of"],
            prev_split=prev,
            round_index=round_index,
            epoch_index=epoch_index,
        )

    def _block_arrays(self, round_index: int, epoch_index: int) -> dict[str, np.ndarray]:
        """:meth:`epoch_arrays` from the block of ``presample`` rounds that holds the epoch.

        With the per-episode arrays of :meth:`state` (memory, data sizes, edge of each device),
        each as :meth:`State.trusted` stores it (:func:`read_only_arrays`, once per block). The
        block's epoch streams are drawn at once (:mod:`splitenv.batch_draws`), then turned into
        states by the same elementwise operations (:func:`epoch_values`). The dict is the
        block's own (read, not modified, by :meth:`state`).
        """
        scn, e = self.scenario, self.epochs_per_round
        block = round_index // self._presample
        if self._block is None or self._block[0] != block:
            first = block * self._presample
            index = np.arange(self._presample * e)  # the block's epochs, round after round
            rounds, epochs = first + index // e, index % e
            seeds = np.full(rounds.size, self.seed)
            fading, fed_fading, flops = batched_epoch_draws(scn, seeds, rounds, epochs)
            st = self.statics
            draws = {
                "gain_db": st["gain_db"], "fed_gain_db": st["fed_gain_db"],
                "fading": fading, "fed_fading": fed_fading,
                "noise_dbm": flat_noise_dbm(scn), "distance_m": st["distance"],
                "device_flops": flops, "active": self._all_active,
            }  # fmt: skip
            values = read_only_arrays(
                {
                    **epoch_values(draws),
                    "device_memory_bytes": st["memory"],
                    "data_size": st["data"],
                    "edge_of": st["edge_of"],
                }
            )
            # each epoch's arrays (its rows, the per-episode ones shared), sliced once per block
            shared = {k: v for k, v in values.items() if v.ndim != 2}
            per_epoch = [k for k, v in values.items() if v.ndim == 2]
            rows = [
                dict(shared, **dict(zip(per_epoch, epoch, strict=True)))
                for epoch in zip(*(values[k] for k in per_epoch), strict=True)
            ]
            self._block = (block, rows)
        return self._block[1][(round_index - block * self._presample) * e + epoch_index]

    def epoch_arrays(
        self, round_index: int, epoch_index: int, rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        """The arrays of a state that change by epoch (gains, noise, compute, distance, presence).

        The rest of :meth:`state` is per episode (``statics``: memory, data sizes, edge of each
        device) or per decision (``prev_split``); the vector env keeps those rows itself.
        ``rng``: the epoch's stream ``default_rng([seed, 1, round, epoch])`` if the caller has
        it already (the vector env draws K of them at once, :func:`splitenv.draws.batched_epoch_draws`).
        """
        return epoch_values(self.epoch_draws(round_index, epoch_index, rng))

    def epoch_draws(
        self, round_index: int, epoch_index: int, rng: np.random.Generator | None = None
    ) -> dict[str, np.ndarray]:
        """The random part of an epoch (:meth:`epoch_arrays` before :func:`epoch_values`)."""
        scn = self.scenario
        net, n = scn.network, scn.n_devices
        st = self.statics
        if rng is None and self.seed < WORD:  # the epoch stream as one row of a batch
            rows = np.array([round_index]), np.array([epoch_index])
            batch = batched_epoch_draws(scn, self._seeds, *rows)
            fading, fed_fading, flops = (v[0] if v.ndim == 2 else v for v in batch)
        else:
            if rng is None:
                rng = self._rng(STREAM_EPOCH, round_index, epoch_index)
            fading, fed_fading = self._ones, self._ones
            flops = level_flops(scn)
            fadings = np.empty(2 * n)
            if net.fading == "rayleigh":
                fading, fed_fading = fadings[:n], fadings[n:]
            if draws_flops(scn):
                flops = np.empty(n)
            epoch_stream(scn, rng, fadings, flops)
        draws = {
            "gain_db": st["gain_db"], "fading": fading, "fed_gain_db": st["fed_gain_db"],
            "fed_fading": fed_fading, "device_flops": flops, "distance_m": st["distance"],
            "active": self._all_active,
        }  # fmt: skip
        if self.dynamic:
            proc = self._dynamics(round_index * self.epochs_per_round + epoch_index)
            draws = with_dynamics(scn, st, proc, draws)
        if net.noise_states_dbm_hz and self.seed < WORD:
            (noise,) = batched_noise_dbm(scn, self._seeds, np.array([round_index]))
            draws["noise_dbm"] = noise
        elif net.noise_states_dbm_hz:
            round_rng = self._rng(STREAM_ROUND, round_index)
            draws["noise_dbm"] = round_rng.choice(np.asarray(net.noise_states_dbm_hz), n)
        else:
            draws["noise_dbm"] = flat_noise_dbm(scn)
        return draws

    @cached_property
    def _ones(self) -> np.ndarray:
        return np.ones(self.scenario.n_devices)

    @cached_property
    def _all_active(self) -> np.ndarray:
        return np.ones(self.scenario.n_devices, dtype=bool)

    def trace(self, n_rounds: int, n_epochs: int) -> list[list[State]]:
        """States of rounds x epochs (``prev_split`` unset: it depends on the decisions taken)."""
        return [[self.state(r, t) for t in range(n_epochs)] for r in range(n_rounds)]


def sample_state(
    scenario: Scenario, seed: int, round_index: int = 0, epoch_index: int = 0
) -> State:
    """One seeded state: ``StateSampler(scenario, seed).state(round_index, epoch_index)``."""
    return StateSampler(scenario, seed).state(round_index, epoch_index)
