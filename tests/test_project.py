"""Project-level promises: README commands, CI, quiet imports, package boundaries."""

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def fenced_block_after(marker: str) -> str:
    text = (ROOT / "README.md").read_text()
    match = re.search(rf"<!-- {marker} -->\s*```\w*\n(.*?)```", text, re.S)
    assert match, f"README.md has no code block after <!-- {marker} -->"
    return match.group(1).strip()


class TestReadme:
    def test_exactly_two_setup_commands(self):
        for marker in ("main-command", "test-command"):
            assert len(fenced_block_after(marker).splitlines()) == 1
            assert "pip install torch==2.13.0" in fenced_block_after(marker)

    def test_torch_cpu_wheel_installed_first(self):
        for marker in ("main-command", "test-command"):
            command = fenced_block_after(marker)
            assert command.index("torch==2.13.0") < command.index("pip install -e")

    def test_ci_runs_the_readme_test_command(self):
        ci = (ROOT / ".ci" / "run").read_text()
        assert fenced_block_after("test-command") in ci.splitlines()


class TestImports:
    def run(self, code: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                              timeout=300, cwd=ROOT)

    def test_import_is_quiet_and_light(self):
        code = ("import sys, qattn_hybrid, circuits\n"
                "heavy = ('transformers', 'braket', 'qiskit', 'pennylane_ionq', 'pennylane_qiskit')\n"
                "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))")
        result = self.run(code)
        assert result.returncode == 0, result.stderr
        assert result.stdout == "[]\n"

    def test_circuits_never_imports_qattn_hybrid(self):
        for path in (ROOT / "circuits").rglob("*.py"):
            source = path.read_text()
            assert not re.search(r"^\s*(from|import)\s+qattn_hybrid", source, re.M), path
            assert not re.search(r"^\s*(from|import)\s+transformers", source, re.M), path
            assert "torch.nn" not in source.replace("torch.nn.functional", ""), path
