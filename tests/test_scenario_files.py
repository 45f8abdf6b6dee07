"""Scenario files from elsewhere are data: every malformed one is a ConfigError naming the file."""

from __future__ import annotations

import pytest

from splitenv import ConfigError, load_scenario


def _write(tmp_path, text, name="s.yaml", mode="w"):
    path = tmp_path / name
    if mode == "wb":
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_base_preset_with_overrides(tmp_path):
    path = _write(tmp_path, "name: small_scct\nbase: scct\nnetwork:\n  n_devices: 4\n")
    scn, scct = load_scenario(path), load_scenario("scct")
    assert scn.name == "small_scct" and scn.n_devices == 4
    # every other value is the base's, section by section
    assert scn.network.n_subchannels == scct.network.n_subchannels == 200
    assert scn.model == scct.model and scn.schedule == scct.schedule
    # a variation is its own scenario: version and id name are not inherited
    assert scn.version == 0 and scn.id_name == ""


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("", "is empty"),
        ("# only a comment\n", "is empty"),
        ("[1, 2]\n", "mapping of sections, not list"),
        ("42\n", "mapping of sections, not int"),
        ("name: x\nnetwork: [\n", r"not valid YAML \(line 3"),
        ("name: !!python/object/apply:os.system ['true']\n", "not valid YAML"),
        ("base: nope\n", "unknown base scenario 'nope'"),
        ("base: [scct]\n", "must be a preset name"),
        ("name: x\nnetwork:\n  n_devices: -1\n", "network.n_devices = -1"),
        ("name: x\nbogus: 1\n", "bogus"),
    ],
)
def test_malformed_files(tmp_path, text, match):
    with pytest.raises(ConfigError, match=match):
        load_scenario(_write(tmp_path, text))


def test_cycle_directory_encoding_and_missing(tmp_path, monkeypatch):
    (tmp_path / "a.yaml").write_text("name: a\nbase: b\n")
    (tmp_path / "b.yaml").write_text("name: b\nbase: a\n")
    monkeypatch.setenv("SPLITENV_CONFIGS", str(tmp_path))
    with pytest.raises(ConfigError, match="cycle"):
        load_scenario("a")
    (tmp_path / "d.yaml").mkdir()
    with pytest.raises(ConfigError, match="is a directory"):
        load_scenario(tmp_path / "d.yaml")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_scenario(_write(tmp_path, b"name: \xff\xfe\n", name="u.yaml", mode="wb"))
    with pytest.raises(ConfigError, match="does not exist"):
        load_scenario(tmp_path / "missing.yaml")
