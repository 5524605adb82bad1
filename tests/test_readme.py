"""Every ```python block of README.md and docs/*.md marked as a quick start runs as written.

A block counts when the line before its fence is an HTML comment starting with
``quick-start``: ``<!-- quick-start -->`` or ``<!-- quick-start: training -->``. Each block runs
in a fresh interpreter, in an empty working folder, offline.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
MARKED = re.compile(r"<!--\s*(quick-start[^>]*?)\s*-->\s*\n```python\n(.*?)```", re.S)
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]


def marked_blocks(text: str) -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in MARKED.finditer(text)]


def quick_start_blocks(paths=DOCUMENTS) -> list[tuple[str, str]]:
    """(name, code) of every marked block; the name says where it is: 'docs/serving.md: quick-start: fold'."""
    return [(f"{path.relative_to(ROOT)}: {marker}", code)
            for path in paths for marker, code in marked_blocks(path.read_text())]


def test_readme_has_a_quick_start():
    assert quick_start_blocks([ROOT / "README.md"]), \
        "README.md has no ```python block after <!-- quick-start -->"


def test_the_docs_quick_starts_are_collected():
    """The marked blocks moved out of the README (folding, masking) are found in docs/ and run."""
    names = [name for name, _ in quick_start_blocks()]
    assert "docs/serving.md: quick-start: fold" in names
    assert "docs/serving.md: quick-start: masking" in names


def test_a_block_counts_only_after_its_marker():
    text = ("<!-- quick-start: a -->\n```python\nx = 1\n```\n\n```python\ny = 2\n```\n"
            "<!-- note -->\n```python\nz = 3\n```\n")
    assert marked_blocks(text) == [("quick-start: a", "x = 1\n")]


@pytest.mark.parametrize("name, code", quick_start_blocks(),
                         ids=[name for name, _ in quick_start_blocks()])
def test_quick_start_block_runs(name, code, tmp_path):
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path, env=env)
    assert result.returncode == 0, f"block {name!r} failed:\n{result.stderr[-3000:]}"
