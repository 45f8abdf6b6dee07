"""The layering contract: splitenv (core) <- baselines <- agents, nothing imports upward.

Two checks of the same rule, so that neither tool's blind spot hides a violation:
import-linter's ``layers`` contract (configured in pyproject.toml, also run by ``make lint``)
over the import graph grimp builds, and an AST walk below that also sees imports inside
functions (lazy imports), ``importlib.import_module("...")`` calls with a literal name and
the optional heavy dependencies a core module may only import inside a function.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
#: package -> the packages it may not import (the layers above it)
ABOVE = {"splitenv": ("baselines", "agents"), "baselines": ("agents",), "agents": ()}
#: optional extras the core may import only inside a function (so `import splitenv` and the
#: core CLI work with numpy, scipy, gymnasium and pyyaml alone)
OPTIONAL = ("torch", "matplotlib", "stable_baselines3", "sb3_contrib", "alns", "cvxpy",
            "tensorboard", "transformers", "datasets", "safetensors", "tokenizers", "ray",
            "tqdm", "rich")  # fmt: skip


def _imports(tree: ast.AST) -> list[tuple[str, int, bool]]:
    """(module, line, at module level) of every import, import-from and import_module("x")."""
    top = {id(node) for node in getattr(tree, "body", [])}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(a.name, node.lineno, id(node) in top) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, node.lineno, id(node) in top))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", ""))
            in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.args[0].value, node.lineno, False))
    return found


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("package", sorted(ABOVE))
def test_no_package_imports_a_layer_above_it(package):
    bad = []
    for path in _modules(package):
        for module, line, _ in _imports(ast.parse(path.read_text(), str(path))):
            if module.split(".")[0] in ABOVE[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    assert not bad, "upward imports:\n" + "\n".join(bad)


def test_core_imports_optional_extras_only_inside_functions():
    bad = []
    for path in _modules("splitenv"):
        for module, line, top in _imports(ast.parse(path.read_text(), str(path))):
            if top and module.split(".")[0] in OPTIONAL:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module} at module level")
    assert not bad, "\n".join(bad)


def test_the_walk_sees_lazy_and_dynamic_imports():
    # the checker itself: a lazy import, a from-import and import_module are all found
    src = "def f():\n    import agents.x\n    from baselines import y\n    importlib.import_module('agents')\n"
    assert [(m, top) for m, _, top in _imports(ast.parse(src))] == [
        ("agents.x", False), ("baselines", False), ("agents", False),
    ]  # fmt: skip


def test_import_linter_contract():
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "import-linter is a dev dependency: pip install -e '.[dev]'"
    run = subprocess.run([exe, "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 kept, 0 broken" in run.stdout, run.stdout
