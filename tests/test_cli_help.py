"""Every `splitenv` subcommand's --help (plug-in commands included) explains every option.

The subcommands are discovered from the parser, so a new command (core or plug-in) is
checked without being listed here: each has a description and examples, and each option a
help text that states its default (or that it is required).
"""

import argparse

import pytest

from splitenv.cli import build_parser, main
from splitenv.cli_util import HelpFormatter


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


SUBCOMMANDS = sorted(_subparsers())


def test_the_plugin_commands_are_discovered():
    assert {"bench", "run", "reproduce", "solve", "solvers", "train", "state"} <= set(SUBCOMMANDS)


def test_version(capsys):
    import splitenv

    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"splitenv {splitenv.__version__}"


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_help_describes_every_option_with_its_default(command, capsys):
    parser = _subparsers()[command]
    with pytest.raises(SystemExit) as exc:
        main([command, "--help"])
    assert exc.value.code == 0
    text = capsys.readouterr().out
    assert parser.description, f"{command}: no description"
    assert "examples:" in text and f"splitenv {command}" in text.split("examples:")[1]
    formatter = HelpFormatter(prog=parser.prog)
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        name = "/".join(action.option_strings) or action.dest
        assert action.help, f"{command} {name}: no description"
        shown = formatter._get_help_string(action)
        if action.option_strings:
            assert "default" in shown.lower() or "required" in shown, (
                f"{command} {name}: the help does not state the default: {shown!r}"
            )
        first_words = " ".join(action.help.split()[:3])
        assert first_words in " ".join(text.split()), f"{command} {name}: help not rendered"


def test_formatter_names_defaults_flags_and_required():
    p = argparse.ArgumentParser(formatter_class=HelpFormatter)
    p.add_argument("--n", type=int, default=3, help="count")
    p.add_argument("--flag", action="store_true", help="switch")
    p.add_argument("--out", required=True, help="folder")
    p.add_argument("--opt", default=None, help="optional")
    text = " ".join(p.format_help().split())
    assert "count (default: 3)" in text
    assert "switch (default: off)" in text
    assert "folder (required)" in text
    assert "optional (default" not in text  # None: the help itself must say what happens
