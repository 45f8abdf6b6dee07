"""Scenario configuration: typed, frozen, validated data loaded from YAML.

A scenario is everything the cost engine needs that is not the per-epoch state
(channel gains, device compute) or the decision: the transformer, the training
schedule, the radio and compute resources, the memory and energy models, the
objective and how states are sampled. The five papers are five YAML presets of
this one record (``configs/*.yaml``); see :func:`splitenv.scenarios.load_scenario`.

Units are in the field names (``_hz``, ``_w``, ``_flops``, ``_bytes``, ``_s``);
powers and noise are given in dBm / dBm/Hz where the papers do and converted by
properties, never stored twice.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass

from splitenv._fields import Record, spec
from splitenv.errors import ConfigError

LORA_MATRICES = ("q", "k", "v", "o", "ffn_in", "ffn_gate", "ffn_out")


@dataclass(frozen=True)
class TransformerSpec(Record):
    """A transformer of identical blocks; costs follow SCCT (1)-(2) and SFT Sec. V-C/D."""

    name: str = spec("transformer", doc="model name, for reports")
    n_layers: int = spec(12, ge=1, doc="number of transformer blocks L")
    hidden_dim: int = spec(768, ge=1, doc="hidden size d")
    n_heads: int = spec(12, ge=1, doc="attention heads A")
    n_kv_heads: int = spec(0, ge=0, doc="key/value heads for grouped-query attention; 0 = n_heads")
    ffn_dim: int = spec(3072, ge=1, doc="feed-forward width (4 d in SCCT/SFT)")
    ffn_matrices: int = spec(2, choices=(2, 3), doc="2 = up/down, 3 = gated (SwiGLU)")
    norm_params_per_dim: int = spec(
        4, ge=0, doc="norm parameters per layer in units of d (4: two LayerNorms, SCCT App. A)"
    )
    count_biases: bool = spec(
        False, doc="count linear-layer biases in the parameters (SCCT (1) does not)"
    )
    seq_len: int = spec(128, ge=1, doc="tokens or patches per sample (n_tok, N in SFT)")
    vocab_size: int = spec(
        0, ge=0, doc="embedding rows (token vocabulary, or P^2 C for a patch embedding)"
    )
    max_positions: int = spec(0, ge=0, doc="positional-embedding rows")
    embedding_extra_rows: int = spec(0, ge=0, doc="further embedding rows (class token etc.)")
    head_outputs: int = spec(
        0, ge=0, doc="outputs of the head (classes K, or vocabulary for an LM head)"
    )
    flops_per_mac: float = spec(
        2.0,
        gt=0,
        doc="FLOPs per multiply-add in the blocks' matrices and attention (SCCT App. A: 2)",
    )
    lora_flops_per_mac: float = spec(
        2.0, gt=0, doc="FLOPs per multiply-add of LoRA (FedsLLM Table III: 2)"
    )
    head_flops_per_mac: float = spec(
        2.0, gt=0, doc="FLOPs per multiply-add of the head (SFT V-D: 2)"
    )
    norm_flops_per_dim: float = spec(
        0.0, ge=0, doc="norm FLOPs per token per block in units of d (FedsLLM Table III: 2 LNs x 2)"
    )
    final_norm_flops_per_dim: float = spec(
        0.0,
        ge=0,
        doc="FLOPs per token of the final norm before the head, in units of d (FedsLLM: 2)",
    )

    @classmethod
    def from_name(cls, name: str) -> TransformerSpec:
        """A model of the catalogue ``configs/_models.yaml`` (e.g. ``"gpt2-medium"``)."""
        from splitenv.scenarios import model_catalogue

        catalogue = model_catalogue()
        if name not in catalogue:
            raise ConfigError(
                f"unknown model {name!r}; known models: {', '.join(sorted(catalogue))}"
            )
        return cls.from_dict(catalogue[name], path="model")

    @property
    def kv_heads(self) -> int:
        """Key/value heads (equal to ``n_heads`` without grouped-query attention)."""
        return self.n_kv_heads or self.n_heads

    @property
    def kv_dim(self) -> int:
        """Width of the key and value projections."""
        return self.hidden_dim * self.kv_heads // self.n_heads

    def matrix_shape(self, name: str) -> tuple[int, int]:
        """(inputs, outputs) of one weight matrix of a block."""
        d, f = self.hidden_dim, self.ffn_dim
        shapes = {
            "q": (d, d),
            "k": (d, self.kv_dim),
            "v": (d, self.kv_dim),
            "o": (d, d),
            "ffn_in": (d, f),
            "ffn_gate": (d, f),
            "ffn_out": (f, d),
        }
        if name == "ffn_gate" and self.ffn_matrices == 2:
            raise ConfigError("lora_targets contains 'ffn_gate' but model.ffn_matrices = 2")
        return shapes[name]

    @property
    def block_matrices(self) -> tuple[str, ...]:
        """The weight matrices of one block."""
        ffn = ("ffn_in", "ffn_gate", "ffn_out") if self.ffn_matrices == 3 else ("ffn_in", "ffn_out")
        return ("q", "k", "v", "o", *ffn)

    def validate(self) -> None:
        if self.hidden_dim % self.n_heads:
            raise ConfigError(
                f"model.hidden_dim = {self.hidden_dim} must be a multiple of n_heads = {self.n_heads}"
            )
        if self.n_kv_heads and self.n_heads % self.n_kv_heads:
            raise ConfigError(
                f"model.n_kv_heads = {self.n_kv_heads} must divide n_heads = {self.n_heads}"
            )


@dataclass(frozen=True)
class WorkloadSpec(Record):
    """What is trained and what crosses the wire (SCCT 12-17, SFT Sec. V-C/E, FedsLLM 8-15)."""

    batch_size: int = spec(16, ge=1, doc="samples per iteration b")
    backward_ratio: float = spec(
        2.0, ge=0, doc="backward FLOPs over forward FLOPs (SCCT epsilon; 2 in SFT and FedsLLM)"
    )
    lora_targets: tuple[str, ...] = spec((), choices=LORA_MATRICES, doc="matrices carrying LoRA")
    rank_choices: tuple[int, ...] = spec(
        (0,), ge=0, doc="LoRA ranks a decision may pick; 0 = no LoRA"
    )
    count_lora_flops: bool = spec(True, doc="add the LoRA FLOPs (SFT's Phi omits them)")
    trainable: str = spec(
        "all", choices=("all", "lora"), doc="what gets gradients and optimizer state in memory"
    )
    embedding_on_device: bool = spec(
        False, doc="count the embedding in device memory / distribution"
    )
    head_on_server: bool = spec(False, doc="count the head's FLOPs on the last tier (SFT 2BNDK)")
    param_bits: int = spec(32, ge=1, doc="bits per stored / transmitted parameter (SCCT xi)")
    activation_bits: int = spec(32, ge=1, doc="bits per uncompressed activation or gradient value")
    label_len: int = spec(0, ge=0, doc="label vectors per sample d_l (SCCT; sized d_l x d)")
    samples_per_device: tuple[float, float] = spec(
        (1000.0, 1000.0), gt=0, doc="local dataset size D_n range (FedAvg weights)"
    )
    uplink_raw_and_labels: bool = spec(
        False, doc="device uplink also carries raw data and labels (SCCT prose; (15) does not)"
    )
    gradient_downlink: bool = spec(True, doc="the cut-layer gradient returns (FedsLLM neglects it)")


@dataclass(frozen=True)
class ScheduleSpec(Record):
    """How per-device work combines into iterations, rounds and the objective."""

    sync: str = spec(
        "parallel",
        choices=("parallel", "phased", "sequential", "independent"),
        doc=(
            "parallel: iteration = max_n chain + shared (SCCT 19); phased: max(fwd+up) + sum server"
            " + max(bwd) (FedsLLM 16); sequential: each edge serves its devices in turn (SplitLLM);"
            " independent: each device's round runs on its own, round = max_n (SFT 27, CARD)"
        ),
    )
    server_mode: str = spec(
        "share",
        choices=("share", "dedicated", "sequential"),
        doc="share: alpha_n C_e (SCCT 16); dedicated: full server per device (SFT 22, CARD);"
        " sequential: full server, devices one after another (FedsLLM 11)",
    )
    iterations_per_epoch: int = spec(
        1, ge=1, doc="J (SCCT), local iterations I (FedsLLM), T (CARD)"
    )
    epochs_per_round: int = spec(1, ge=1, le=1_000_000, doc="T epochs per round (SCCT)")
    rounds: int = spec(
        1, ge=1, le=1_000_000, doc="R rounds (used when no rounds-to-accuracy model is set)"
    )
    objective_scope: str = spec(
        "round", choices=("iteration", "epoch", "round", "total"), doc="what latency_s measures"
    )
    migration: bool = spec(False, doc="split changes move layers over the radio (SCCT 18)")
    model_distribution: bool = spec(
        False, doc="first round broadcasts the device part, later rounds its LoRA (SFT 19)"
    )
    adapter_exchange: str = spec(
        "none",
        choices=("none", "upload", "upload_download", "federated"),
        doc="end-of-round LoRA traffic: SFT 25 (upload), CARD 9 (up+down), FedsLLM 15 (federated pool)",
    )
    cloud_link: str = spec(
        "none",
        choices=("none", "scct", "activations"),
        doc="edge-cloud traffic per iteration: SCCT 17 (outputs, raw data, labels up; losses down)"
        " or activations + gradients (three tiers)",
    )


@dataclass(frozen=True)
class NetworkSpec(Record):
    """Radio resources and the channel model (SPEC Sec. 3)."""

    n_devices: int = spec(5, ge=1, le=100_000, doc="devices N (capped: see splitenv.limits)")
    bandwidth_hz: float = spec(20e6, gt=0, unit="Hz", doc="total device-edge bandwidth B")
    allocation: str = spec(
        "subchannels",
        choices=("subchannels", "continuous", "dedicated"),
        doc="subchannels: integer counts of B/K (SCCT 13, FedsLLM 9); continuous: b_n summing to B"
        " (SFT 36g); dedicated: every device has the whole band B (CARD, devices decoupled)",
    )
    n_subchannels: int = spec(
        1, ge=1, le=1_000_000, doc="subchannels K of the device-edge pool (allocation: subchannels)"
    )
    rate_model: str = spec(
        "shannon", choices=("shannon", "fixed_snr", "cqi"), doc="SCCT 13 / FedsLLM 9, SFT, CARD"
    )
    fixed_snr_db: float = spec(17.0, unit="dB", doc="SNR of the fixed_snr model (SFT)")
    device_power_dbm: float = spec(23.0, le=60, unit="dBm", doc="max device transmit power P_n")
    total_power_dbm: float | None = spec(
        None, le=80, unit="dBm", doc="total uplink power budget (FedsLLM)"
    )
    edge_power_dbm: float = spec(43.0, le=80, unit="dBm", doc="edge transmit power P_e")
    downlink_power: str = spec(
        "per_device",
        choices=("per_device", "shared"),
        doc="per_device: each device's downlink uses P_e (SCCT 14 as printed); shared: P_e beta_n/K",
    )
    noise_psd_dbm_hz: float = spec(-174.0, unit="dBm/Hz", doc="noise PSD N_0")
    device_antenna_gain_dbi: float = spec(0.0, unit="dBi")
    edge_antenna_gain_dbi: float = spec(0.0, unit="dBi")
    path_loss_db_at_1km: float = spec(128.1, doc="path loss PL(d) = a + b log10(d_km) (3GPP macro)")
    path_loss_exponent_db: float = spec(37.6, ge=0, doc="b in the path-loss law")
    shadowing_db: float = spec(0.0, ge=0, unit="dB", doc="log-normal shadowing std")
    fading: str = spec("rayleigh", choices=("rayleigh", "none"), doc="block fading per epoch")
    fading_correlation: float = spec(
        0.0,
        ge=0,
        lt=1,
        doc="Gauss-Markov correlation of the fading from epoch to epoch (0 = i.i.d.)",
    )
    mobility_step_m: float = spec(
        0.0, ge=0, unit="m", doc="std of each device's random-walk step per epoch (0 = static)"
    )
    churn_leave_prob: float = spec(
        0.0, ge=0, le=1, doc="probability that an active device leaves at an epoch (SCCT III-A)"
    )
    churn_join_prob: float = spec(
        1.0, ge=0, le=1, doc="probability that an inactive device (re)joins at an epoch"
    )
    placement: str = spec(
        "ring",
        choices=("ring", "disk"),
        doc="ring: distance uniform in distance_m; disk: positions uniform in a disk of radius"
        " distance_m[1] around the federated server (FedsLLM), at least distance_m[0] from it",
    )
    distance_m: tuple[float, float] = spec(
        (50.0, 200.0), gt=0, unit="m", doc="device distance range"
    )
    n_edge_servers: int = spec(
        1, ge=1, doc="edge servers; device n is served by edge n mod M (SplitLLM)"
    )
    noise_states_dbm_hz: tuple[float, ...] = spec(
        (), unit="dBm/Hz", doc="per-device noise PSD drawn from these (CARD good/normal/poor)"
    )
    cqi_table: str = spec("nr_table1", choices=("nr_table1",), doc="CQI -> spectral efficiency")
    fed_bandwidth_hz: float = spec(0.0, ge=0, unit="Hz", doc="federated-server pool (FedsLLM 14)")
    fed_n_subchannels: int = spec(
        0, ge=0, le=1_000_000, doc="subchannels of the federated pool; 0 = no such pool"
    )
    fed_server_offset_m: float = spec(
        0.0,
        ge=0,
        unit="m",
        doc="main server's distance from the disk centre, where the federated server is",
    )
    cloud_link_bps: float = spec(1e9, gt=0, unit="bit/s", doc="edge-cloud rate R_ce")

    @property
    def device_power_w(self) -> float:
        """Max device transmit power in W."""
        return 10 ** (self.device_power_dbm / 10) / 1e3

    @property
    def total_power_w(self) -> float:
        """Total uplink power budget in W (infinite when unset)."""
        return (
            float("inf")
            if self.total_power_dbm is None
            else 10 ** (self.total_power_dbm / 10) / 1e3
        )

    @property
    def edge_power_w(self) -> float:
        """Edge transmit power in W."""
        return 10 ** (self.edge_power_dbm / 10) / 1e3

    @property
    def noise_psd_w_hz(self) -> float:
        """Noise PSD in W/Hz."""
        return 10 ** (self.noise_psd_dbm_hz / 10) / 1e3

    @property
    def subchannel_hz(self) -> float:
        """Width of one subchannel B_s = B / K (SCCT Sec. III)."""
        return self.bandwidth_hz / self.n_subchannels

    @property
    def fed_subchannel_hz(self) -> float:
        """Width of one federated-pool subchannel."""
        return self.fed_bandwidth_hz / self.fed_n_subchannels if self.fed_n_subchannels else 0.0

    def validate(self) -> None:
        if self.distance_m[0] > self.distance_m[1]:
            raise ConfigError(
                f"network.distance_m = {self.distance_m} must be (low, high) with low <= high"
            )
        if self.fed_n_subchannels and not self.fed_bandwidth_hz:
            raise ConfigError("network.fed_n_subchannels > 0 needs network.fed_bandwidth_hz > 0")


@dataclass(frozen=True)
class DeviceClassesSpec(Record):
    """Heterogeneous device classes: fixed compute, memory and compute power per class.

    Device n is of class ``n mod K`` (K classes, as ``compute.device_flops_levels`` assigns
    CARD's Table I levels). When set, the classes replace the device FLOP/s range and levels,
    the device memory range and ``compute.device_power_compute_w``. Our general option (no
    paper has classes); the flagship preset cites each class's figures.
    """

    names: tuple[str, ...] = spec((), doc="class names; empty = no classes (the ranges apply)")
    flops: tuple[float, ...] = spec((), gt=0, unit="FLOP/s", doc="compute of each class")
    memory_bytes: tuple[float, ...] = spec(
        (), gt=0, unit="B", doc="memory available for training on each class"
    )
    compute_power_w: tuple[float, ...] = spec(
        (), ge=0, unit="W", doc="power drawn while computing, per class (device energy)"
    )

    @property
    def enabled(self) -> bool:
        """Whether classes are given."""
        return bool(self.names)

    def of_devices(self, n_devices: int) -> tuple[int, ...]:
        """The class index of each of ``n_devices`` devices (n mod K)."""
        return tuple(n % len(self.names) for n in range(n_devices))

    def validate(self) -> None:
        k = len(self.names)
        for name in ("flops", "memory_bytes", "compute_power_w"):
            if len(getattr(self, name)) != k:
                raise ConfigError(
                    f"devices.{name} has {len(getattr(self, name))} entries; allowed: one per "
                    f"class in devices.names ({k})"
                )


@dataclass(frozen=True)
class ComputeSpec(Record):
    """Device, edge-server and cloud compute (SPEC Sec. 4)."""

    device_flops: tuple[float, float] = spec(
        (1e12, 1e12), gt=0, unit="FLOP/s", doc="device FLOP/s range, redrawn per epoch"
    )
    device_flops_levels: tuple[float, ...] = spec(
        (), gt=0, unit="FLOP/s", doc="fixed per-device FLOP/s (CARD Table I); overrides the range"
    )
    edge_flops: float = spec(100e12, gt=0, unit="FLOP/s", doc="edge server C_e at full frequency")
    server_freq_hz: tuple[float, float] = spec(
        (0.0, 0.0),
        ge=0,
        unit="Hz",
        doc="server GPU frequency range [F_min, F_max] (CARD); 0 = fixed",
    )
    server_flops_per_cycle: float = spec(
        0.0, ge=0, doc="server FLOPs per cycle over all cores (CARD delta sigma); 0 = fixed C_e"
    )
    server_power_coeff: float = spec(0.0, ge=0, unit="W/Hz^3", doc="xi in P = xi f^3 (CARD 10)")
    cloud_flops: float = spec(0.0, ge=0, unit="FLOP/s", doc="cloud compute; 0 = neglected (SCCT)")
    device_power_compute_w: float = spec(
        0.0, ge=0, unit="W", doc="device compute power (extension)"
    )
    device_availability: tuple[float, float] = spec(
        (1.0, 1.0),
        gt=0,
        le=1,
        doc="range of the fraction of each device's FLOP/s left to training (background load,"
        " thermal throttling); (1, 1) = all of it, always",
    )
    availability_step: float = spec(
        0.0,
        ge=0,
        doc="std of the per-epoch step of each device's availability, a random walk reflected"
        " at the ends of device_availability (0 = constant over an episode)",
    )
    availability_start: str = spec(
        "uniform",
        choices=("uniform", "high"),
        doc="each device's availability at the episode's start: uniform in device_availability"
        " (the walk's stationary law) or the range's top (devices start idle and cool)",
    )

    @property
    def varies_availability(self) -> bool:
        """Whether each device's available compute moves over an episode (a Markov process)."""
        return self.device_availability != (1.0, 1.0)

    @property
    def has_frequency_control(self) -> bool:
        """Whether the server frequency is a decision (CARD)."""
        return self.server_freq_hz[1] > 0 and self.server_flops_per_cycle > 0

    def validate(self) -> None:
        lo, hi = self.device_flops
        if lo > hi:
            raise ConfigError(f"compute.device_flops = {self.device_flops} must be (low, high)")
        a_lo, a_hi = self.device_availability
        if a_lo > a_hi:
            raise ConfigError(
                f"compute.device_availability = {self.device_availability} must be (low, high)"
                " with low <= high"
            )
        f_lo, f_hi = self.server_freq_hz
        if f_lo > f_hi:
            raise ConfigError(f"compute.server_freq_hz = {self.server_freq_hz} must be (low, high)")


@dataclass(frozen=True)
class MemorySpec(Record):
    """Memory model per tier: parameters only (SCCT 21-6) or training memory (SFT 29-34)."""

    model: str = spec("params", choices=("params", "training"), doc="SCCT 21-6 or SFT 33-34")
    bytes_per_value: float = spec(4.0, gt=0, doc="alpha: bytes per parameter value (4 = FP32)")
    optimizer_bytes: float = spec(
        4.0, ge=0, doc="alpha_hat: optimizer bytes per parameter (SGD alpha)"
    )
    activation_coeff_bnd: float = spec(34.0, ge=0, doc="alpha_1 in SFT 32 (Megatron: 34)")
    activation_coeff_bn2a: float = spec(5.0, ge=0, doc="alpha_2 in SFT 32 (Megatron: 5)")
    device_fixed_d2: float = spec(
        16.0, ge=0, doc="device constant in units of d^2 bytes (SFT 34: 16 D^2)"
    )
    device_fixed_bnd: float = spec(
        1.0, ge=0, doc="device constant in units of B N D bytes (SFT 34)"
    )
    head_bnd: float = spec(0.0, ge=0, doc="head memory in units of B N D bytes (SFT V-B: 4 B N D)")
    device_memory_bytes: tuple[float, float] = spec(
        (8e9, 8e9), gt=0, unit="B", doc="device memory range M_n"
    )
    edge_memory_bytes: float = spec(
        float("inf"), gt=0, unit="B", doc="edge memory M_e (.inf = unlimited)", allow_inf=True
    )

    def validate(self) -> None:
        if self.device_memory_bytes[0] > self.device_memory_bytes[1]:
            raise ConfigError(
                f"memory.device_memory_bytes = {self.device_memory_bytes} must be (low, high)"
            )


@dataclass(frozen=True)
class CompressionSpec(Record):
    """Activation compression (SFT Sec. IV-C); see :mod:`splitenv.model.compression`."""

    enabled: bool = spec(False, doc="whether keep_ratio / quant_bits are decisions")
    keep_ratio_range: tuple[float, float] = spec(
        (0.05, 1.0), gt=0, le=1, doc="rho bounds (SFT 36d)"
    )
    quant_bits_range: tuple[int, int] = spec((2, 8), ge=0, le=32, doc="q bounds (SFT 36e)")
    lossless: bool = spec(True, doc="Golomb-Rice positions + entropy-coded values")
    value_coding_gain: float = spec(1.0, gt=0, le=1, doc="entropy-coder factor on the value bits")
    fixed_ratio: float = spec(
        1.0,
        gt=0,
        le=1,
        doc="size fraction of activations and gradients when compression is not a"
        " decision (CARD (9) phi)",
    )


@dataclass(frozen=True)
class ObjectiveSpec(Record):
    """What a solver minimizes and the env rewards."""

    kind: str = spec("latency", choices=("latency", "card_cost"), doc="latency or CARD's U (12)")
    delay_weight: float = spec(
        1.0, ge=0, le=1, doc="w in CARD (12): weight of the normalized delay"
    )
    device_energy: bool = spec(
        False, doc="add device compute and transmit energy (our extension; off in the CARD preset)"
    )
    energy_weight: float = spec(
        0.0,
        ge=0,
        unit="s/J",
        doc="lambda: kind latency minimizes latency + lambda x energy, both at"
        " schedule.objective_scope (ours; 0 = latency only)",
    )
    energy_budget_j: float = spec(
        float("inf"),
        gt=0,
        unit="J",
        allow_inf=True,
        doc="energy at schedule.objective_scope may not exceed this (energy-constrained"
        " variant, ours; .inf = no budget)",
    )


@dataclass(frozen=True)
class AccuracySpec(Record):
    """Accuracy surrogates: SFT's cubic A(rho, q) (35) and FedsLLM's rounds-to-accuracy E(r)."""

    cubic_coeffs: tuple[float, ...] = spec(
        (), doc="P_1..P_10 of SFT (35); empty = no A(rho, q) (no constraint, surrogate ceiling 1)"
    )
    threshold: float = spec(
        0.0,
        ge=0,
        le=1,
        doc="A_th in SFT (36b); the constraint holds only with coefficients and A_th > 0",
    )
    rounds_by_rank: tuple[tuple[int, int], ...] = spec(
        (), doc="(rank, global rounds to target) pairs for E(r) (FedsLLM 17)"
    )

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "rounds_by_rank", tuple(tuple(int(x) for x in p) for p in self.rounds_by_rank)
        )
        super().__post_init__()

    @property
    def constrained(self) -> bool:
        """Whether SFT's accuracy constraint A(rho, q) >= A_th (37b) is imposed."""
        return bool(self.cubic_coeffs) and self.threshold > 0

    def validate(self) -> None:
        if self.cubic_coeffs and len(self.cubic_coeffs) != 10:
            raise ConfigError(
                f"accuracy.cubic_coeffs has {len(self.cubic_coeffs)} entries; SFT (35) needs 10"
            )
        for pair in self.rounds_by_rank:
            if len(pair) != 2 or pair[1] < 1:
                raise ConfigError(
                    f"accuracy.rounds_by_rank entry {pair} must be (rank, rounds >= 1)"
                )


@dataclass(frozen=True)
class DecisionSpec(Record):
    """Which decisions exist, their bounds and the preset's default decision."""

    split_range: tuple[int, int] = spec((1, 11), ge=0, doc="allowed device layer counts [lo, hi]")
    shared_split: bool = spec(False, doc="one cut for all devices (SFT l, 37f)")
    default_split: int = spec(1, ge=0, doc="split of the default decision")
    three_tier: bool = spec(False, doc="second cut between edge and cloud (SplitLLM)")
    default_edge_split: int = spec(
        0, ge=0, doc="last edge layer of the default decision (three tiers)"
    )
    compute_share: bool = spec(False, doc="edge compute share alpha_n is a decision (SCCT)")
    power_control: bool = spec(False, doc="transmit power is a decision (FedsLLM)")
    default_rank: int = spec(0, ge=0, doc="LoRA rank of the default decision")
    default_keep_ratio: float = spec(1.0, gt=0, le=1, doc="rho of the default decision")
    default_quant_bits: int = spec(0, ge=0, doc="q of the default decision (0 = unquantized)")


@dataclass(frozen=True)
class Scenario(Record):
    """One complete scenario: a paper preset, or any variation of one."""

    name: str = spec("custom", doc="scenario name")
    description: str = spec("", doc="one line for listings")
    version: int = spec(0, ge=0, doc="bumped whenever a number changes (env id suffix)")
    id_name: str = spec("", doc="the env id is splitenv/{id_name}-v{version} (default: name)")
    model: TransformerSpec = spec(TransformerSpec())
    workload: WorkloadSpec = spec(WorkloadSpec())
    schedule: ScheduleSpec = spec(ScheduleSpec())
    network: NetworkSpec = spec(NetworkSpec())
    compute: ComputeSpec = spec(ComputeSpec())
    memory: MemorySpec = spec(MemorySpec())
    compression: CompressionSpec = spec(CompressionSpec())
    objective: ObjectiveSpec = spec(ObjectiveSpec())
    accuracy: AccuracySpec = spec(AccuracySpec())
    decision: DecisionSpec = spec(DecisionSpec())
    devices: DeviceClassesSpec = spec(DeviceClassesSpec())

    def sha256(self) -> str:
        """SHA-256 of the configuration (its ``to_dict`` as sorted JSON): the config's identity.

        The env's ``instance()`` and the benchmark CSV's ``config_sha256`` are this hash.
        """
        text = json.dumps(self.to_dict(), sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    @property
    def n_devices(self) -> int:
        """Shortcut for ``network.n_devices``."""
        return self.network.n_devices

    def validate(self) -> None:
        L = self.model.n_layers
        lo, hi = self.decision.split_range
        if not 0 <= lo <= hi <= L:
            raise ConfigError(
                f"decision.split_range = {self.decision.split_range} must satisfy 0 <= lo <= hi <= "
                f"model.n_layers = {L}"
            )
        if not lo <= self.decision.default_split <= hi:
            raise ConfigError(
                f"decision.default_split = {self.decision.default_split} is outside split_range {lo}..{hi}"
            )
        if self.decision.three_tier and not (
            self.decision.default_split <= self.decision.default_edge_split <= L
        ):
            raise ConfigError(
                f"decision.default_edge_split = {self.decision.default_edge_split} must be in "
                f"default_split..n_layers = {self.decision.default_split}..{L}"
            )
        ranks = self.workload.rank_choices
        if self.decision.default_rank not in ranks:
            raise ConfigError(
                f"decision.default_rank = {self.decision.default_rank} is not in workload.rank_choices {ranks}"
            )
        if any(r > 0 for r in ranks) and not self.workload.lora_targets:
            raise ConfigError(
                "workload.rank_choices has ranks > 0 but workload.lora_targets is empty"
            )
        for name in self.workload.lora_targets:
            self.model.matrix_shape(name)
        if self.schedule.adapter_exchange == "federated" and not self.network.fed_n_subchannels:
            raise ConfigError(
                "schedule.adapter_exchange = 'federated' needs network.fed_n_subchannels > 0"
            )
        if self.devices.enabled and self.compute.device_flops_levels:
            raise ConfigError(
                "devices.names and compute.device_flops_levels both set; allowed: one of them"
            )
        if self.objective.kind != "latency" and self.objective.energy_weight > 0:
            raise ConfigError(
                f"objective.energy_weight = {self.objective.energy_weight} applies to"
                f" objective.kind = 'latency' only, not {self.objective.kind!r}"
            )
        if self.objective.kind == "card_cost" and not self.compute.has_frequency_control:
            raise ConfigError(
                "objective.kind = 'card_cost' needs compute.server_freq_hz and server_flops_per_cycle"
            )
