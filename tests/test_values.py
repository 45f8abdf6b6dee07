"""`--set` values and scenario files read numbers as people write them (YAML 1.2, not 1.1)."""

from __future__ import annotations

import pytest

from splitenv import ConfigError, load_scenario
from splitenv._fields import parse_value
from splitenv.cli import main


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("3e7", 3e7), ("3.0e7", 3e7), ("3E7", 3e7), ("-2.5e-3", -2.5e-3), ("1e+3", 1e3),
        ("400.0e+6", 4e8), (".5", 0.5), ("1_000", 1000), ("7", 7), ("true", True),
        ("[3e7, 1]", [3e7, 1]), ("abc", "abc"), ("1.2.3", "1.2.3"),
    ],
)  # fmt: skip
def test_numbers_as_written(text, value):
    got = parse_value(text)
    assert got == value and type(got) is type(value)


@pytest.mark.parametrize("text", ["!!python/object/apply:os.system ['true']", "[1, 2", "{a: 1"])
def test_bad_values_name_the_key(text):
    with pytest.raises(ConfigError, match=r"network\.x = .* is not a valid value"):
        parse_value(text, "network.x")


def test_readme_example_override(capsys):
    # the README's own example: `--set network.bandwidth_hz=3e7`
    assert main(["evaluate", "--scenario", "sft", "--seed", "0", "--decision", "default",
                 "--set", "network.bandwidth_hz=3e7"]) == 0  # fmt: skip
    assert (
        load_scenario("sft", {"network.bandwidth_hz": parse_value("3e7")}).network.bandwidth_hz
        == 3e7
    )


def test_scenario_files_read_exponents(tmp_path):
    path = tmp_path / "s.yaml"
    path.write_text("name: s\nbase: sft\nnetwork:\n  bandwidth_hz: 3e7\n")
    assert load_scenario(path).network.bandwidth_hz == 3e7
