"""Every exception splitenv raises on purpose, in one hierarchy (as ``gymnasium.error``).

::

    SplitenvError                      root: ``except SplitenvError`` catches them all
    ├── FieldError (ValueError)        a bad value; the message names field, value, allowed range
    │   ├── ConfigError                a scenario / preset / override / CLI value
    │   ├── DecisionError              a decision given to the engine
    │   ├── StateError                 a state given to the engine
    │   ├── ActionError                an action given to the env or a wrapper
    │   ├── UnknownNameError           a scenario, solver, allocator, method ... name not registered
    │   └── FileFormatError            a file from elsewhere (agent, record) malformed or unsafe
    ├── MissingExtraError (ImportError) an optional dependency is missing; names the pip extra
    ├── PluginError                    an entry point of an installed plug-in failed to load
    ├── Interrupted                    a long run stopped on Ctrl-C / SIGTERM; says what was kept
    └── SolverError (RuntimeError)     a method could not produce a decision
        ├── FitError                   a model a method relies on does not fit (SFT's a + c / b)
        └── JobError                   a benchmark job failed; names scenario, method, seed

``FieldError`` derives from ``ValueError`` (and ``MissingExtraError`` from ``ImportError``) so
code written against the built-in classes keeps working. The CLI maps ``SplitenvError`` to exit
status 2 (bad input), ``SolverError`` to 1 (a run failed) and ``Interrupted`` (and a bare
Ctrl-C) to 130, by type.
"""

from __future__ import annotations

__all__ = [
    "ActionError",
    "ConfigError",
    "DecisionError",
    "FieldError",
    "FileFormatError",
    "FitError",
    "Interrupted",
    "JobError",
    "MissingExtraError",
    "PluginError",
    "SolverError",
    "SplitenvError",
    "StateError",
    "UnknownNameError",
]


class SplitenvError(Exception):
    """Root of every error splitenv raises on purpose."""


class FieldError(SplitenvError, ValueError):
    """A bad value; the message names the field, the value and the allowed range."""


class ConfigError(FieldError):
    """An invalid configuration value (preset, override, CLI option)."""


class DecisionError(FieldError):
    """A malformed decision given to the cost engine."""


class StateError(FieldError):
    """A malformed state given to the cost engine."""


class ActionError(FieldError):
    """A malformed action given to the env or one of its wrappers."""


class UnknownNameError(FieldError):
    """A name (scenario, solver, allocator, accuracy provider, method) that is not registered."""


class FileFormatError(FieldError):
    """A file from elsewhere (agent, record, decision) is malformed or would run code on load."""


class MissingExtraError(SplitenvError, ImportError):
    """An optional dependency is missing; the message names the ``pip install`` to run."""


class PluginError(SplitenvError):
    """An installed plug-in's entry point failed to load; the message names it."""


class Interrupted(SplitenvError):
    """A long run (bench, train) stopped on Ctrl-C or SIGTERM after saving what it had.

    The message says what was kept (partial results, a checkpoint) and how to resume.
    """


class SolverError(SplitenvError, RuntimeError):
    """A method could not produce a decision (it did not converge, its model does not fit)."""


class FitError(SolverError):
    """A model a method relies on does not fit the engine (SFT: max_n (a_n + c_n / b_n))."""


class JobError(SolverError):
    """A benchmark job failed; the message names its scenario, method and seed."""
