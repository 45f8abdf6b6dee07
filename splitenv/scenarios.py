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
from collections.abc import Callable, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from splitenv import limits, plugins
from splitenv._fields import NumberLoader
from splitenv.batch_draws import BatchDraws, Segment
from splitenv.config import ComputeSpec, Scenario
from splitenv.errors import ConfigError, StateError
from splitenv.model import channel
from splitenv.model.state import read_only_arrays
from splitenv.model.types import State

_STREAM_STATIC, _STREAM_EPOCH, _STREAM_ROUND, _STREAM_DYNAMICS = 0, 1, 2, 3
#: seeds below one 32-bit entropy word are drawn by :mod:`splitenv.batch_draws`
WORD = 2**32


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
            return self.draw_statics(self._rng(_STREAM_STATIC))
        return {k: v[0] for k, v in batched_statics(self.scenario, self._seeds).items()}

    @cached_property
    def _seeds(self) -> np.ndarray:
        """The seed as the one row of a batch of streams (:mod:`splitenv.batch_draws`)."""
        return np.array([self.seed], dtype=np.int64)

    def draw_statics(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        """The statics drawn from ``rng``, which must be this episode's static stream.

        That is ``default_rng([seed, 0])``, or the same state from :mod:`splitenv.streams`
        (the vector env seeds K of them at once). The result is cached as :attr:`statics`.
        """
        out = static_values(self.scenario, static_draws(self.scenario, rng))
        self.__dict__["statics"] = out
        return out

    def _mean_gain_db(self, distance: np.ndarray, shadow_db: np.ndarray) -> np.ndarray:
        return mean_gain_db(self.scenario, distance, shadow_db)

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
            rng = self._rng(_STREAM_DYNAMICS, step)
            return dynamics_start_draws(scn, rng) if step == 0 else dynamics_step_draws(scn, rng)
        named = batched_dynamics_draws(scn, step == 0, self._seeds, (_STREAM_DYNAMICS, step))
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
        it already (the vector env seeds K of them at once, :mod:`splitenv.streams`).
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
                rng = self._rng(_STREAM_EPOCH, round_index, epoch_index)
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
            round_rng = self._rng(_STREAM_ROUND, round_index)
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


def has_dynamics(scn: Scenario) -> bool:
    """Whether fading, positions, presence or compute evolve as Markov processes over an episode."""
    net = scn.network
    return bool(
        net.fading_correlation > 0
        or net.mobility_step_m > 0
        or net.churn_leave_prob > 0
        or scn.compute.varies_availability
    )


def dynamics_start_draws(scn: Scenario, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The draws that start an episode's Markov processes, in their order (stream ``[seed, 3, 0]``).

    Each device's angle on its circle, the complex fading of both links (real then imaginary
    parts, (2, N) each), then, with ``compute.device_availability``, the available fractions
    (drawn even when ``availability_start: high`` sets them: the draws stay put).
    :func:`dynamics_segments` lists the same draws for K streams at once.
    """
    n = scn.n_devices
    out = {
        "angle": rng.uniform(0.0, 2 * np.pi, n),
        "h_re": rng.normal(size=(2, n)),
        "h_im": rng.normal(size=(2, n)),
    }
    if scn.compute.varies_availability:  # drawn last: the draws above stay as they were
        out["u"] = rng.uniform(*scn.compute.device_availability, n)
    return out


def dynamics_step_draws(scn: Scenario, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The draws that move the Markov processes one epoch, in their order (``[seed, 3, g]``).

    The fading innovation (real then imaginary parts, (2, N) each), the positions' steps
    ((N, 2), with ``network.mobility_step_m``), the churn's uniforms (N,) (drawn with or without
    churn), then the availability's steps (N,) (with ``compute.device_availability``).
    """
    net, comp, n = scn.network, scn.compute, scn.n_devices
    out = {"w_re": rng.normal(size=(2, n)), "w_im": rng.normal(size=(2, n))}
    if net.mobility_step_m > 0:
        out["move"] = rng.normal(0.0, net.mobility_step_m, (n, 2))
    out["churn"] = rng.uniform(size=n)
    if comp.varies_availability:
        out["availability"] = rng.normal(0.0, comp.availability_step, n)
    return out


def dynamics_segments(scn: Scenario, start: bool) -> tuple[tuple[str, Segment], ...]:
    """:func:`dynamics_start_draws` (``start``) or :func:`dynamics_step_draws` as named segments.

    Flat per draw ((2, N) and (N, 2) draws as 2 N in row-major order), for K streams at once;
    :func:`dynamics_shaped` gives them the draws' shapes.
    """
    net, comp, n = scn.network, scn.compute, scn.n_devices
    out: list[tuple[str, Segment]] = []
    if start:
        out += [
            ("angle", Segment("uniform", n, 0.0, 2 * np.pi)),
            ("h_re", Segment("normal", 2 * n)),
            ("h_im", Segment("normal", 2 * n)),
        ]
        if comp.varies_availability:
            out.append(("u", Segment("uniform", n, *comp.device_availability)))
        return tuple(out)
    out += [("w_re", Segment("normal", 2 * n)), ("w_im", Segment("normal", 2 * n))]
    if net.mobility_step_m > 0:
        out.append(("move", Segment("normal", 2 * n, 0.0, net.mobility_step_m)))
    out.append(("churn", Segment("uniform", n)))
    if comp.varies_availability:
        out.append(("availability", Segment("normal", n, 0.0, comp.availability_step)))
    return tuple(out)


def dynamics_shaped(scn: Scenario, named: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """K streams' :func:`dynamics_segments` draws, (K, count) each, in the draws' own shapes.

    (K, 2, N) for the fading parts, (K, N, 2) for the positions' steps, (K, N) for the rest.
    """
    n = scn.n_devices
    shapes = {"h_re": (2, n), "h_im": (2, n), "w_re": (2, n), "w_im": (2, n), "move": (n, 2)}
    return {k: v.reshape(v.shape[0], *shapes.get(k, (n,))) for k, v in named.items()}


def dynamics_start(
    scn: Scenario, statics: Mapping[str, np.ndarray], draws: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The Markov processes at an episode's first epoch (ours).

    ``h``: complex fading CN(0, 1) of the edge and the federated link (2, N); ``xy``: each
    device's position (N, 2), at its static distance (from the federated server with disk
    placement) and the drawn angle; ``active``: every device present; ``u``: each device's
    available fraction of its FLOP/s (with ``compute.device_availability``; the range's top
    with ``availability_start: high``). ``draws``: :func:`dynamics_start_draws`. Elementwise:
    K episodes' statics and draws stacked on a leading axis give their K processes.
    """
    net, comp = scn.network, scn.compute
    angle = draws["angle"]
    radius = statics["fed_distance"] if net.placement == "disk" else statics["distance"]
    proc = {
        "h": (draws["h_re"] + 1j * draws["h_im"]) / np.sqrt(2.0),
        "xy": np.stack([radius * np.cos(angle), radius * np.sin(angle)], axis=-1),
        "active": np.ones(angle.shape, dtype=bool),
    }
    if comp.varies_availability:
        proc["u"] = draws["u"]
        if comp.availability_start == "high":
            proc["u"] = np.full(angle.shape, comp.device_availability[1])
    return proc


def dynamics_step(
    scn: Scenario, proc: Mapping[str, np.ndarray], draws: Mapping[str, np.ndarray]
) -> dict[str, np.ndarray]:
    """The Markov processes one epoch after ``proc`` (ours; see :class:`StateSampler`).

    Gauss-Markov fading ``h_g = rho h_{g-1} + sqrt(1 - rho^2) w_g``; positions moved by a
    Gaussian step and pulled back radially into ``network.distance_m``; a present device
    leaves with ``churn_leave_prob``, an absent one rejoins with ``churn_join_prob``; the
    availability's reflected walk (:func:`availability`). ``draws``:
    :func:`dynamics_step_draws`. Elementwise over leading axes (K episodes at once); a new
    dict, ``proc`` is not modified.
    """
    net = scn.network
    out = dict(proc)
    rho = net.fading_correlation
    w = (draws["w_re"] + 1j * draws["w_im"]) / np.sqrt(2.0)
    out["h"] = rho * proc["h"] + np.sqrt(1.0 - rho**2) * w
    if net.mobility_step_m > 0:
        xy = proc["xy"] + draws["move"]
        r = np.hypot(xy[..., 0], xy[..., 1])
        lo, hi = net.distance_m
        out["xy"] = xy * (np.clip(r, lo, hi) / np.maximum(r, 1e-9))[..., None]
    u = draws["churn"]
    out["active"] = np.where(proc["active"], u >= net.churn_leave_prob, u < net.churn_join_prob)
    if "u" in proc:  # each device's available fraction of its FLOP/s
        out["u"] = availability(scn.compute, proc["u"], draws["availability"])
    return out


def with_dynamics(
    scn: Scenario,
    statics: Mapping[str, np.ndarray],
    proc: Mapping[str, np.ndarray],
    draws: Mapping[str, np.ndarray],
) -> dict[str, np.ndarray]:
    """An epoch's draws (:meth:`StateSampler.epoch_draws`) under the Markov processes ``proc``.

    Correlated Rayleigh fading ``|h|^2`` replaces the block fading; with mobility, the
    distances and mean gains follow the positions (shadowing stays the episode's); presence
    is ``proc``'s; the drawn FLOP/s are scaled by the availability. Elementwise: K episodes'
    arrays stacked on a leading axis. A new dict.
    """
    net = scn.network
    out = dict(draws)
    if net.fading == "rayleigh" and net.fading_correlation > 0:
        h = proc["h"]
        out["fading"], out["fed_fading"] = np.abs(h[..., 0, :]) ** 2, np.abs(h[..., 1, :]) ** 2
    if net.mobility_step_m > 0:
        xy = proc["xy"]
        fed_distance = np.hypot(xy[..., 0], xy[..., 1])
        distance = (
            np.maximum(np.hypot(xy[..., 0] - net.fed_server_offset_m, xy[..., 1]), 1.0)
            if net.placement == "disk"
            else fed_distance
        )
        out["gain_db"] = mean_gain_db(scn, distance, statics["shadow_db"])
        out["fed_gain_db"] = mean_gain_db(scn, fed_distance, statics["fed_shadow_db"])
        out["distance_m"] = distance
    out["active"] = proc["active"]
    if "u" in proc:
        out["device_flops"] = draws["device_flops"] * proc["u"]
    return out


def availability(comp: ComputeSpec, u: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Each device's available fraction of its FLOP/s one epoch after ``u`` (ours, issue 13).

    A random walk reflected at the ends of ``[a_lo, a_hi] = compute.device_availability``:
    ``u_g = reflect(u_{g-1} + e_g)``, ``e_g ~ N(0, compute.availability_step)`` per device
    (``step``: one draw of (N,) from the epoch's dynamics stream, :func:`dynamics_step_draws`).
    The walk keeps the uniform law on the range
    (its stationary law: a walk started uniform stays uniform); started at ``a_hi``
    (``availability_start: high``) it drifts down at first, as devices that start the training
    idle and cool take on background load and heat. Elementwise.
    """
    lo, hi = comp.device_availability
    return reflect(u + step, lo, hi)


def reflect(x: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """``x`` folded into [lo, hi] by reflection at both ends (a reflected random walk's step).

    ``y = (x - lo) mod 2W`` with ``W = hi - lo``, then ``lo + y`` on the way up and
    ``lo + 2W - y`` on the way down, so a step of any size lands inside. Elementwise.
    """
    width = hi - lo
    if width <= 0:
        return np.full_like(x, lo)
    y = np.mod(x - lo, 2.0 * width)
    return lo + np.where(y > width, 2.0 * width - y, y)


def static_draws(scn: Scenario, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """An episode's static stream's draws, in their order (:func:`static_values` uses them)."""
    net, n = scn.network, scn.n_devices
    lo, hi = net.distance_m
    out = {}
    if net.placement == "disk":  # area-uniform in the annulus lo <= |x| <= hi
        out["radius_sq"] = rng.uniform(lo**2, hi**2, n)
        out["angle"] = rng.uniform(0.0, 2 * np.pi, n)
    else:
        out["distance"] = rng.uniform(lo, hi, n)
    zeros = np.zeros(n)
    out["shadow"] = rng.normal(0.0, net.shadowing_db, n) if net.shadowing_db > 0 else zeros
    out["fed_shadow"] = rng.normal(0.0, net.shadowing_db, n) if net.shadowing_db > 0 else zeros
    out["memory"] = rng.uniform(*scn.memory.device_memory_bytes, n)
    d_lo, d_hi = scn.workload.samples_per_device
    out["data"] = rng.uniform(d_lo, d_hi + 1e-9, n)
    return out


def static_segments(scn: Scenario) -> tuple[tuple[str, Segment], ...]:
    """:func:`static_draws` as named segments of draws, in their order (for K streams at once)."""
    net, n = scn.network, scn.n_devices
    lo, hi = net.distance_m
    out: list[tuple[str, Segment]] = []
    if net.placement == "disk":
        out += [
            ("radius_sq", Segment("uniform", n, lo**2, hi**2)),
            ("angle", Segment("uniform", n, 0.0, 2 * np.pi)),
        ]
    else:
        out.append(("distance", Segment("uniform", n, lo, hi)))
    if net.shadowing_db > 0:
        out.append(("shadow", Segment("normal", n, 0.0, net.shadowing_db)))
        out.append(("fed_shadow", Segment("normal", n, 0.0, net.shadowing_db)))
    out.append(("memory", Segment("uniform", n, *scn.memory.device_memory_bytes)))
    d_lo, d_hi = scn.workload.samples_per_device
    out.append(("data", Segment("uniform", n, d_lo, d_hi + 1e-9)))
    return tuple(out)


def epoch_segments(scn: Scenario) -> tuple[tuple[str, Segment], ...]:
    """:func:`epoch_stream` as named segments of draws, in their order (for K streams at once)."""
    n = scn.n_devices
    out: list[tuple[str, Segment]] = []
    if scn.network.fading == "rayleigh":
        out.append(("fadings", Segment("exponential", 2 * n)))
    if draws_flops(scn):
        out.append(("flops", Segment("uniform", n, *scn.compute.device_flops)))
    return tuple(out)


def _batch_draws(
    scn: Scenario, key: str, segments: Callable[[], tuple[tuple[str, Segment], ...]]
) -> tuple[tuple[tuple[str, Segment], ...], BatchDraws]:
    """A plan of named segments (``segments()``) and its :class:`BatchDraws`, built once per scenario."""

    def build() -> tuple[tuple[tuple[str, Segment], ...], BatchDraws]:
        plan = segments()
        return plan, BatchDraws(tuple(seg for _, seg in plan))

    return scn.memo(key, build)


def _named(plan: tuple[tuple[str, Segment], ...], drawn: list[np.ndarray]) -> dict[str, np.ndarray]:
    return {name: v for (name, _), v in zip(plan, drawn, strict=True)}


def batched_statics(scn: Scenario, seeds: np.ndarray) -> dict[str, np.ndarray]:
    """The statics of K episodes (seeds below :data:`WORD`), (K, N) each.

    Their static streams ``[seed, 0]`` drawn at once (:func:`static_segments`, bit for bit
    :func:`static_draws` of each), then :func:`static_values`; the sampler takes it with K = 1.
    """
    plan, batch = _batch_draws(scn, "static_draws", lambda: static_segments(scn))
    drawn = batch.draw(seeds, (_STREAM_STATIC,))
    draws = _named(plan, drawn)
    for name in ("shadow", "fed_shadow"):  # not drawn without shadowing
        draws.setdefault(name, np.zeros((len(seeds), scn.n_devices)))
    return static_values(scn, draws)


def batched_epoch_draws(
    scn: Scenario, seeds: np.ndarray, rounds: np.ndarray, epochs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fading, federated fading and compute of K epochs (seeds below :data:`WORD`).

    Their epoch streams ``[seed, 1, round, epoch]`` drawn at once (:func:`epoch_segments`,
    bit for bit :func:`epoch_stream` of each): (K, N) each; ones without fading, and the
    scenario's fixed compute (N,) when it draws none (:func:`level_flops`).
    """
    plan, batch = _batch_draws(scn, "epoch_draws", lambda: epoch_segments(scn))
    drawn = batch.draw(seeds, (_STREAM_EPOCH, rounds, epochs))
    values, n = _named(plan, drawn), scn.n_devices
    fadings = values["fadings"] if "fadings" in values else np.ones((len(seeds), 2 * n))
    flops = values["flops"] if "flops" in values else level_flops(scn)
    return fadings[:, :n], fadings[:, n:], flops


def batched_dynamics_draws(
    scn: Scenario, start: bool, seeds: np.ndarray, key: tuple[Any, ...]
) -> dict[str, np.ndarray]:
    """The dynamics streams ``[seeds[i], *key_i]``'s draws (seeds below :data:`WORD`).

    :func:`dynamics_start_draws` (``start``) or :func:`dynamics_step_draws` of each stream,
    bit for bit, named and in their shapes with a leading K axis (:func:`dynamics_shaped`).
    """
    plan, batch = _batch_draws(
        scn, f"dynamics_draws_{start}", lambda: dynamics_segments(scn, start)
    )
    drawn = batch.draw(seeds, key)
    return dynamics_shaped(scn, _named(plan, drawn))


def batched_noise_dbm(scn: Scenario, seeds: np.ndarray, rounds: np.ndarray) -> np.ndarray:
    """The noise PSDs (dBm/Hz) of K rounds' streams ``[seed, 2, round]``, (K, N).

    The sampler's ``choice(noise_states_dbm_hz, N)`` is ``states[integers(0, len(states), N)]``:
    the indices drawn at once as bounded integers (seeds below :data:`WORD`).
    """
    states = np.asarray(scn.network.noise_states_dbm_hz)
    plan = (("index", Segment("integers", scn.n_devices, 0, states.size)),)
    _, batch = _batch_draws(scn, "noise_draws", lambda: plan)
    (index,) = batch.draw(seeds, (_STREAM_ROUND, rounds))
    return states[index]


def static_values(scn: Scenario, draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per-episode state values from the static draws.

    Positions, distances, shadowing, memory, data sizes; elementwise: (N,) draws or K
    episodes' stacked (K, N).
    """
    net = scn.network
    if net.placement == "disk":  # around the federated server, the edge server offset
        radius = np.sqrt(draws["radius_sq"])
        x, y = radius * np.cos(draws["angle"]), radius * np.sin(draws["angle"])
        fed_distance = radius
        distance = np.hypot(x - net.fed_server_offset_m, y)
        distance = np.maximum(distance, 1.0)  # the path-loss law needs d > 0
    else:
        distance = draws["distance"]
        fed_distance = distance.copy()
    shadow, fed_shadow = draws["shadow"], draws["fed_shadow"]
    memory = draws["memory"]  # drawn even with device classes: later draws stay unchanged
    if scn.devices.enabled:
        classes = np.asarray(scn.devices.memory_bytes)[list(scn.devices.of_devices(scn.n_devices))]
        memory = np.broadcast_to(classes, memory.shape).copy()
    edge_of = np.arange(scn.n_devices) % net.n_edge_servers
    return {
        "gain_db": mean_gain_db(scn, distance, shadow),
        "fed_gain_db": mean_gain_db(scn, fed_distance, fed_shadow),
        "distance": distance,
        "fed_distance": fed_distance,
        "shadow_db": shadow,
        "fed_shadow_db": fed_shadow,
        "memory": memory,
        "data": np.maximum(np.floor(draws["data"]), 1.0),
        "edge_of": np.broadcast_to(edge_of, distance.shape).copy(),
    }


def mean_gain_db(scn: Scenario, distance: np.ndarray, shadow_db: np.ndarray) -> np.ndarray:
    """Antenna gains minus path loss and shadowing, in dB (fixed over an episode)."""
    net = scn.network
    pl = channel.path_loss_db(distance, net.path_loss_db_at_1km, net.path_loss_exponent_db)
    return net.device_antenna_gain_dbi + net.edge_antenna_gain_dbi - pl - shadow_db


def epoch_stream(
    scn: Scenario, rng: np.random.Generator, fadings: np.ndarray, flops: np.ndarray
) -> None:
    """An epoch stream's draws, in their order, written into the given arrays.

    Rayleigh block fading of the edge then the federated link (exponential power gains)
    into ``fadings`` (2 N,), then device compute uniform in ``compute.device_flops`` into
    ``flops`` (N,); a quantity the scenario does not draw (no fading, compute levels or
    device classes) is left as given.
    """
    if scn.network.fading == "rayleigh":  # = two exponential(1.0, N): scale 1 is exact
        rng.standard_exponential(out=fadings)
    if draws_flops(scn):
        flops[...] = rng.uniform(*scn.compute.device_flops, flops.shape[-1])


def flat_noise_dbm(scn: Scenario) -> np.ndarray:
    """Every device's noise PSD in dBm/Hz when the scenario has one noise state."""
    return scn.memo("flat_noise_dbm", lambda: np.full(scn.n_devices, scn.network.noise_psd_dbm_hz))


def draws_flops(scn: Scenario) -> bool:
    """Whether device compute is drawn each epoch (neither device classes nor levels fix it)."""
    return not (scn.devices.enabled or scn.compute.device_flops_levels)


def level_flops(scn: Scenario) -> np.ndarray:
    """Device compute when the scenario fixes it: by class, else by levels (n: level n mod count)."""
    if scn.devices.enabled:
        return np.asarray(scn.devices.flops, dtype=np.float64)[
            list(scn.devices.of_devices(scn.n_devices))
        ]
    levels = np.asarray(scn.compute.device_flops_levels or (0.0,))
    return levels[np.arange(scn.n_devices) % len(levels)]


def epoch_values(draws: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The epoch's state arrays from its draws (:meth:`StateSampler.epoch_draws`).

    Elementwise, so it takes one epoch's (N,) draws or K epochs' draws stacked as (K, N).
    """
    return {
        "channel_gain": channel.db_to_linear(draws["gain_db"]) * draws["fading"],
        "noise_psd_w_hz": channel.dbm_to_watt(draws["noise_dbm"]),
        "device_flops": draws["device_flops"],
        "distance_m": draws["distance_m"],
        "fed_channel_gain": channel.db_to_linear(draws["fed_gain_db"]) * draws["fed_fading"],
        "active": draws["active"],
    }


def sample_state(
    scenario: Scenario, seed: int, round_index: int = 0, epoch_index: int = 0
) -> State:
    """One seeded state: ``StateSampler(scenario, seed).state(round_index, epoch_index)``."""
    return StateSampler(scenario, seed).state(round_index, epoch_index)
