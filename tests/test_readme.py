"""Every ```python block of README.md marked as a quick start runs as written.

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


def quick_start_blocks() -> list[tuple[str, str]]:
    return [(m.group(1), m.group(2)) for m in MARKED.finditer((ROOT / "README.md").read_text())]


def test_readme_has_a_quick_start():
    assert quick_start_blocks(), "README.md has no ```python block after <!-- quick-start -->"


@pytest.mark.parametrize("name, code", quick_start_blocks() or [("none", "")],
                         ids=lambda v: v if isinstance(v, str) and "\n" not in v else "")
def test_quick_start_block_runs(name, code, tmp_path):
    if not code:
        pytest.skip("no quick-start block")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            timeout=600, cwd=tmp_path, env=env)
    assert result.returncode == 0, f"README block {name!r} failed:\n{result.stderr[-3000:]}"
