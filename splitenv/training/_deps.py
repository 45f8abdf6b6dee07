"""Optional dependencies of the training hook, imported on first use with a named fix.

``import splitenv`` never imports torch: only the modules of this package that
train do, through :func:`require_torch`, so a missing extra fails where it is
needed with the ``pip install`` line that fixes it (as Gymnasium does for pygame).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import NoReturn

TRAIN_HINT = 'pip install "splitenv[train]"'


def require(module: str, hint: str = TRAIN_HINT) -> ModuleType:
    """Import ``module`` or raise an ImportError naming the install command."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        raise ImportError(
            f"splitenv.training needs {module!r}, which is not installed ({exc}); run: {hint}"
        ) from None


def require_torch() -> ModuleType:
    """The torch module, or an ImportError naming ``pip install "splitenv[train]"``."""
    return require("torch")


def missing(exc: ModuleNotFoundError, hint: str = TRAIN_HINT) -> NoReturn:
    """Re-raise a failed import as an ImportError naming the install command.

    Used as ``try: import torch / except ModuleNotFoundError as exc: missing(exc)``
    so that type checkers still see the real imports.
    """
    raise ImportError(
        f"splitenv.training needs {exc.name!r}, which is not installed; run: {hint}"
    ) from None
