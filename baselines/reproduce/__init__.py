"""The papers' figures, drawn from sweeps of the benchmark harness (``splitenv reproduce PAPER``).

| paper | figures | module |
| --- | --- | --- |
| scct | Fig. 9: per-iteration latency vs N (SCCTT, SCCTL, SCCTS, equal; CloudO not modelled) | :mod:`.scct` |
| sft | Fig. 10: round delay vs total bandwidth (SQP, equal, random bandwidth) | :mod:`.sft` |
| sft | accuracy vs simulated time with real training (train / table / surrogate providers) | :mod:`.sft` |
| card | Fig. 3: cut and server frequency per device over rounds; Fig. 4: delay and energy per method | :mod:`.card` |
| fedsllm | Figs. 5-8: total delay vs bandwidth, client FLOPs/cycle, server capability, client power | :mod:`.fedsllm` |

Every paper's module runs its sweeps through the one helper :mod:`.sweep` (jobs of the harness,
in parallel, the same numbers for any number of workers).

Each figure is written as ``NAME.png``, ``NAME.csv`` (the rows it was drawn from) and
``NAME.md`` (caption: the paper's claim, our numbers, which claims hold). The default
size is reduced (few seeds, short episodes, fewer sweep points) so that ``scct`` and
``card`` run in the test suite; ``full=True`` takes the paper's sweep points, 10 seeds
and the env's default episode (4 rounds x 3 epochs).
"""

from __future__ import annotations

from pathlib import Path

from baselines.reproduce.sweep import Context, Reproduction, Size
from splitenv import plugins
from splitenv.errors import ConfigError

#: what SFT's time-to-accuracy figure trains: ``minilm`` (the real, offline all-MiniLM-L6-v2),
#: ``tiny`` (a random 4-layer encoder: seconds, for tests), ``none`` (no train episode)
TRAIN_MODELS = ("minilm", "tiny", "none")


def papers() -> list[str]:
    """The reproducible papers: names in the ``splitenv.reproductions`` entry-point group."""
    return plugins.names("reproductions")


def reproduction(paper: str) -> Reproduction:
    """The figures and sizes of ``paper`` (imported only now).

    Raises:
        UnknownNameError: unknown paper; the message lists the known ones.
    """
    found: Reproduction = plugins.load("reproductions", paper)
    return found


def reproduce(
    paper: str,
    out: str | Path,
    n_seeds: int | None = None,
    full: bool = False,
    workers: int = 1,
    progress: bool = True,
    train_model: str = "minilm",
    points: int | None = None,
) -> list[Path]:
    """Draw a paper's figures under ``out``; return the files written (PNG, CSV, caption each).

    ``train_model`` is what SFT's time-to-accuracy figure really trains: ``minilm``
    (default), ``tiny`` (seconds; a smoke run) or ``none`` (no training episode).
    ``points`` (fedsllm only) keeps that many evenly spaced sweep points per figure, the
    first and last included (a smoke run of Figs. 5-8); None keeps them all.

    Raises:
        ConfigError: unknown paper, a bad number of seeds or points, or an unknown train model.
    """
    repro = reproduction(paper)
    if train_model not in TRAIN_MODELS:
        raise ConfigError(f"train_model = {train_model!r}; allowed: {', '.join(TRAIN_MODELS)}")
    if points is not None and (paper != "fedsllm" or points < 1):
        raise ConfigError(f"points = {points!r}; allowed: an integer >= 1, for fedsllm only")
    size = repro.full if full else repro.reduced
    if n_seeds is not None:
        size = Size(n_seeds, size.rounds, size.epochs_per_round, size.full)
    return repro.draw(Context(Path(out), size, workers, progress, train_model, points))
