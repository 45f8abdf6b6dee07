"""The generated task and the Dirichlet partitions are reproducible by seed."""

from __future__ import annotations

import numpy as np
import pytest

from splitenv.training.data import (
    TOPICS,
    Tokenized,
    WordTokenizer,
    dirichlet_partition,
    make_text_task,
)


def test_task_is_reproducible_by_seed():
    a, b, c = make_text_task(3, 500), make_text_task(3, 500), make_text_task(4, 500)
    assert a.texts == b.texts and np.array_equal(a.labels, b.labels)
    assert a.texts != c.texts
    assert len(a.classes) == 2 * len(TOPICS) == 8
    assert set(np.unique(a.labels)) == set(range(8))


def test_task_texts_carry_their_topic():
    task = make_text_task(0, 400, typo_rate=0.0, label_noise=0.0)
    for text, y in zip(task.texts, task.labels, strict=True):
        topic = list(TOPICS)[int(y) // 2]
        assert any(noun in text for noun in TOPICS[topic]), text


def test_dirichlet_partition_is_reproducible_and_complete():
    labels = make_text_task(0, 2000).labels
    p1 = dirichlet_partition(labels, 6, 0.5, np.random.default_rng(7))
    p2 = dirichlet_partition(labels, 6, 0.5, np.random.default_rng(7))
    p3 = dirichlet_partition(labels, 6, 0.5, np.random.default_rng(8))
    assert all(np.array_equal(a, b) for a, b in zip(p1, p2, strict=True))
    assert not all(np.array_equal(a, b) for a, b in zip(p1, p3, strict=True))
    allidx = np.sort(np.concatenate(p1))
    assert np.array_equal(allidx, np.arange(len(labels)))  # every sample exactly once


def test_dirichlet_alpha_controls_heterogeneity():
    labels = make_text_task(0, 4000).labels

    def spread(alpha):
        parts = dirichlet_partition(labels, 5, alpha, np.random.default_rng(0))
        hist = np.array([np.bincount(labels[p], minlength=8) / len(p) for p in parts])
        return float(np.abs(hist - hist.mean(0)).sum(1).mean())

    assert spread(0.1) > spread(0.5) > spread(100.0)
    assert spread(100.0) < 0.1


def test_partition_arguments_are_checked():
    with pytest.raises(ValueError, match="alpha"):
        dirichlet_partition(np.zeros(10, np.int64), 2, 0.0, np.random.default_rng(0))
    with pytest.raises(ValueError, match="cannot give"):
        dirichlet_partition(np.zeros(3, np.int64), 2, 1.0, np.random.default_rng(0))


def test_word_tokenizer_and_batches():
    task = make_text_task(0, 50)
    tok = WordTokenizer.build(task.texts, max_len=8)
    ids = tok.encode(list(task.texts))
    assert all(s[0] == 2 and s[-1] == 3 and len(s) <= 8 for s in ids)
    assert tok.encode(["zzzz"])[0] == [2, 1, 3]
    data = Tokenized(ids, task.labels)
    seen = np.concatenate(list(data.batches(16, np.random.default_rng(0))))
    assert np.array_equal(np.sort(seen), np.arange(50))
