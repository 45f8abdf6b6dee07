"""What a scenario draws: its random streams, their draws in order, and the states they make.

Every random quantity of an episode comes from a stream ``default_rng(SeedSequence([seed,
stream, ...]))`` (:data:`STREAM_STATIC` per episode, :data:`STREAM_EPOCH` per epoch,
:data:`STREAM_ROUND` per round, :data:`STREAM_DYNAMICS` per global epoch). Each stream's
draws are written once, in their order, for one generator (``static_draws``,
``epoch_stream``, ``dynamics_start_draws`` / ``dynamics_step_draws``) and as segments for
many streams at once (``static_segments``, ``epoch_segments``, ``dynamics_segments``: the
``batched_*`` functions draw K episodes' streams with :mod:`splitenv.batch_draws`); the
values a state holds follow from the draws by elementwise functions (``static_values``,
``epoch_values``, ``dynamics_start`` / ``dynamics_step``, ``with_dynamics``), which take one
episode's (N,) arrays or K episodes' stacked ones. :class:`splitenv.scenarios.StateSampler`
(one episode) and :class:`splitenv.vector.SplitLoRAVectorEnv` (K at once) both draw through
this module, so the single and the vector env see the same states.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from splitenv.batch_draws import BatchDraws, Segment
from splitenv.config import ComputeSpec, Scenario
from splitenv.model import channel

#: the streams of an episode: ``[seed, stream, ...]`` (see the module docstring)
STREAM_STATIC, STREAM_EPOCH, STREAM_ROUND, STREAM_DYNAMICS = 0, 1, 2, 3
#: seeds below one 32-bit entropy word are drawn by :mod:`splitenv.batch_draws`
WORD = 2**32


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
    drawn = batch.draw(seeds, (STREAM_STATIC,))
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
    drawn = batch.draw(seeds, (STREAM_EPOCH, rounds, epochs))
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
    (index,) = batch.draw(seeds, (STREAM_ROUND, rounds))
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
