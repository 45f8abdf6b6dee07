"""Batched inner allocators (splitenv.allocation.allocate_rows) against the one-state kernels."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import splitenv  # noqa: F401  (registers the ids)
from splitenv import allocation
from splitenv.allocation import fedsllm_batch, fedsllm_power
from splitenv.allocation.fedsllm_power import min_power, rate_bps, solve_bisection
from splitenv.allocation.fedsllm_tables import Pool, greedy_subchannels
from splitenv.allocation.scct_alg1 import _Greedy
from splitenv.allocation.scct_batch import greedy_rows
from splitenv.allocation.scct_kkt import optimal_shares, optimal_shares_rows, share_root
from splitenv.allocation.scct_tables import Weights
from splitenv.model import Decision, StateBatch
from splitenv.registration import ENV_IDS
from tests.allocation.episodes import episode_rows, large_rows

PAPERS = ("scct_alg1", "card_frequency", "fedsllm_comm", "sft_sqp", "sft_bisection", "paper")
#: the registered id whose preset each paper's allocator is written for
HOME = {
    "scct_alg1": "splitenv/SCCT-v0",
    "card_frequency": "splitenv/CARD-v0",
    "fedsllm_comm": "splitenv/FedsLLM-v0",
    "sft_sqp": "splitenv/SFT-v1",
    "sft_bisection": "splitenv/SFT-v1",
}


@pytest.mark.parametrize("env_id", list(ENV_IDS))
def test_every_paper_allocator_has_a_batched_form(env_id):
    for name in PAPERS:
        assert allocation.batched_form(allocation.resolve(name)) is not None, name
    assert allocation.batched_form(allocation.equal) is not None


@pytest.mark.parametrize("name", PAPERS)
def test_batched_form_equals_the_one_state_allocator_bit_for_bit(name):
    env_id = HOME.get(name, "splitenv/SCCT-v0")
    dynamics = {"network__fading_correlation": 0.5, "network__mobility_step_m": 5.0}
    scn, states, larges = episode_rows(env_id, **dynamics)
    fn = allocation.resolve(name)
    rows = StateBatch.stack(states)
    large = large_rows(larges)
    got = allocation.allocate_rows(fn, scn, rows, large)
    ref = allocation.stack_decisions(
        scn,
        [fn(scn, s, Decision(**{k: v[i] for k, v in large.items()})) for i, s in enumerate(states)],
    )
    assert set(got) == set(ref)
    for f, want in ref.items():
        assert got[f].dtype == want.dtype and got[f].shape == want.shape, f
        np.testing.assert_array_equal(got[f], want, err_msg=f)
    # row-independent: a one-row call gives row r's bits
    for r in (0, len(states) // 2, len(states) - 1):
        one = allocation.allocate_rows(
            fn, scn, rows.take(np.array([r])), {k: v[r : r + 1] for k, v in large.items()}
        )
        for f in got:
            np.testing.assert_array_equal(one[f][0], got[f][r], err_msg=f)


def test_allocate_rows_without_batched_form_runs_row_by_row():
    scn, states, larges = episode_rows("splitenv/SCCT-v0", episodes=1)
    calls = []

    def half_edge(scenario, state, large):  # a plug-in callable without a batched form
        calls.append(state)
        return large.replace(compute_share=np.full(scenario.n_devices, 0.05))

    out = allocation.allocate_rows(half_edge, scn, StateBatch.stack(states), large_rows(larges))
    assert len(calls) == len(states)
    np.testing.assert_array_equal(out["compute_share"], np.full((len(states), scn.n_devices), 0.05))
    np.testing.assert_array_equal(out["split"], large_rows(larges)["split"])


def _synthetic(rng, n: int, k: int, idle: int = 0, tie: bool = False, mig: bool = False):
    """SCCT-shaped tables: a_n, c_n(beta) = device_n + load_n / beta, migration, with ties."""
    a = rng.uniform(0.5, 2.0, n)
    a[rng.choice(n, idle, replace=False)] = 0.0  # devices without edge work
    dev, load = rng.uniform(0.0, 1.0, n), rng.uniform(5.0, 50.0, n)
    if tie:  # devices 0 and 1 (and 2 and 3) identical: exact ties in every step
        a[1], dev[1], load[1] = a[0], dev[0], load[0]
        a[3], dev[3], load[3] = a[2], dev[2], load[2]
    beta = np.arange(k + 1)[:, None]
    with np.errstate(divide="ignore"):
        base = dev + load / beta
    table = None
    if mig:
        with np.errstate(divide="ignore"):
            table = rng.uniform(0.0, 3.0, n) * 20.0 / beta
    return a, base, table


@pytest.mark.parametrize("case", ["plain", "ties", "idle", "migration", "idle+migration+ties"])
def test_lockstep_greedy_equals_the_step_by_step_greedy(case):
    rng = np.random.default_rng(
        ["plain", "ties", "idle", "migration", "idle+migration+ties"].index(case)
    )
    n, k, rows = 6, 40, 24
    a, base, mig = [], [], []
    for r in range(rows):
        ar, br, mr = _synthetic(
            rng,
            n,
            k,
            idle=(r % 3 if "idle" in case else 0) + (n if "idle" in case and r == 0 else 0) * 0,
            tie="ties" in case,
            mig="migration" in case,
        )
        a.append(ar), base.append(br), mig.append(mr)
    if "idle" in case:  # one row without any edge work
        a[1] = np.zeros(n)
    a_, base_ = np.stack(a), np.stack(base)
    mig_ = np.stack(mig) if "migration" in case else None
    const = rng.uniform(0.0, 1.0, rows)
    w_mig, w_chain = (2.0, 1.5) if mig_ is not None else (0.0, 1.5)
    beta = greedy_rows(a_, base_, mig_, const, w_mig, w_chain)
    for r in range(rows):
        ref = _Greedy(
            a[r], base[r], None if mig_ is None else mig[r], Weights(const[r], w_mig, w_chain)
        )
        for _ in range(k - n):
            ref.step_exact()
        np.testing.assert_array_equal(beta[r], ref.beta, err_msg=f"row {r}")
        one = greedy_rows(a_[r : r + 1], base_[r : r + 1], None if mig_ is None else mig_[r : r + 1],
                          const[r : r + 1], w_mig, w_chain)  # fmt: skip
        np.testing.assert_array_equal(one[0], beta[r])
    assert np.all(beta.sum(axis=1) == k)


def test_share_roots_and_shares_match_the_one_row_kkt():
    rng = np.random.default_rng(3)
    a = rng.uniform(0.0, 2.0, (50, 7))
    a[rng.random((50, 7)) < 0.2] = 0.0
    a[4] = 0.0
    c = rng.uniform(0.0, 3.0, (50, 7))
    v = share_root(a, c)
    alpha = optimal_shares_rows(a, c)
    for r in range(50):
        np.testing.assert_allclose(v[r], share_root(a[r], c[r]), rtol=1e-14)
        np.testing.assert_allclose(alpha[r], optimal_shares(a[r], c[r])[0], rtol=1e-13, atol=1e-300)
        # an element's root does not depend on the rows solved with it (per-element stop)
        np.testing.assert_array_equal(share_root(a[r : r + 1], c[r : r + 1]), v[r : r + 1])


def test_vector_round_with_a_callable_without_batched_form_equals_single_envs():
    """A plug-in without a batched form runs row by row in the vector env, as in the single env."""

    def half_edge(scenario, state, large):
        return large.replace(compute_share=np.full(scenario.n_devices, 1.0 / scenario.n_devices))

    kwargs = {"timescale": "round", "inner_allocator": half_edge, "rounds": 2, "epochs_per_round": 2,
              "network__n_devices": 4, "network__fading_correlation": 0.5}  # fmt: skip
    k = 3
    singles = [gym.make("splitenv/SCCT-v0", **kwargs) for _ in range(k)]
    native = gym.make_vec("splitenv/SCCT-v0", num_envs=k, vectorization_mode="vector_entry_point",
                          **kwargs)  # fmt: skip
    obs, _ = native.reset(seed=5)
    for i, env in enumerate(singles):
        np.testing.assert_array_equal(env.reset(seed=5 + i)[0], obs[i])
    native.action_space.seed(5)
    for _ in range(2):  # one episode of two rounds
        action = native.action_space.sample()
        obs, reward, term, trunc, _ = native.step(action)
        for i, env in enumerate(singles):
            one = {key: value[i] for key, value in action.items()}
            o, r, te, tr, _ = env.step(one)
            np.testing.assert_array_equal(o, obs[i])
            assert (r, te, tr) == (reward[i], term[i], trunc[i])


def test_scct_rows_in_chunks_equal_one_chunk(monkeypatch):
    from splitenv.allocation import scct_batch

    scn, states, _ = episode_rows("splitenv/SCCT-v0", episodes=3)
    rows, split = StateBatch.stack(states), np.full((len(states), scn.n_devices), 4)
    whole = scct_batch.alg1_rows(scn, rows, split)
    monkeypatch.setattr(
        scct_batch, "GREEDY_ELEMENTS", 4 * (scn.network.n_subchannels + 1) * scn.n_devices
    )
    for name, value in scct_batch.alg1_rows(scn, rows, split).items():
        np.testing.assert_array_equal(value, whole[name], err_msg=name)


def _bisection_of_one_row(rest, bits, width, a, p_max, p_total, rtol=1e-13):
    """t* of FedsLLM's power control (25) for one pool, the textbook bisection on scalars.

    The same brackets as ``solve_bisection``: [t_lo, t_hi] from everyone at p_max and at
    equal powers, C5 checked with the least powers of (25) at the midpoint.
    """
    with np.errstate(divide="ignore"):
        t_lo = float(np.max(rest + np.where(bits > 0, bits / rate_bps(width, a, p_max), 0.0)))
        p_eq = min(p_max, p_total / rest.size)
        t_hi = float(np.max(rest + np.where(bits > 0, bits / rate_bps(width, a, p_eq), 0.0)))
    if min_power(t_lo, rest, bits, width, a).sum() <= p_total:
        return t_lo, "slack"
    lo, hi = t_lo, max(t_hi, t_lo)
    if not np.isfinite(hi):
        return hi, "unreachable"
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if min_power(mid, rest, bits, width, a).sum() <= p_total:
            hi = mid
        else:
            lo = mid
        if not hi - lo > 1e-13 * hi:
            break
    return hi, "bisected"


def test_power_control_on_stacked_rows_equals_the_one_row_bisection():
    """solve_bisection on (3, 40, N) rows: each row's t* the scalar bisection's, powers the one-row call's.

    Main-pool rows (a forward before ~400 Mbit), federated-pool rows (LoRA bits, nothing
    before), rows whose budget C5 is slack, a client that sends nothing, a client that
    cannot run its forward (rest = inf): the brackets stop at different steps.
    """
    rng = np.random.default_rng(11)
    n, p_max, p_total = 5, 0.19952623149688786, 0.5000345349769784
    shape = (3, 40, n)
    width = rng.integers(1, 9, shape) * 1e6
    a = 10 ** rng.uniform(8.0, 12.5, shape)
    main = rng.random(shape[:2]) < 0.5
    rest = np.where(main[..., None], rng.uniform(15, 40, shape), 0.0)
    bits = np.where(main[..., None], 4.0265e8, rng.uniform(1e5, 2e6, shape))
    a[0, :10] *= 1e4  # strong channels: C5 slack
    bits[1, 3, 2] = 0.0
    rest[2, 5, 1] = np.inf
    t, power = solve_bisection(rest, bits, width, a, p_max, p_total)
    assert t.shape == shape[:2] and power.shape == shape
    kinds = set()
    for i, j in np.ndindex(*shape[:2]):
        row = (rest[i, j], bits[i, j], width[i, j], a[i, j])
        want, kind = _bisection_of_one_row(*row, p_max, p_total)
        kinds.add(kind)
        assert t[i, j] == want or (np.isinf(want) and np.isinf(t[i, j])), (i, j, kind)
        t_one, p_one = solve_bisection(*row, p_max, p_total)
        assert t_one == t[i, j] or np.isinf(t_one)
        np.testing.assert_array_equal(p_one, power[i, j])
    assert kinds == {"slack", "unreachable", "bisected"}


def test_lockstep_subchannel_greedy_of_two_pools_equals_alg2_row_by_row():
    """FedsLLM Alg. 2 on rows of two pools (8 and 13 subchannels) at once = the one-row greedy.

    Rows with ties (identical clients), a client that sends nothing and one that cannot run
    its forward (rest = inf, it is the slowest forever) are in the batch.
    """
    rng = np.random.default_rng(3)
    r, n = 30, 5
    rest = np.concatenate([rng.uniform(15, 40, (r, n)), np.zeros((r, n))])
    bits = np.concatenate([np.full((r, n), 4.0265e8), rng.uniform(1e5, 2e6, (r, n))])
    snr = 10 ** rng.uniform(8.0, 12.5, (2 * r, n))
    power = rng.uniform(0.01, 0.2, (2 * r, n))
    for x in (rest, bits, snr, power):
        x[[4, 40], 1] = x[[4, 40], 0]  # two identical clients: ties to the lowest index
    bits[7, 2] = 0.0
    rest[9, 3] = np.inf
    pools = [(8, 1e6), (13, 3e5)]
    n_sub = np.repeat([p[0] for p in pools], r)
    hz = np.repeat([p[1] for p in pools], r)[:, None]
    counts = fedsllm_batch.greedy_rows(rest, bits, power, n_sub, hz, snr)
    for i in range(2 * r):
        pool = Pool(*pools[i // r], snr[i])
        want = greedy_subchannels(rest[i], bits[i], power[i], pool)
        np.testing.assert_array_equal(counts[i], want, err_msg=str(i))
    np.testing.assert_array_equal(counts.sum(axis=1), n_sub)
    assert counts[9, 3] == 8 - n + 1  # every free subchannel to the client that never finishes


@pytest.mark.parametrize("n", range(1, 11))
def test_client_sums_are_numpys_row_sums_bit_for_bit(n):
    """The bisection's row sums (column additions below 8 clients) = ``sum(axis=-1)``'s bits.

    Magnitudes over 23 decades, zeros and infinities: another order of the additions rounds
    differently somewhere in 20000 rows (checked below, so the equality means the order).
    """
    rng = np.random.default_rng(n)
    p = 10 ** rng.uniform(-20, 3, (20000, n))
    p *= rng.choice([1.0, 0.0, np.inf], p.shape, p=[0.9, 0.07, 0.03])
    want = p.sum(axis=-1)
    got = fedsllm_power._client_sums(p)
    assert got.dtype == want.dtype and got.shape == want.shape
    assert got.tobytes() == want.tobytes()
    # the test tells orders apart: another order below 8, the sequential one from 8 on
    other = p[:, ::-1].copy() if n < 8 else p
    sequential = other[:, 0].copy()
    for k in range(1, n):
        sequential += other[:, k]
    assert n < 3 or sequential.tobytes() != want.tobytes()


@pytest.mark.parametrize("name", sorted(HOME))
def test_a_papers_allocator_off_its_structure_fails_when_the_env_is_built(name):
    """Each paper's allocator checks the scenario when an env is built (check_fits), single
    and vector, naming the allocator and the scenario; its home preset builds and steps."""
    from splitenv.errors import ConfigError

    home = gym.make(HOME[name], inner_allocator=name)
    home.reset(seed=0)
    home.step(home.action_space.sample())
    for env_id in ("splitenv/SCCT-v0", "splitenv/SFT-v1", "splitenv/CARD-v0", "splitenv/FedsLLM-v0"):
        if env_id == HOME[name]:
            continue
        with pytest.raises(ConfigError, match=f"inner_allocator = '{name}' does not fit scenario"):
            gym.make(env_id, inner_allocator=name)
        with pytest.raises(ConfigError, match=f"inner_allocator = '{name}'"):
            gym.make_vec(env_id, 2, vectorization_mode="vector_entry_point", inner_allocator=name)
        gym.make(env_id, inner_allocator=name, timescale="joint")  # no round: not run, not checked
