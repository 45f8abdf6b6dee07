"""tools/mutation.py's list of mutants follows the code: every snippet is found exactly once.

The tool reports a snippet it cannot place as "not applied", but only when it is run; this
test keeps the list from going stale between runs (refactors that move or duplicate the
mutated lines). It also checks that each mutant changes its snippet and that the mutated
module still compiles: a mutant must be killed by the tests, not by a SyntaxError.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _load_tool():
    """tools/mutation.py by path (tools/ is no package and stays out of the installed ones)."""
    name = "splitenv_tools_mutation"
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, ROOT / "tools" / "mutation.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


tool = _load_tool()
MUTANTS = [tool.CANARY, *tool.MUTANTS]
#: the package trees' modules, read once for all mutants
SOURCES = tool.package_sources(ROOT)


def test_mutant_names_are_unique_and_described():
    names = [m.name for m in MUTANTS]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert all(m.what.strip() and "\n" not in m.what for m in MUTANTS)


@pytest.mark.parametrize("mutant", MUTANTS, ids=lambda m: m.name)
def test_each_snippet_occurs_once_and_the_mutant_compiles(mutant):
    assert mutant.new != mutant.old
    path, why = tool.locate(mutant, ROOT, SOURCES)
    assert path is not None, f"{mutant.name}: {why}; update tools/mutation.py"
    assert path.parts[0] in tool.PACKAGES
    compile(SOURCES[path].replace(mutant.old, mutant.new), str(path), "exec")


def test_no_two_mutants_make_the_same_change():
    """Mutants may share a snippet (cap and sqrt_all) but not the change itself."""
    seen: dict[tuple[str, str], str] = {}
    for m in MUTANTS:
        key = (m.old, m.new)
        assert key not in seen, f"{m.name} repeats {seen[key]}"
        seen[key] = m.name
