"""The documentation site builds without a warning (`mkdocs build --strict`).

The API pages are rendered from the docstrings (mkdocstrings), so a renamed module, a broken
cross-reference or a malformed docstring section fails here.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_mkdocs_build_strict(tmp_path):
    exe = shutil.which("mkdocs", path=str(Path(sys.executable).parent))
    assert exe, 'the docs extra is part of [all]: pip install -e ".[docs]"'
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    run = subprocess.run(
        [exe, "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT, capture_output=True, text=True, timeout=600, env=env,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout[-4000:] + run.stderr[-4000:]
    for page in ("index.html", "scenarios/index.html", "tutorials/add-solver/index.html",
                 "api/env/index.html"):  # fmt: skip
        assert (tmp_path / "site" / page).is_file(), page
    # the MDP is rendered from the env docstring, tables included
    html = (tmp_path / "site" / "scenarios" / "index.html").read_text()
    assert "Action Space" in html and "<table>" in html
