"""Seeded data: a generated text-classification task, Dirichlet label partitions, batching.

**The task** (:func:`make_text_task`, no download): short product / news style
sentences about one of four topics (sports, technology, food, travel) with a
positive or negative opinion; the label is (topic, sentiment), 8 classes.
Each sentence is a template filled from topic and opinion word lists, with
noise that keeps it from being a keyword lookup:

* negation flips the opinion word ("not great" is negative, "not bad" positive);
* a distractor phrase mentions a noun of another topic;
* filler words, and typos (two adjacent letters swapped) at ``typo_rate`` per word;
* ``label_noise`` of the labels are replaced by a random class (this caps the
  reachable accuracy near ``1 - label_noise * 7/8``).

Everything is drawn from ``numpy.random.default_rng(seed)``: the same seed
gives the same texts, labels and partitions on every machine.

**Partitions** (:func:`dirichlet_partition`): the non-IID split SFT uses
(Sec. VIII-A: Dirichlet with concentration 0.5): for every class, the shares of
the devices are drawn from Dirichlet(alpha); large alpha approaches IID.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

TOPICS = {
    "sports": (
        "match", "striker", "coach", "league", "goal", "tournament", "stadium", "season",
        "referee", "team", "final", "race", "player", "defence", "transfer",
    ),
    "technology": (
        "laptop", "phone", "software", "update", "processor", "battery", "app", "screen",
        "network", "server", "camera", "keyboard", "chip", "browser", "router",
    ),
    "food": (
        "restaurant", "pasta", "dessert", "chef", "menu", "soup", "bakery", "curry",
        "salad", "coffee", "pizza", "sauce", "breakfast", "cheese", "bread",
    ),
    "travel": (
        "flight", "hotel", "beach", "airport", "trip", "museum", "train", "island",
        "resort", "guide", "luggage", "cruise", "village", "passport", "harbour",
    ),
}  # fmt: skip
POSITIVE = (
    "great", "excellent", "wonderful", "superb", "impressive", "delightful", "fantastic",
    "brilliant", "pleasant", "reliable", "outstanding", "lovely",
)  # fmt: skip
NEGATIVE = (
    "terrible", "awful", "disappointing", "poor", "dreadful", "mediocre", "frustrating",
    "broken", "boring", "unpleasant", "horrible", "weak",
)  # fmt: skip
SUBJECTS = ("the", "this", "our", "that", "my", "their")
VERBS = ("was", "seemed", "felt", "turned out", "looked", "proved")
FILLERS = ("honestly", "really", "overall", "to be fair", "again", "today", "last week", "somehow")
TEMPLATES = (
    "{s} {noun} {v} {adj}{filler}.",
    "{filler0}{s} {noun} {v} {adj}, {distractor}.",
    "i think {s} {noun} {v} {adj}{filler}.",
    "{distractor0}{s} {noun} {v} {adj}.",
    "after the {noun2} {s} {noun} {v} {adj}{filler}.",
)


@dataclass(frozen=True)
class TextTask:
    """Texts with integer labels and the class names."""

    texts: tuple[str, ...]
    labels: NDArray[np.int64]
    classes: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: Sequence[int] | NDArray[np.int64]) -> TextTask:
        """The samples at ``idx``."""
        idx = np.asarray(idx, dtype=np.int64)
        return TextTask(tuple(self.texts[i] for i in idx), self.labels[idx], self.classes)


def _typo(word: str, rng: np.random.Generator) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 2))
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _sentence(topic: str, positive: bool, rng: np.random.Generator, typo_rate: float) -> str:
    def pick(words: Sequence[str]) -> str:
        return str(words[int(rng.integers(len(words)))])

    negate = rng.random() < 0.25
    adj = pick(NEGATIVE if positive == negate else POSITIVE)
    adj = f"not {adj}" if negate else adj
    others = [t for t in TOPICS if t != topic]
    other_noun = pick(TOPICS[pick(others)])
    distractor = f"unlike the {other_noun}" if rng.random() < 0.5 else f"as was the {other_noun}"
    filler = f", {pick(FILLERS)}" if rng.random() < 0.4 else ""
    text = pick(TEMPLATES).format(
        s=pick(SUBJECTS), noun=pick(TOPICS[topic]), v=pick(VERBS), adj=adj, filler=filler,
        filler0=f"{pick(FILLERS)}, " if rng.random() < 0.4 else "",
        distractor=distractor, distractor0=f"{distractor}, " if rng.random() < 0.5 else "",
        noun2=other_noun if rng.random() < 0.5 else pick(TOPICS[topic]),
    )  # fmt: skip
    words = [_typo(w, rng) if rng.random() < typo_rate else w for w in text.split(" ")]
    return " ".join(words)


def make_text_task(
    seed: int,
    n_samples: int = 6000,
    *,
    typo_rate: float = 0.05,
    label_noise: float = 0.03,
) -> TextTask:
    """The generated 8-class (topic x sentiment) task; deterministic in ``seed``."""
    if n_samples < 1 or not 0 <= typo_rate <= 1 or not 0 <= label_noise <= 1:
        raise ValueError("make_text_task: n_samples >= 1, typo_rate and label_noise in [0, 1]")
    rng = np.random.default_rng(seed)
    topics = list(TOPICS)
    classes = tuple(f"{t}/{s}" for t in topics for s in ("positive", "negative"))
    labels = rng.integers(0, len(classes), size=n_samples)
    texts = tuple(_sentence(topics[int(y) // 2], int(y) % 2 == 0, rng, typo_rate) for y in labels)
    noisy = rng.random(n_samples) < label_noise
    labels = np.where(noisy, rng.integers(0, len(classes), size=n_samples), labels)
    return TextTask(texts, labels.astype(np.int64), classes)


def dirichlet_partition(
    labels: NDArray[np.int64],
    n_devices: int,
    alpha: float,
    rng: np.random.Generator,
    *,
    min_size: int = 2,
) -> list[NDArray[np.int64]]:
    """Indices per device: per class, device shares ~ Dirichlet(alpha) (non-IID, SFT VIII-A).

    Redraws (from the same generator) until every device has ``min_size`` samples.
    """
    if n_devices < 1 or alpha <= 0:
        raise ValueError(f"dirichlet_partition: n_devices = {n_devices} >= 1, alpha = {alpha} > 0")
    if len(labels) < n_devices * min_size:
        raise ValueError(f"{len(labels)} samples cannot give {n_devices} devices {min_size} each")
    classes = np.unique(labels)
    for _ in range(1000):
        parts: list[list[int]] = [[] for _ in range(n_devices)]
        for c in classes:
            idx = rng.permutation(np.flatnonzero(labels == c))
            shares = rng.dirichlet(np.full(n_devices, alpha))
            cuts = (np.cumsum(shares)[:-1] * len(idx)).astype(int)
            for n, chunk in enumerate(np.split(idx, cuts)):
                parts[n].extend(chunk.tolist())
        if min(len(p) for p in parts) >= min_size:
            return [np.sort(np.asarray(p, dtype=np.int64)) for p in parts]
    raise RuntimeError(f"no Dirichlet({alpha}) partition gave every device {min_size} samples")


class WordTokenizer:
    """Whitespace tokenizer over a fixed vocabulary (for tiny test models; no files needed).

    Ids: 0 = [PAD], 1 = [UNK], 2 = [CLS], 3 = [SEP], then the words.
    """

    def __init__(self, vocab: Sequence[str], max_len: int = 64) -> None:
        self.itos = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", *vocab]
        self.stoi = {w: i for i, w in enumerate(self.itos)}
        self.max_len, self.pad_id = max_len, 0

    @classmethod
    def build(cls, texts: Sequence[str], max_len: int = 64) -> WordTokenizer:
        """Vocabulary of every word in ``texts``, sorted (deterministic)."""
        return cls(sorted({w for t in texts for w in _words(t)}), max_len)

    @property
    def vocab_size(self) -> int:
        """Number of ids."""
        return len(self.itos)

    def encode(self, texts: Sequence[str]) -> list[list[int]]:
        """[CLS] words [SEP], truncated to ``max_len``."""
        out = []
        for t in texts:
            ids = [self.stoi.get(w, 1) for w in _words(t)][: self.max_len - 2]
            out.append([2, *ids, 3])
        return out


def _words(text: str) -> list[str]:
    return text.lower().replace(",", " ,").replace(".", " .").split()


@dataclass
class Tokenized:
    """Token ids of a task (lists of varying length) with the labels."""

    ids: list[list[int]]
    labels: NDArray[np.int64]
    pad_id: int = 0

    def __len__(self) -> int:
        return len(self.ids)

    def batches(
        self, batch_size: int, rng: np.random.Generator | None = None
    ) -> Iterator[NDArray[np.int64]]:
        """Index batches, shuffled by ``rng`` (in order without one)."""
        order = rng.permutation(len(self)) if rng is not None else np.arange(len(self))
        for start in range(0, len(order), batch_size):
            yield order[start : start + batch_size]


def collate(data: Tokenized, idx: NDArray[np.int64]):
    """(ids, token mask, labels) tensors for samples ``idx``, right-padded to the longest."""
    from splitenv.training._deps import require_torch

    torch = require_torch()
    seqs = [data.ids[i] for i in idx]
    width = max(len(s) for s in seqs)
    ids = torch.full((len(seqs), width), data.pad_id, dtype=torch.int64)
    mask = torch.zeros((len(seqs), width), dtype=torch.float32)
    for row, s in enumerate(seqs):
        ids[row, : len(s)] = torch.tensor(s, dtype=torch.int64)
        mask[row, : len(s)] = 1.0
    return ids, mask, torch.as_tensor(data.labels[idx], dtype=torch.int64)
