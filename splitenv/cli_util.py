"""What every ``splitenv`` command shares, the plug-in commands of baselines and agents included.

* ``--set key=value`` parsing (:func:`parse_overrides`, :func:`split_settings`), written once;
* JSON input and output (:func:`read_json`, :func:`print_json`);
* :data:`PROJECT_ROOT`, where relative paths are looked up after the working directory
  (:func:`find_file`: shipped models such as ``agents/pretrained/...``);
* the help layout of every command (:class:`HelpFormatter`, :class:`CommandParser`): each
  option's default shown, examples in the epilog kept as written (:func:`examples`).
"""

from __future__ import annotations

import argparse
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from splitenv._fields import parse_value
from splitenv.errors import ConfigError, FileFormatError


class HelpFormatter(argparse.HelpFormatter):
    """Every option's help ends with its default; examples in epilogs are kept as written.

    Descriptions and epilogs are wrapped paragraph by paragraph (blank lines separate
    them); a paragraph with an indented line (an example list) is kept as written.

    An option whose help already names its default (``default`` in the text) is left as
    is; a flag reads ``(default: off)``; a required option ``(required)``; an option whose
    default is ``None`` must say in its help what happens without it (the test of the
    ``--help`` pages checks that).
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        paragraphs = []
        for para in text.strip("\n").split("\n\n"):
            if any(line.startswith(" ") for line in para.splitlines()):
                paragraphs.append("\n".join(indent + line for line in para.splitlines()))
            else:
                paragraphs.append(textwrap.fill(" ".join(para.split()), width, initial_indent=indent,
                                                subsequent_indent=indent))  # fmt: skip
        return "\n\n".join(paragraphs)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if not action.option_strings or "default" in text.lower() or "%(default)" in text:
            return text
        if action.default is argparse.SUPPRESS:
            return text
        if action.required:
            return f"{text} (required)"
        if isinstance(action, argparse._StoreTrueAction):
            return f"{text} (default: off)"
        if action.default is None:
            return text
        default = action.default
        if isinstance(default, (list, tuple)):
            default = " ".join(str(v) for v in default) if default else "none"
        return f"{text} (default: {str(default).replace('%', '%%')})"


class CommandParser(argparse.ArgumentParser):
    """The parser of ``splitenv`` and of each subcommand: :class:`HelpFormatter` by default.

    ``splitenv``'s subparsers are made of this class, so the plug-in commands of baselines
    and agents lay out their help the same way without asking.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", HelpFormatter)
        super().__init__(*args, **kwargs)


def examples(*lines: str) -> str:
    """An epilog of example command lines (each with an optional ``  # comment``)."""
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


#: the project's root folder (the repository in a source checkout)
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _pair(pair: str, example: str) -> tuple[str, Any]:
    if "=" not in pair:
        raise ConfigError(f"--set {pair!r}: expected key=value, e.g. {example}")
    key, value = pair.split("=", 1)
    return key.strip(), parse_value(value.strip())


def parse_overrides(pairs: Sequence[str]) -> dict[str, Any]:
    """``--set`` pairs as dotted scenario overrides: ``["network.n_devices=6"]`` -> ``{...: 6}``.

    Raises:
        ConfigError: a pair without ``=``.
    """
    return dict(_pair(p, "network.n_devices=6") for p in pairs)


def split_settings(pairs: Sequence[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``--set`` pairs split into (settings, scenario overrides): dotted keys are overrides.

    ``learning_rate=1e-3`` is a setting of the command, ``network.n_devices=6`` a scenario
    override.

    Raises:
        ConfigError: a pair without ``=``.
    """
    settings: dict[str, Any] = {}
    overrides: dict[str, Any] = {}
    for pair in pairs:
        key, value = _pair(pair, "learning_rate=1e-3 or network.n_devices=6")
        (overrides if "." in key else settings)[key] = value
    return settings, overrides


def _json_default(x: Any) -> Any:
    if hasattr(x, "tolist"):
        return x.tolist()
    raise TypeError(f"not JSON serializable: {type(x).__name__}")


def _clean(obj: Any) -> Any:
    """Replace non-finite floats by strings so the output is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return str(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean(v) for v in obj]
    return obj


def print_json(obj: Any) -> None:
    """Print ``obj`` as strict, indented JSON (arrays as lists, inf / nan as strings)."""
    print(json.dumps(_clean(obj), indent=2, default=_json_default))


def read_json(path: str, what: str = "file") -> dict[str, Any]:
    """The JSON object of a file from elsewhere (a decision, a state): data, checked for shape.

    Raises:
        FileNotFoundError: no such file.
        FileFormatError: a directory, unreadable, not UTF-8, not JSON, nested too deeply, or
            not a JSON object; the message names the file and ``what`` it should hold.
    """
    p = Path(path)
    if p.is_dir():
        raise FileFormatError(f"{what} {path}: is a directory, not a JSON file")
    if not p.exists():
        raise FileNotFoundError(f"{what} {path}: no such file")
    try:
        text = p.read_bytes().decode("utf-8")
        data = json.loads(text)
    except OSError as exc:
        raise FileFormatError(f"{what} {path}: cannot be read ({exc.strerror})") from None
    except UnicodeDecodeError as exc:
        raise FileFormatError(f"{what} {path}: not UTF-8 text (byte {exc.start})") from None
    except json.JSONDecodeError as exc:
        raise FileFormatError(
            f"{what} {path}: not JSON ({exc.msg} at line {exc.lineno}, column {exc.colno})"
        ) from None
    except RecursionError:
        raise FileFormatError(f"{what} {path}: nested too deeply to be a {what}") from None
    if not isinstance(data, dict):
        raise FileFormatError(
            f"{what} {path}: must be a JSON object of fields, not {type(data).__name__} {str(data)[:40]}"
        )
    return data


def find_file(path: str | Path) -> Path | None:
    """``path`` if it is a file, else relative to :data:`PROJECT_ROOT`; ``None`` if neither."""
    p = Path(path)
    for candidate in (p, PROJECT_ROOT / p) if not p.is_absolute() else (p,):
        if candidate.is_file():
            return candidate
    return None
