"""The documentation (README.md and docs/*.md): every relative link and image resolves to a file
and, for a markdown file, a heading; every docs page is in mkdocs.yml's nav and linked from the
README; ``mkdocs build --strict`` passes; every ``qattn`` command line shown parses with the
CLI's own parser (its subcommand and each ``--flag``, those in a line's comment included).
The quick-start code blocks run in tests/test_readme.py; the two set-up commands are checked
in tests/test_project.py."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "docs").glob("*.md"))
DOCUMENTS = [ROOT / "README.md", *PAGES]

FENCED = re.compile(r"^```[^\n]*\n.*?^```[ \t]*$", re.S | re.M)
BASH_BLOCK = re.compile(r"^```(?:bash|sh|shell)[ \t]*\n(.*?)^```", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$", re.M)
SHELL_OPERATORS = {"|", "||", "&&", ";", "&"}


def prose(text: str) -> str:
    """The text outside fenced code blocks (links and headings in code are not links)."""
    return FENCED.sub("", text)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    for match in HEADING.finditer(prose(path.read_text())):
        base = slug(match.group(2))
        seen[base] = seen.get(base, -1) + 1
        seen.setdefault(f"{base}-{seen[base]}" if seen[base] else base, 0)
    return set(seen)


def link_problems(path: Path, root: Path = ROOT) -> list[str]:
    """One line per relative link of ``path`` whose file or heading does not exist."""
    problems = []
    for target in LINK.findall(prose(path.read_text())):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        file_part, _, anchor = target.partition("#")
        linked = (path.parent / file_part).resolve() if file_part else path
        where = f"{path.relative_to(root)}: {target}"
        if not linked.is_relative_to(root.resolve()):
            problems.append(f"{where}: points outside the repository")
        elif not linked.exists():
            problems.append(f"{where}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{where}: no heading with anchor #{anchor} in {linked.name}")
    return problems


class TestLinks:
    def test_every_link_resolves(self):
        assert [p for path in DOCUMENTS for p in link_problems(path)] == []

    def test_a_broken_file_or_anchor_is_reported(self, tmp_path):
        (tmp_path / "other.md").write_text("# Other page\n\n## Set-up: two commands\n")
        page = tmp_path / "page.md"
        page.write_text("# Page\n\n[ok](other.md#set-up-two-commands) [self](#page) "
                        "![img](missing.png) [gone](other.md#set-up) "
                        "[web](https://example.org/x.md)\n\n```\n[in code](nowhere.md)\n```\n")
        assert link_problems(page, tmp_path) == [
            "page.md: missing.png: no such file",
            "page.md: other.md#set-up: no heading with anchor #set-up in other.md"]

    def test_slugs_match_githubs(self):
        assert slug("Aspect sentiment on MAMS-ACSA (issue 20)") == "aspect-sentiment-on-mams-acsa-issue-20"
        assert slug("Running on a QPU") == "running-on-a-qpu"
        assert slug("Model quality: the recipe and its baselines") == \
            "model-quality-the-recipe-and-its-baselines"


class TestSite:
    def test_every_page_is_in_the_nav_and_linked_from_the_readme(self):
        nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
        in_nav = sorted(file for entry in nav for file in entry.values())
        assert in_nav == [p.name for p in PAGES]
        linked = {(ROOT / t.partition("#")[0]).resolve()
                  for t in LINK.findall(prose((ROOT / "README.md").read_text()))}
        assert [p.name for p in PAGES if p.resolve() not in linked] == []

    def mkdocs_build(self, config: Path, site: Path) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
                               str(config), "--site-dir", str(site)],
                              capture_output=True, text=True, timeout=300)

    def test_mkdocs_build_strict_passes(self, tmp_path):
        result = self.mkdocs_build(ROOT / "mkdocs.yml", tmp_path / "site")
        assert result.returncode == 0, result.stderr[-3000:]
        for page in PAGES:
            name = "index.html" if page.stem == "index" else f"{page.stem}/index.html"
            assert (tmp_path / "site" / name).is_file(), name

    def test_mkdocs_build_strict_fails_on_a_broken_anchor(self, tmp_path):
        shutil.copy(ROOT / "mkdocs.yml", tmp_path / "mkdocs.yml")
        shutil.copytree(ROOT / "docs", tmp_path / "docs")
        with open(tmp_path / "docs" / "index.md", "a") as index:
            index.write("\n[broken](layer.md#no-such-heading)\n")
        result = self.mkdocs_build(tmp_path / "mkdocs.yml", tmp_path / "site")
        assert result.returncode != 0
        assert "no-such-heading" in result.stderr


def qattn_parsers() -> tuple[set[str], dict[str, set[str]]]:
    """The top-level options and, per subcommand, its option strings (the torch-free parser)."""
    from qattn_hybrid.cli.parser import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    options = {name: {s for a in p._actions for s in a.option_strings}
               for name, p in sub.choices.items()}
    return {s for a in parser._actions for s in a.option_strings}, options


def documented_commands(text: str) -> list[tuple[str, list[str]]]:
    """(line, words after ``qattn``) of every qattn command in the text's shell blocks and
    inline code; the words of a line's comment are appended (a flag named there is documented
    too)."""
    lines = []
    for block in BASH_BLOCK.findall(text):
        lines += block.replace("\\\n", " ").splitlines()
    lines += re.findall(r"`(qattn [^`]+)`", prose(text))
    commands = []
    for line in lines:
        code, _, comment = line.partition(" #")
        if not re.search(r"(^|\s)(qattn|-m qattn_hybrid\.cli)\s", code):
            continue
        lexer = shlex.shlex(code, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        segment: list[str] = []
        for word in [*lexer, ";"]:
            if word not in SHELL_OPERATORS:
                segment.append(word)
                continue
            starts = [i for i, w in enumerate(segment) if w in ("qattn", "qattn_hybrid.cli.parser")]
            if starts:
                words = segment[starts[0] + 1:]
                commands.append((line.strip(), words + re.findall(r"--[\w-]+", comment)))
            segment = []
    return commands


class TestCommands:
    def problems(self, text: str) -> list[str]:
        top, options = qattn_parsers()
        found = []
        for line, words in documented_commands(text):
            if not words or words[0].startswith("-"):
                found += [f"{line}: qattn has no option {w}" for w in words
                          if w.startswith("--") and w not in top]
            elif words[0] not in options:
                found.append(f"{line}: no subcommand {words[0]!r}")
            else:
                found += [f"{line}: qattn {words[0]} has no option {w.split('=')[0]}"
                          for w in words[1:]
                          if w.startswith("--") and w.split("=")[0] not in options[words[0]]]
        return found

    def test_every_documented_command_and_flag_exists(self):
        commands = [c for path in DOCUMENTS for c in documented_commands(path.read_text())]
        assert len(commands) > 40  # the docs show most commands; a broken parse finds none
        assert {words[0] for _, words in commands} >= {
            "train", "eval", "probe", "predict", "attend", "rank", "export", "serve",
            "serve-ray", "monitor", "draw", "cost"}
        assert [p for path in DOCUMENTS for p in self.problems(path.read_text())] == []

    def test_an_unknown_subcommand_or_flag_is_reported(self):
        text = ("```bash\nqattn train c.toml --resume --no-such-flag  # or --also-missing\n"
                "tail -F x | qattn monitr run\n"
                "torchrun --nproc_per_node 2 -m qattn_hybrid.cli.parser eval run --json\n```\n"
                "Inline: `qattn serve run --port 8000 --colour`.\n")
        assert self.problems(text) == [
            "qattn train c.toml --resume --no-such-flag  # or --also-missing: qattn train has "
            "no option --no-such-flag",
            "qattn train c.toml --resume --no-such-flag  # or --also-missing: qattn train has "
            "no option --also-missing",
            "tail -F x | qattn monitr run: no subcommand 'monitr'",
            "qattn serve run --port 8000 --colour: qattn serve has no option --colour"]
