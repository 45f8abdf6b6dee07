"""Link rates of the device-edge radio (SPEC Sec. 3): one formula, three spectral efficiencies.

Every paper's rate is ``R = W * se(snr)`` over the bandwidth W a device holds:

* ``shannon`` (SCCT (13)-(14), FedsLLM (9)/(14)): the device's total power P is
  spread evenly over its band, ``snr = G P / (N0 W)``, ``se = log2(1 + snr)``.
  With W = beta B_s this is SCCT (13) exactly; with a PSD p = P / W it is
  FedsLLM (9) for a device whose subchannels share one gain (flat fading per
  device, the paper's "average channel gain"), where uniform spreading is
  optimal (the rate is concave in the PSD).
* ``fixed_snr`` (SFT Sec. V-A): ``se = log2(1 + SNR)`` with a given SNR,
  independent of the bandwidth.
* ``cqi`` (CARD Sec. V-A): ``se`` is the spectral efficiency of the highest
  5G NR CQI (TS 38.214 Table 5.2.2.1-2) whose efficiency does not exceed
  the Shannon bound ``log2(1 + snr)`` (the mapping rule is ours; CARD
  names the table only). Unlike the other two, this rate is not monotone in W:
  spreading the same power over a few % more Hz can push the SNR below a CQI
  threshold and lower the rate (CARD has no bandwidth decision, so its cuts and
  frequencies are unaffected).

A device with W = 0 has rate 0 (latency becomes infinite if it must send).
All functions broadcast over arrays.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

#: TS 38.214 V17.3.0 Table 5.2.2.1-2 (CQI Table 1, up to 64QAM): spectral efficiency of
#: CQI 0..15 in bit/s/Hz; CQI 0 is "out of range".
NR_CQI_TABLE1 = np.array(
    [0.0, 0.1523, 0.2344, 0.3770, 0.6016, 0.8770, 1.1758, 1.4766, 1.9141, 2.4063,
     2.7305, 3.3223, 3.9023, 4.5234, 5.1152, 5.5547]
)  # fmt: skip


def db_to_linear(db: ArrayLike) -> NDArray[np.float64]:
    """Convert dB to a linear power ratio."""
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 10.0)


def dbm_to_watt(dbm: ArrayLike) -> NDArray[np.float64]:
    """Convert dBm to W."""
    return db_to_linear(dbm) / 1e3


def path_loss_db(distance_m: ArrayLike, at_1km_db: float, slope_db: float) -> NDArray[np.float64]:
    """Log-distance path loss ``PL = a + b log10(d / 1 km)`` (3GPP macro: 128.1 + 37.6 log10 d_km)."""
    return at_1km_db + slope_db * np.log10(np.asarray(distance_m, dtype=np.float64) / 1e3)


def cqi_spectral_efficiency(snr: ArrayLike) -> NDArray[np.float64]:
    """Spectral efficiency of the highest CQI whose efficiency is below the Shannon bound."""
    bound = np.log2(1.0 + np.asarray(snr, dtype=np.float64))
    index = np.searchsorted(NR_CQI_TABLE1, bound, side="right") - 1
    return NR_CQI_TABLE1[np.clip(index, 0, len(NR_CQI_TABLE1) - 1)]


def spectral_efficiency(rate_model: str, snr: ArrayLike) -> NDArray[np.float64]:
    """bit/s/Hz for a linear SNR under the named rate model."""
    if rate_model == "cqi":
        return cqi_spectral_efficiency(snr)
    return np.log2(1.0 + np.asarray(snr, dtype=np.float64))


def link_rate(
    rate_model: str,
    bandwidth_hz: ArrayLike,
    *,
    gain: ArrayLike,
    power_w: ArrayLike,
    noise_psd_w_hz: ArrayLike,
    fixed_snr: float,
) -> NDArray[np.float64]:
    """Rate in bit/s of a link holding ``bandwidth_hz`` (SCCT (13)-(14), SFT r_n, CARD, FedsLLM (9)).

    Args:
        rate_model: ``shannon``, ``fixed_snr`` or ``cqi``.
        bandwidth_hz: W, the band the device holds (beta_n B_s, or b_n).
        gain: G, linear channel power gain including antenna gains.
        power_w: P, total transmit power spread over W.
        noise_psd_w_hz: N0.
        fixed_snr: linear SNR of the ``fixed_snr`` model.
    """
    (rate,) = link_rates(
        rate_model, bandwidth_hz, gain=gain, powers=(power_w,), noise_psd_w_hz=noise_psd_w_hz,
        fixed_snr=fixed_snr,
    )  # fmt: skip
    return rate


def link_rates(
    rate_model: str,
    bandwidth_hz: ArrayLike,
    *,
    gain: ArrayLike,
    powers: tuple[ArrayLike, ...],
    noise_psd_w_hz: ArrayLike,
    fixed_snr: float,
) -> tuple[NDArray[np.float64], ...]:
    """:func:`link_rate` of each transmit power of ``powers`` over one band (a device's up- and downlink).

    Each rate is :func:`link_rate`'s, bit for bit (its own array); the band is checked once.
    """
    w = np.asarray(bandwidth_hz, dtype=np.float64)
    if rate_model == "fixed_snr":
        return tuple(w * np.log2(1.0 + fixed_snr) for _ in powers)
    rates = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for power_w in powers:
            snr = np.asarray(gain) * np.asarray(power_w) / (np.asarray(noise_psd_w_hz) * w)
            rates.append(w * spectral_efficiency(rate_model, snr))
    served: bool | None = None  # every w > 0: nothing to zero
    for i, rate in enumerate(rates):
        if not isinstance(rate, np.ndarray):  # scalars
            rates[i] = np.where(w > 0, rate, 0.0)
            continue
        if served is None:
            served = bool(w.size and np.minimum.reduce(w, axis=None) > 0)
        if not served:
            np.copyto(rate, 0.0, where=~(w > 0))  # np.where(w > 0, rate, 0), in the fresh array
    return tuple(rates)
