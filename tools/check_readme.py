"""Runs the README's quickstart and checks that it prints what the README says it prints.

The quickstart is the part of README.md between the snippet markers ``[start:quickstart]`` and
``[end:quickstart]`` (the docs site includes the same part, so both show one text): its
``python`` block is run in a fresh interpreter from a temporary directory (so ``import rpusim``
is the installed package, as for a user), and its standard output must equal the ``text`` block
that follows. ``make docs`` runs this check.

    .venv/bin/python tools/check_readme.py
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

README = Path(__file__).resolve().parent.parent / "README.md"

SECTION = re.compile(r"\[start:quickstart\].*?\n(.*?)\[end:quickstart\]", re.S)
BLOCK = re.compile(r"```(\w+)\n(.*?)```", re.S)


def quickstart(readme: str) -> tuple[str, str]:
    """The quickstart's program and the output the README gives for it."""
    section = SECTION.search(readme)
    if section is None:
        raise SystemExit(f"{README}: no section between [start:quickstart] and [end:quickstart]")
    blocks = dict(BLOCK.findall(section.group(1)))
    if set(blocks) != {"python", "text"}:
        raise SystemExit(f"{README}: the quickstart needs one python and one text block")
    return blocks["python"], blocks["text"]


def main() -> None:
    program, expected = quickstart(README.read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as directory:
        result = subprocess.run(
            [sys.executable, "-c", program], cwd=directory, capture_output=True, text=True
        )
    if result.returncode != 0:
        raise SystemExit(f"the README's quickstart failed:\n{result.stderr}")
    if result.stdout != expected:
        raise SystemExit(
            "the README's quickstart printed\n"
            f"{result.stdout}\nbut the README says it prints\n{expected}"
        )
    print(f"README quickstart: prints what README.md says ({len(expected.splitlines())} lines)")


if __name__ == "__main__":
    main()
