"""The Gymnasium environment of split LoRA fine-tuning over a wireless edge network."""

from __future__ import annotations

import inspect
import math
from typing import Any

import gymnasium as gym
import numpy as np
from numpy.typing import NDArray

from splitenv import allocation as allocators
from splitenv import render
from splitenv.accuracy_providers import AccuracyProvider, make_provider
from splitenv.config import Scenario
from splitenv.info import as_numpy, decision_info
from splitenv.model import Decision, EpochPart, Evaluation, State, StateBatch
from splitenv.model.engine import epoch_latency, evaluate_own, feasible_splits
from splitenv.model.records import record
from splitenv.model.schedule import round_latency
from splitenv.model.types import enabled_fields
from splitenv.observation import Features
from splitenv.reference import stack_with_reference, with_reference
from splitenv.scenarios import StateSampler, load_scenario
from splitenv.spaces import (
    LARGE,
    decision_fields,
    fixed_values,
    native_space,
    native_to_decision,
)

REWARD_MODES = ("normalized", "raw")
#: epochs whose states a reset draws at once (about; whole rounds)
PRESAMPLE_EPOCHS = 64


class SplitLoRAEnv(gym.Env[NDArray[np.float32], dict[str, Any]]):
    """Schedule split LoRA fine-tuning: splits, rank, radio, compute and compression.

    ## Description
    N devices fine-tune a transformer split between each device and an edge
    server (and a cloud, for three tiers). Training runs in rounds of epochs of
    iterations (SCCT Sec. III-A; SFT Sec. VI-C): large-timescale decisions (split,
    rank, compression) change once per round, small-timescale ones (subchannels
    or bandwidth, transmit power, edge compute shares, server frequency) every
    epoch, while channel gains and device compute are redrawn every epoch from the
    episode's seed. Every cost comes from the analytical engine
    :func:`splitenv.evaluate_batch`; the scenario is any preset or YAML file.

    ## Action Space
    A ``Dict`` in physical units whose keys depend on ``timescale`` and on the
    decisions the scenario enables (:func:`splitenv.spaces.action_fields`). A decision
    with one possible value (SCCT's, SFT's, CARD's and SplitLLM's single rank, a
    one-value bit range, ...) is no key: the env applies that value itself
    (``env.unwrapped.fixed``), so no action dimension is dead:

    | key | space | meaning | timescale |
    | --- | --- | --- | --- |
    | split | MultiDiscrete(n_split per device), or Discrete for a shared cut | layers on the device minus ``split_range[0]`` | round, joint |
    | edge_split | MultiDiscrete | last edge layer minus ``split_range[0]`` (three tiers; raised to the split if lower) | round, joint |
    | rank | Discrete | index into ``workload.rank_choices`` | round, joint |
    | keep_ratio | Box(0, 1, (1,)) | Top-K kept fraction, lo + v (hi - lo) of its range | round, joint |
    | quant_bits | Discrete | bits minus ``quant_bits_range[0]`` | round, joint |
    | subchannels, fed_subchannels | MultiDiscrete(K + 1 per device) | subchannel counts | epoch, joint |
    | bandwidth_hz | Box(0, 1, (N,)) | bandwidth as a fraction of B | epoch, joint |
    | power_w, fed_power_w | Box(0, 1, (N,)) | transmit power as a fraction of P_max | epoch, joint |
    | compute_share | Box(0, 1, (N,)) | edge compute share | epoch, joint |
    | server_freq_hz | Box(0, 1, (N,)) | server clock per device, F_min + v (F_max - F_min) | epoch, joint |

    Budgets (sum of subchannels <= K, shares <= 1, powers) are not enforced by the
    native space: a violating action is evaluated as given, reported in
    ``info["violations"]`` and rewarded ``-infeasible_penalty``. The wrappers
    :class:`~splitenv.wrappers.MultiDiscreteAction` (with ``action_masks()``) and
    :class:`~splitenv.wrappers.BoxAction` encode the same decisions so that every
    action meets every budget (decoders documented in :mod:`splitenv.spaces`).
    With ``timescale="joint"`` the large-timescale keys take effect only at a
    round start (observation ``is_round_start``) and are ignored otherwise.

    ## Observation Space
    ``Box(0, 1, (7 N + 4,), float32)``: seven features per device (device-major),
    then four globals, each scaled into [0, 1] and clipped (bounds from the
    scenario's ranges):

    | index | name | unit | bounds before scaling |
    | --- | --- | --- | --- |
    | 7n + 0 | snr_db | dB of gain / N0 (W/Hz per W) | channel range of the preset |
    | 7n + 1 | compute | FLOP/s available (its peak x availability, where it drifts) | [0, max device FLOP/s] |
    | 7n + 2 | memory | bytes | [0, max device memory] |
    | 7n + 3 | split | layers in force (at a round start: the last round's, the migration's origin) | [0, L] |
    | 7n + 4 | data_size | samples | [0, max samples] |
    | 7n + 5 | distance | m | [0, max distance] |
    | 7n + 6 | active | - | {0, 1} (churn) |
    | 7N + 0 | round_progress | - | round / rounds |
    | 7N + 1 | epoch_progress | - | epoch / epochs_per_round |
    | 7N + 2 | is_round_start | - | {0, 1} |
    | 7N + 3 | last_cost_ratio | - | minus the last reward (capped cost / reference, plus the penalty if infeasible) / 5, clipped to [0, 1] |

    With ``observation="dict"``: ``{"devices": Box(0, 1, (N, 7)), "globals": Box(0, 1, (4,))}``
    for SB3's ``MultiInputPolicy``.

    ## Rewards
    ``reward = -min(cost / reference, cost_cap)`` (``reward_mode="normalized"``, the cap
    keeps one starved device from dominating a return), minus ``infeasible_penalty`` more
    when the decision breaks a constraint (so breaking a budget never pays), or the same
    times ``reference`` (``"raw"``),
    where ``cost`` is the step's latency in s plus ``energy_weight`` times its
    energy in J (or CARD's normalized cost U (12) for presets whose objective is
    ``card_cost``), and ``reference`` is the same cost of the preset's default
    decision (its default split, equal shares of everything) on the same states:
    -1.0 means "as good as equal allocation". The reference keeps its own split
    history: it never changes its split, so its previous split is none at the
    episode's start (as the policy's) and its own, the default, from then on, and it
    never pays a split migration (SCCT (18)) whatever the policy plays
    (:func:`splitenv.reference.reference_prev_split`). So an episode's reference costs are
    the same for every policy on the same seed. An epoch step costs its epochs'
    iterations, plus the round's start (migration SCCT (18), model distribution SFT
    (19)) at a round start and its end (adapter exchange) at the round's last epoch;
    a round step costs the round (:func:`splitenv.model.compose_round`). For
    devices that run independently (SFT, CARD) the epoch costs of a round sum to an
    upper bound of its latency; ``info["round_latency_s"]`` is always exact.
    ``info`` is tabulated below.

    ## Info
    Every value is a numpy scalar or array of one dtype in every step (``float64``,
    ``int64``, ``bool``); a dotted key is an entry of a dict value. "step" means the
    epochs the step played (one epoch, or the whole round with ``timescale="round"``).

    | key | dtype | shape | unit | when |
    | --- | --- | --- | --- | --- |
    | episode_seed | int64 | () | - | reset |
    | action_mask.split | bool | (n_split,) shared cut, else (N, n_split) | - | reset, every step |
    | latency_s | float64 | () | s, the step's latency (round start and end included) | every step |
    | energy_j | float64 | () | J, the step's epochs' energy (1/T of the engine's round energy each) | every step |
    | cost | float64 | () | s (+ energy_weight J), or CARD's U, of the step | every step |
    | reference_cost | float64 | () | the same as cost, of the preset's default decision (its own split history) | every step |
    | feasible | bool | () | - | every step |
    | violations.<constraint> | float64 | () | amount exceeded, in the constraint's unit | a constraint broken |
    | terms.<name> | float64 | () | see Info Terms | every step |
    | decision.split | int64 | (N,) | layers on the device | every step |
    | decision.edge_split | int64 | (N,) | last layer on the edge | three tiers |
    | decision.rank | int64 | () | LoRA rank | every step |
    | decision.quant_bits | int64 | () | bits | compression enabled |
    | decision.keep_ratio | float64 | () | fraction kept | compression enabled |
    | decision.subchannels, decision.fed_subchannels | int64 | (N,) | subchannels | scenario's allocation |
    | decision.bandwidth_hz, decision.server_freq_hz | float64 | (N,) | Hz | scenario's allocation |
    | decision.power_w, decision.fed_power_w | float64 | (N,) | W | power control |
    | decision.compute_share | float64 | (N,) | fraction of the edge server | shared server |
    | round, epoch | int64 | () | - (round index; epochs played in it) | every step |
    | simulated_time_s | float64 | () | s, latency since reset | every step |
    | round_latency_s | float64 | () | s, the round just ended (exact) | round ends |
    | accuracy | float64 | () | - (provider's metric) | round ends, with a provider |
    | accuracy_extras.<name> | float64, int64 or bool | provider's | provider's (train: loss, wire bytes, ...) | round ends, with a provider |

    The :class:`~splitenv.wrappers.MultiDiscreteAction` wrapper replaces ``action_mask`` by
    its flat ``bool`` mask over all choices.

    ## Info Terms
    ``info["terms"]``: the engine's scalar terms (:func:`splitenv.evaluate_batch`) of the
    step's last epoch, each for that epoch's state standing for every epoch of a round
    (the exact round is ``round_latency_s``). "Training" is the preset's whole run:
    ``schedule.rounds`` rounds, or E(r) rounds of FedsLLM (17).

    | name | unit | scope |
    | --- | --- | --- |
    | iteration_s | s | per iteration |
    | epoch_s | s | per epoch |
    | round_s | s | per round |
    | total_s | s | per training |
    | rounds | rounds | per training |
    | shared_iteration_s | s | per iteration |
    | pre_round_s | s | per round |
    | adapter_s | s | per round |
    | server_energy_j | J | per round |
    | device_energy_j | J | per round |
    | comm_bits | bits | per round |
    | edge_memory_bytes | bytes | peak |
    | cloud_memory_bytes | bytes | peak |

    ## Starting State
    ``reset(seed=s)`` fixes the whole episode: device positions, shadowing,
    memory and data sizes, and every epoch's fading and compute
    (:class:`~splitenv.scenarios.StateSampler`), including, where the scenario
    enables them, Gauss-Markov correlated fading, mobility, churn and each device's
    available compute drifting as a reflected random walk (``network.fading_correlation``,
    ``mobility_step_m``, ``churn_leave_prob`` / ``churn_join_prob``,
    ``compute.device_availability`` / ``availability_step`` / ``availability_start``; an
    absent device costs nothing). The observation carries what a policy with foresight needs
    on such a scenario: the slowly moving quantities (``compute``, ``snr_db``, ``active``),
    the split in force (a move's migration) and ``round_progress`` (the rounds left).
    ``reset(options={"instance": {"seed": k}})``
    replays the stored instance ``k`` (see :mod:`splitenv.instances`).

    ## Episode End
    Truncated after ``rounds`` rounds (``rounds x epochs_per_round`` steps for the
    epoch and joint timescales). Terminated early when an accuracy provider is
    attached and reports the target reached; the return is then minus the time to
    accuracy.

    ## Arguments
    * ``config``: preset name, YAML path or :class:`~splitenv.config.Scenario`.
    * ``timescale``: ``"round"`` (default), ``"epoch"`` or ``"joint"``.
    * ``rounds`` (4), ``epochs_per_round`` (3): episode length; the preset's own
      schedule (paper values) still sets iterations per epoch.
    * ``inner_allocator``: small-timescale policy for ``"round"``: ``"paper"`` (default, the
      paper's own allocator for the scenario's structure, :mod:`splitenv.allocation.papers`),
      ``"equal"`` (fast), ``"sft_bisection"`` (SFT: the optimum of the program Alg. 3's SQP
      solves, ~1e-9 relative from it, ~100x cheaper), another name from the
      ``splitenv.allocators`` entry points, or a callable; one that does not fit the
      scenario (a paper's allocator on another paper's structure) raises ``ConfigError``
      when the env is built (:func:`splitenv.allocation.check_fits`);
      ``split_policy``: large-timescale policy for ``"epoch"`` (default: the preset's).
    * ``reward_mode``, ``energy_weight`` (s/J; default the scenario's ``objective.energy_weight``,
      0 in the paper presets), ``infeasible_penalty`` (5.0) and ``cost_cap``
      (100.0), both in units of the reference cost.
    * ``accuracy``: ``None``, ``"surrogate"``, ``"table"``, ``"train"`` (real training,
      ``splitenv[train]``) or an AccuracyProvider
      (:mod:`splitenv.accuracy_providers`).
    * ``observation``: ``"flat"`` or ``"dict"``; ``render_mode``: ``"ansi"`` (a table of
      the last epoch) or ``"rgb_array"`` (the last round as a Gantt chart: one row per
      device, its phases on the time axis coloured by tier; :mod:`splitenv.render`).
    * ``overrides``: dotted config overrides; any other keyword ``a__b=v`` (or
      ``**{"a.b": v}``) is one too, so ``gymnasium.make(id, **overrides)`` reaches
      every config field. Any other keyword is a ``TypeError`` naming it (as Python's).

    ## Version History
    * v0: first release. Since issue 10 a decision with one possible value is no action
      key (SCCT, SFT, CARD and SplitLLM lost their ``Discrete(1)`` rank), ``info`` values
      are numpy, ``render_mode="rgb_array"`` exists and unknown keywords are TypeErrors.
      Since issue 13 the reference keeps its own previous split: before, it was evaluated
      with the policy's and paid the migration from the policy's split to the default one,
      so in presets with ``schedule.migration`` (SCCT, SplitLoRADynamic) rewards and
      normalized costs of policies off the default split were flattered (SCCT: references
      0.1-0.3 % too high; SplitLoRADynamic, 10 rounds, every device held at split 2: 39 %).
    * A preset's version is its id's: SFT-v1 (accuracy coefficients), SplitLoRADynamic-v1
      (issue 13: a Jetson AGX Orin edge and drifting device compute, so the best split moves).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}  # noqa: RUF012 (gymnasium's convention)

    def __init__(
        self,
        config: str | Scenario = "scct",
        *,
        timescale: str = "round",
        rounds: int = 4,
        epochs_per_round: int = 3,
        inner_allocator: str | allocators.Allocator = "paper",
        split_policy: str | allocators.Allocator = "default",
        reward_mode: str = "normalized",
        energy_weight: float | None = None,
        infeasible_penalty: float = 5.0,
        cost_cap: float = 100.0,
        accuracy: str | AccuracyProvider | None = None,
        observation: str = "flat",
        render_mode: str | None = None,
        overrides: dict[str, Any] | None = None,
        **more_overrides: Any,
    ) -> None:
        _check_keywords(more_overrides)
        merged = dict(overrides or {})
        merged.update({k.replace("__", "."): v for k, v in more_overrides.items()})
        self.scenario = load_scenario(config, merged)
        _check_choice("reward_mode", reward_mode, REWARD_MODES)
        _check_choice("observation", observation, ("flat", "dict"))
        if render_mode is not None:
            _check_choice("render_mode", render_mode, tuple(self.metadata["render_modes"]))
        for name, value in (("rounds", rounds), ("epochs_per_round", epochs_per_round)):
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                raise ValueError(f"{name} = {value!r}; allowed: an integer >= 1")
        if energy_weight is None:  # the scenario's own weight (0 in the paper presets)
            energy_weight = self.scenario.objective.energy_weight
        if not (energy_weight >= 0 and infeasible_penalty >= 0):
            raise ValueError("energy_weight and infeasible_penalty must be >= 0")
        self.timescale = timescale
        every = decision_fields(self.scenario, timescale)
        #: fields with one possible value: no action dimension, the env applies the value
        self.fixed = fixed_values(self.scenario, every)
        #: the fields the agent sets (the action space's keys, in order)
        self.fields = tuple(f for f in every if f not in self.fixed)
        if not self.fields:
            raise ValueError(
                f"timescale = {timescale!r} exposes no decision of scenario {self.scenario.name!r}; "
                f"its decisions are {', '.join(decision_fields(self.scenario, 'joint'))}"
                + (f" ({', '.join(self.fixed)} with one value)" if self.fixed else "")
            )
        self.rounds, self.epochs_per_round = int(rounds), int(epochs_per_round)
        self.inner_allocator = allocators.resolve(inner_allocator)
        if timescale == "round":  # the allocator runs at every round: it must fit the scenario
            label = inner_allocator if isinstance(inner_allocator, str) else repr(inner_allocator)
            allocators.check_fits(self.inner_allocator, self.scenario, label)
        self.split_policy = allocators.resolve(split_policy)
        self.reward_mode, self.energy_weight = reward_mode, float(energy_weight)
        self.infeasible_penalty = float(infeasible_penalty)
        if not cost_cap > 1.0:
            raise ValueError(
                f"cost_cap = {cost_cap!r}; allowed: > 1 (in units of the reference cost)"
            )
        self.cost_cap = float(cost_cap)
        self.accuracy = make_provider(accuracy)
        self.render_mode = render_mode
        self.native_space = native_space(self.scenario, self.fields)
        self.action_space = self.native_space
        self.features = Features(self.scenario)
        self.observation_mode = observation
        self.observation_space = self.features.space(observation)
        self._sampler: StateSampler | None = None
        self._split: NDArray[np.int64] | None = None
        self._last: dict[str, Any] = {}
        self._drawn: list[Evaluation] = []

    # --- episode bookkeeping -----------------------------------------------------------

    @property
    def steps_per_episode(self) -> int:
        """Steps until truncation."""
        return self.rounds * (1 if self.timescale == "round" else self.epochs_per_round)

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        instance = (options or {}).get("instance")
        if instance is not None:
            if not isinstance(instance, dict) or "seed" not in instance:
                raise ValueError(f"options['instance'] = {instance!r} must be a dict with a 'seed'")
            episode_seed = int(instance["seed"])
        else:
            episode_seed = int(self.np_random.integers(2**31 - 1))
        self.episode_seed = episode_seed
        # the episode's epochs are drawn a block of rounds at a time (the same states)
        block = min(self.rounds, max(1, PRESAMPLE_EPOCHS // self.epochs_per_round))
        self._sampler = StateSampler(
            self.scenario, episode_seed, self.epochs_per_round, presample=block
        )
        self._round, self._epoch = 0, 0
        self._large = Decision()
        self._split = None
        self._prev_split: NDArray[np.int64] | None = None
        self._parts: list[Evaluation] = []
        self._last_ratio = 1.0
        self._time_s = 0.0
        if self.accuracy is not None:
            self.accuracy.reset(self.scenario, episode_seed)
        self._state = self._state_at(0, 0)
        # device memory is fixed over an episode (StateSampler statics): masks are computed once
        self._split_ok = (
            feasible_splits(self.scenario, self._state) if "split" in self.fields else None
        )
        self._last = {}
        self._drawn = []
        info = {"episode_seed": np.int64(episode_seed), "action_mask": self.action_mask()}
        return self._observe(), info

    def _state_at(self, round_index: int, epoch_index: int) -> State:
        assert self._sampler is not None
        prev = self._prev_split if epoch_index == 0 else self._split
        return self._sampler.state(round_index, epoch_index, prev_split=prev)

    @property
    def current_state(self) -> State:
        """The state of the epoch the next step plays (after ``reset``)."""
        if self._sampler is None:
            raise RuntimeError("call reset() first")
        return self._state

    @property
    def round_start(self) -> bool:
        """Whether the next step starts a round (large-timescale fields take effect)."""
        return self._epoch == 0

    @property
    def large_decision(self) -> Decision:
        """The split / rank / compression in force this round."""
        return self._large

    def instance(self) -> dict[str, Any]:
        """The current episode as a replayable instance (seed + scenario hash)."""
        return {"seed": self.episode_seed, "scenario_sha256": self.scenario.sha256()}

    # --- stepping --------------------------------------------------------------------------

    def step(self, action: Any):
        """Play one step of a native action (checked here: the env's one public boundary).

        The checked action's fields are trusted from there on: stacked with the reference
        without revalidation (:func:`splitenv.reference.stack_with_reference`) and evaluated with the env's own state
        without re-checking either (:func:`~splitenv.model.engine.evaluate_own`).
        """
        if self._sampler is None:
            raise RuntimeError("call reset() before step()")
        if self._round >= self.rounds:
            raise RuntimeError("episode is over: call reset()")
        fields = native_to_decision(self.scenario, self.native_space, action, self.fixed)
        return self._step_fields(fields, trusted=True)

    def step_decision(self, fields: dict[str, Any]):
        """Step with decision fields in physical units (validated by the engine).

        Fields with one possible value (``self.fixed``) may be left out: the env applies them.
        """
        return self._step_fields(fields, trusted=False)

    def _step_fields(self, fields: dict[str, Any], trusted: bool):
        """Play the fields; ``trusted``: they passed the action space's check (and hold ``fixed``).

        Trusted fields come from :func:`native_to_decision`: the engine need not validate them
        again (:func:`~splitenv.model.validation.assemble`).
        """
        if not trusted:  # native_to_decision's fields start from self.fixed already
            fields = {**self.fixed, **fields}
        if self.timescale == "round":
            self._large = Decision(**{k: v for k, v in fields.items() if k in LARGE})
            return self._play_round()
        state, decision, self._large = self._plan_epoch(fields)
        return self._play_epochs([(state, decision)], trusted=trusted)

    def _plan_epoch(self, fields: dict[str, Any]) -> tuple[State, Decision, Decision]:
        """An epoch step (epoch, joint): its state, its decision and the round's large decision.

        Changes nothing: the caller sets ``_large`` and plays the epoch (the vector env plans
        K envs, evaluates them in one engine call, then plays each).
        """
        large = {k: v for k, v in fields.items() if k in LARGE}
        small = {k: v for k, v in fields.items() if k not in LARGE}
        chosen_large = self._large
        if self._epoch == 0:  # round start: the large-timescale fields take effect
            if self.timescale == "epoch":
                chosen = self.split_policy(self.scenario, self._state, Decision())
                large = {k: getattr(chosen, k) for k in LARGE if getattr(chosen, k) is not None}
            chosen_large = Decision(**large)
        return self._state, chosen_large.replace(**small), chosen_large

    def _play_round(self):
        """All epochs of a round: the inner allocator decides each epoch's small fields."""
        states = []
        for t in range(self.epochs_per_round):
            if t > 0:  # within a round the split does not move: no migration after epoch 0
                self._split = self._large.split if self._large.split is not None else self._split
            states.append(self._state if t == 0 else self._state_at(self._round, t))
        allocator = self.inner_allocator
        if allocators.batched_form(allocator) is None:
            decisions = [allocator(self.scenario, s, self._large) for s in states]
        else:  # the round's epochs in one call of the kernel the vector env runs
            large = allocators.tile_fields(self._large, len(states))
            fields = allocators.allocate_rows(
                allocator, self.scenario, StateBatch.stack(states), large
            )
            decisions = allocators.row_decisions(fields, len(states))
        return self._play_epochs(list(zip(states, decisions, strict=True)))

    def _play_epochs(self, plays: list[tuple[State, Decision]], trusted: bool = False):
        """Evaluate consecutive epochs of the current round, each with its state and decision.

        ``trusted``: the decisions were built from checked actions (:func:`assemble`).
        """
        scn = self.scenario
        cost = ref = latency = energy = 0.0
        infos = []
        for state, decision in plays:
            t = self._epoch
            self._state = state
            # the env's own state (its sampler) and decision (checked or validated): no re-check;
            # the reference row with its own previous split
            ev = evaluate_own(scn, with_reference(scn, state), stack_with_reference(scn, decision, trusted))
            first, last = t == 0, t == self.epochs_per_round - 1
            step_lat = epoch_latency(scn, ev, first, last)
            # an epoch spends 1/T of the round's energy (objectives.scoped_energy)
            step_energy = ev.energy_j / scn.schedule.epochs_per_round
            step_cost = step_lat + self.energy_weight * step_energy
            if scn.objective.kind != "latency":
                step_cost = ev.objective
            policy_cost, reference_cost = step_cost.tolist()  # the two rows, as Python floats
            cost += policy_cost
            ref += reference_cost
            latency += float(step_lat[0])
            energy += float(step_energy[0])
            feasible = bool(ev.feasible[0])
            infos.append((ev, feasible))
            self._parts.append(ev)
            self._split = ev.decision.split[0]
            self._epoch += 1
        ev, _ = infos[-1]
        feasible = all(f for _, f in infos)
        # normalized cost, capped so that one unserved device cannot dominate a return; an
        # infeasible decision pays the penalty on top, so it is never worth breaking a budget
        ratio = min(cost / ref if ref > 0 else 1.0, self.cost_cap)
        if not feasible or not math.isfinite(cost):
            ratio = min(ratio, self.cost_cap) + self.infeasible_penalty
        reward = -ratio if self.reward_mode == "normalized" else -ratio * ref
        self._last_ratio = ratio
        self._time_s += latency
        info = self._info(ev, cost, ref, latency, energy, feasible)
        terminated = False
        self._drawn = list(self._parts)
        if self._epoch >= self.epochs_per_round:
            info["round_latency_s"] = np.float64(self._close_round())
            if self.accuracy is not None:
                report = self.accuracy.round(scn, ev.decision.take(0))
                info["accuracy"] = np.float64(report.accuracy)
                info["accuracy_extras"] = as_numpy(dict(report.extras))
                terminated = bool(report.target_reached)
        truncated = self._round >= self.rounds and not terminated
        if not (terminated or truncated):
            self._state = self._state_at(self._round, self._epoch)
        info["action_mask"] = self.action_mask()
        self._last = {"evaluation": ev, "info": info}
        return self._observe(), float(reward), terminated, truncated, info

    def _close_round(self) -> float:
        """Exact latency of the round just played (engine's compose_round), then advance."""
        scn = self.scenario
        evs = self._parts
        parts = [
            record(
                EpochPart,
                chain=e.per_device["chain_s"][:1],
                iteration=e.terms["iteration_s"][:1],
                shared=e.terms["shared_iteration_s"][:1],
            )
            for e in evs
        ]
        total = round_latency(
            scn, evs[0].per_device["pre_round_s"][:1], parts, evs[-1].per_device["adapter_s"][:1]
        )
        self._parts = []
        self._prev_split = self._split
        self._round += 1
        self._epoch = 0
        return float(total[0])

    def _info(
        self, ev: Evaluation, cost: float, ref: float, latency: float, energy: float, feasible: bool
    ):
        f64 = np.float64
        return {
            "latency_s": f64(latency),
            "energy_j": f64(energy),
            "cost": f64(cost),
            "reference_cost": f64(ref),
            "feasible": np.bool_(feasible),
            # the engine's amounts and terms are float64 arrays: an entry is an np.float64
            "violations": {k: x for k, v in ev.violations.items() if (x := v[0])},
            "terms": {k: v[0] for k, v in ev.terms.items()},
            "decision": decision_info(ev.decision, enabled_fields(self.scenario)),
            "round": np.int64(self._round),
            "epoch": np.int64(self._epoch),
            "simulated_time_s": f64(self._time_s),
        }

    # --- observation, masks, rendering -------------------------------------------------------

    def _observe(self):
        return self.features.observe(
            self._state,
            split=self._split,
            round_progress=self._round / self.rounds,
            epoch_progress=self._epoch / self.epochs_per_round,
            round_start=self._epoch == 0,
            last_ratio=self._last_ratio,
            mode=self.observation_mode,
        )

    def action_mask(self) -> dict[str, NDArray[np.bool_]]:
        """Per-key masks of the native discrete actions: memory-infeasible split indices are False.

        Memory is judged at the preset's default rank; a larger rank can still overflow a
        device and is then reported in ``info["violations"]``.
        """
        masks: dict[str, NDArray[np.bool_]] = {}
        ok = getattr(self, "_split_ok", None)  # (n_split, N), at the preset's default rank
        if ok is not None:
            masks["split"] = ok.all(axis=1) if self.scenario.decision.shared_split else ok.T.copy()
        return masks

    def render(self) -> str | NDArray[np.uint8] | None:
        """``ansi``: a table of the last epoch; ``rgb_array``: the last round as a Gantt chart.

        The chart (:mod:`splitenv.render`) has one row per device and shows one iteration
        of each epoch of the last round (so far), phases coloured by tier; before the
        first step it holds the axes only. Its shape is fixed per env.
        """
        n = self.scenario.n_devices
        if self.render_mode == "rgb_array":
            return render.gantt(n, self._drawn)
        if self.render_mode != "ansi":
            return None
        info = self._last.get("info", {})
        return render.ansi(
            self._last.get("evaluation"),
            round_index=self._round,
            epoch_index=self._epoch,
            cost=float(info.get("cost", 0.0)),
            n_devices=n,
        )


def _check_keywords(more: dict[str, Any]) -> None:
    """Keywords beyond the named arguments must be config overrides (``a.b`` or ``a__b``).

    Raises:
        TypeError: like Python's for an unknown keyword (libraries such as torchrl and
            stable-baselines3 probe optional keywords and fall back on it), listing the
            accepted ones.
    """
    unknown = [k for k in more if "." not in k and "__" not in k]
    if not unknown:
        return
    params = inspect.signature(SplitLoRAEnv.__init__).parameters
    named = [p for p in params if p not in ("self", "more_overrides")]
    also = f" (and {', '.join(map(repr, unknown[1:]))})" if len(unknown) > 1 else ""
    raise TypeError(
        f"SplitLoRAEnv.__init__() got an unexpected keyword argument {unknown[0]!r}{also}; "
        f"accepted: {', '.join(named)}, or a config override written 'section.field' "
        "(**{'network.n_devices': 6}) or section__field (network__n_devices=6)"
    )


def _check_choice(name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} = {value!r}; allowed: {', '.join(allowed)}")
