"""Run the main job's benchmark (`splitenv run`) and rewrite README.md's results table.

Run: ``python benchmarks/readme_table.py [--readme README.md] [--out results/run]``.
The table between ``<!-- results:start -->`` and ``<!-- results:end -->`` is replaced by
the summary the harness wrote (``summary.md``), so the README's numbers are never typed by
hand. Decision times are wall-clock on the machine that ran it.
"""

import argparse
import re
import sys
from pathlib import Path

from baselines.harness import main_job
from baselines.harness.matrix import matrix, matrix_markdown

START, END = "<!-- results:start -->", "<!-- results:end -->"


def _bold_headings(markdown: str) -> list[str]:
    return [
        f"**{line.lstrip('#').strip()}**" if line.startswith(("## ", "### ")) else line
        for line in markdown.splitlines()
    ]


def render(markdown: str, arena_rows: list | None = None) -> str:
    """The main job as README text: the arena's matrix first, then the SCCT summary."""
    parts = []
    if arena_rows:
        parts += [
            f"`splitenv run`, the arena: every scenario at the `joint` timescale, the first "
            f"{main_job.N_SEEDS} instances of each test set, one decision per episode "
            f"({main_job.ARENA_ROUNDS} round x {main_job.ARENA_EPOCHS} epoch); the full "
            f"tables with paired gaps are in `results/run/{main_job.ARENA_DIR}/summary.md`.",
            "",
            *_bold_headings(matrix_markdown(matrix(arena_rows))),
            "",
        ]
    parts += [
        f"`splitenv run`: first {main_job.N_SEEDS} instances of the `{main_job.SCENARIO}` "
        "test set; at `joint` the method decides everything, at `round` it chooses the split "
        "and SCCT's Alg. 1 allocates every epoch.",
        "",
        *_bold_headings(markdown),
    ]
    return "\n".join(parts).strip()


def rewrite(readme: Path, table: str) -> None:
    text = readme.read_text()
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        sys.exit(f"{readme}: markers {START} / {END} not found")
    readme.write_text(pattern.sub(lambda _: f"{START}\n{table}\n{END}", text, count=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--readme", default="README.md")
    parser.add_argument("--out", default=str(main_job.DEFAULT_OUT))
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    result = main_job.run(args.out, workers=args.workers, overwrite=True)
    arena = main_job.run_arena(
        Path(args.out) / main_job.ARENA_DIR, workers=args.workers, overwrite=True
    )
    rewrite(Path(args.readme), render(result.markdown, arena.rows))
    print(f"rewrote the results table of {args.readme} from {result.summary_path}")


if __name__ == "__main__":
    main()
