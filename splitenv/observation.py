"""Observation features of the environment: per-device and global, scaled into [0, 1].

The scaling bounds come from the scenario (distance range, shadowing, fading,
noise, compute and memory ranges), so observations of one preset are comparable
across episodes. Values are clipped into [0, 1]; the table of features is in
:class:`splitenv.env.SplitLoRAEnv`'s docstring.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np
from gymnasium import spaces
from numpy.typing import NDArray

from splitenv.config import Scenario
from splitenv.model import channel
from splitenv.model.types import State

DEVICE_FEATURES = ("snr_db", "compute", "memory", "split", "data_size", "distance", "active")
GLOBAL_FEATURES = ("round_progress", "epoch_progress", "is_round_start", "last_cost_ratio")
#: fading margin in dB around the mean gain for the scaling bounds (Rayleigh: 1e-3 .. 10)
_FADING_DB = (-30.0, 10.0)
_LAST_RATIO_MAX = 5.0
#: the state arrays the observation reads
_STATE_FEATURES = (
    "channel_gain", "noise_psd_w_hz", "device_flops", "device_memory_bytes", "data_size",
    "distance_m", "active",
)  # fmt: skip


class Features:
    """Computes observations for one scenario."""

    def __init__(self, scn: Scenario) -> None:
        self.scn = scn
        net, comp, mem = scn.network, scn.compute, scn.memory
        lo, hi = net.distance_m
        far = hi + net.fed_server_offset_m
        near = max(1.0, lo - net.fed_server_offset_m)
        pl_near = channel.path_loss_db(near, net.path_loss_db_at_1km, net.path_loss_exponent_db)
        pl_far = channel.path_loss_db(far, net.path_loss_db_at_1km, net.path_loss_exponent_db)
        antennas = net.device_antenna_gain_dbi + net.edge_antenna_gain_dbi
        shadow = 3.0 * net.shadowing_db
        fade = _FADING_DB if net.fading == "rayleigh" else (0.0, 0.0)
        noise = net.noise_states_dbm_hz or (net.noise_psd_dbm_hz,)
        # gain / N0 in dB, N0 in dBm/Hz converted to dBW/Hz
        self.snr_lo = float(antennas - pl_far - shadow + fade[0] - (max(noise) - 30.0))
        self.snr_hi = float(antennas - pl_near + shadow + fade[1] - (min(noise) - 30.0))
        if scn.devices.enabled:  # the classes replace the ranges (DeviceClassesSpec)
            self.max_flops = max(scn.devices.flops)
            self.max_memory = max(scn.devices.memory_bytes)
        else:
            self.max_flops = max(comp.device_flops[1], *(comp.device_flops_levels or (0.0,)))
            self.max_memory = mem.device_memory_bytes[1]
        self.max_data = scn.workload.samples_per_device[1]
        self.max_distance = far

    def space(self, mode: str) -> spaces.Space:
        """The observation space for ``mode`` ("flat" or "dict")."""
        n = self.scn.n_devices
        f, g = len(DEVICE_FEATURES), len(GLOBAL_FEATURES)
        if mode == "dict":
            return spaces.Dict(
                {
                    "devices": spaces.Box(0.0, 1.0, (n, f), np.float32),
                    "globals": spaces.Box(0.0, 1.0, (g,), np.float32),
                }
            )
        return spaces.Box(0.0, 1.0, (n * f + g,), np.float32)

    def observe(
        self,
        state: State,
        *,
        split: NDArray[np.int64] | None,
        round_progress: float,
        epoch_progress: float,
        round_start: bool,
        last_ratio: float,
        mode: str,
    ) -> NDArray[np.float32] | dict[str, NDArray[np.float32]]:
        """The observation of ``state`` with the env's counters (:meth:`observe_batch`, one row).

        The same elementwise operations on the (N,) arrays, in the same order.
        """
        n = self.scn.n_devices
        current = np.full(n, self.scn.decision.default_split) if split is None else split
        with np.errstate(divide="ignore"):
            snr_db = 10.0 * np.log10(state.channel_gain / state.noise_psd_w_hz)
        # feature-major (F, N) as float64 (the split's and presence's exact values), then each
        # feature minus its offset (0 but the SNR's) over its scale: observe_batch's quotients
        features = np.array(
            (snr_db, state.device_flops, state.device_memory_bytes, current, state.data_size,
             state.distance_m, state.active),
            dtype=np.float64,
        )  # fmt: skip
        offset, scale = self._affine
        features -= offset
        features /= scale
        glob = np.array(
            [round_progress, epoch_progress, float(round_start), last_ratio / _LAST_RATIO_MAX]
        )
        features.clip(0.0, 1.0, out=features)  # np.clip's own method, without its dispatch
        np.copyto(features, 0.0, where=np.isnan(features))
        glob.clip(0.0, 1.0, out=glob)
        devices = features.T  # (N, F), device-major
        if mode == "dict":
            return {
                "devices": devices.astype(np.float32, order="C"),
                "globals": glob.astype(np.float32),
            }
        out = np.empty(n * len(DEVICE_FEATURES) + len(GLOBAL_FEATURES), dtype=np.float32)
        out[: n * len(DEVICE_FEATURES)].reshape(devices.shape)[...] = devices
        out[n * len(DEVICE_FEATURES) :] = glob
        return out

    @cached_property
    def _affine(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Per device feature, (F, 1): the offset and scale :meth:`observe` maps into [0, 1] by."""
        offset = np.zeros((len(DEVICE_FEATURES), 1))
        offset[0] = self.snr_lo
        scale = np.array(
            [self.snr_hi - self.snr_lo, self.max_flops, self.max_memory,
             self.scn.model.n_layers, self.max_data, self.max_distance, 1.0],
            dtype=np.float64,
        )[:, None]  # fmt: skip
        return offset, scale

    def observe_batch(
        self,
        state: dict[str, NDArray[np.float64]],
        *,
        split: NDArray[np.int64],
        round_progress: NDArray[np.float64],
        epoch_progress: NDArray[np.float64],
        round_start: NDArray[np.bool_],
        last_ratio: NDArray[np.float64],
        mode: str,
    ) -> NDArray[np.float32] | dict[str, NDArray[np.float32]]:
        """Observations of K states at once: ``state`` maps the state arrays used to (K, N).

        Row k equals :meth:`observe` of row k (elementwise arithmetic, the same operations).
        """
        k, n = split.shape
        with np.errstate(divide="ignore"):
            snr_db = 10.0 * np.log10(state["channel_gain"] / state["noise_psd_w_hz"])
        devices = np.empty((k, n, len(DEVICE_FEATURES)))
        devices[:, :, 0] = (snr_db - self.snr_lo) / (self.snr_hi - self.snr_lo)
        devices[:, :, 1] = state["device_flops"] / self.max_flops
        devices[:, :, 2] = state["device_memory_bytes"] / self.max_memory
        devices[:, :, 3] = split / self.scn.model.n_layers
        devices[:, :, 4] = state["data_size"] / self.max_data
        devices[:, :, 5] = state["distance_m"] / self.max_distance
        devices[:, :, 6] = state["active"]
        glob = np.empty((k, len(GLOBAL_FEATURES)))
        glob[:, 0] = round_progress
        glob[:, 1] = epoch_progress
        glob[:, 2] = round_start
        glob[:, 3] = np.asarray(last_ratio, dtype=np.float64) / _LAST_RATIO_MAX
        # into [0, 1]; NaN (a 0 / 0 SNR) as 0: the values of nan_to_num, then clip
        devices.clip(0.0, 1.0, out=devices)  # np.clip's own method, without its dispatch
        np.copyto(devices, 0.0, where=np.isnan(devices))
        glob.clip(0.0, 1.0, out=glob)
        if mode == "dict":
            return {"devices": devices.astype(np.float32), "globals": glob.astype(np.float32)}
        out = np.empty((k, n * len(DEVICE_FEATURES) + len(GLOBAL_FEATURES)), dtype=np.float32)
        out[:, : n * len(DEVICE_FEATURES)] = devices.reshape(k, -1)
        out[:, n * len(DEVICE_FEATURES) :] = glob
        return out
