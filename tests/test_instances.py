"""Named instance sets: disjoint seeds, stable recorded content hashes."""

import pytest

import splitenv as se
from splitenv import instances


@pytest.mark.parametrize("name", se.list_scenarios())
def test_recorded_hashes_match(name):
    for split in ("validation", "test"):
        instances.check(name, split)


def test_sets_are_disjoint_and_named():
    val, test = instances.instance_set("scct", "validation"), instances.instance_set("scct", "test")
    assert len(val) == len(test) == 20 and not set(val) & set(test)
    with pytest.raises(ValueError, match="split = 'bogus'"):
        instances.instance_set("scct", "bogus")


def test_a_changed_preset_is_detected(monkeypatch):
    real = instances.content_hash
    monkeypatch.setattr(instances, "content_hash", lambda *a, **k: "0" * 64)
    with pytest.raises(RuntimeError, match="changed"):
        instances.check("scct")
    monkeypatch.setattr(instances, "content_hash", real)
    instances.check("scct")
