"""The README and docs/ read end to end: every bash, sql and python block runs, in reading order,
in a fresh virtual environment with the package installed from the repository; every link
points at a file and heading that exist."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.conftest import REPO

# Reading order: the README's tour makes the run ($RUN) the pages after it use.
PAGES = (
    "README.md",
    "docs/user-guide.md",
    "docs/scenarios.md",
    "docs/sql.md",
    "docs/operators.md",
    "docs/security.md",
    "docs/design.md",
    "docs/day-ii.md",  # last: it points $RUN at a bus-route run
)
BLOCK = re.compile(r"^ *```(\w*)\n(.*?)^ *```", re.S | re.M)  # also a block indented in a list item
RUN_AS = {"bash", "sql", "python"}


def blocks(page: str) -> list[tuple[str, int, str]]:
    """(language, line, text) of every fenced block of ``page``."""
    text = (REPO / page).read_text(encoding="utf-8")
    return [(m.group(1), text.count("\n", 0, m.start()) + 1, textwrap.dedent(m.group(2))) for m in BLOCK.finditer(text)]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_every_page_is_read():
    assert sorted(PAGES) == sorted(["README.md", *(f"docs/{p.name}" for p in (REPO / "docs").glob("*.md"))])


def test_every_link_points_at_a_file_and_heading_that_exist():
    for page in PAGES:
        text = (REPO / page).read_text(encoding="utf-8")
        prose = BLOCK.sub("", text)
        for target in re.findall(r"\]\(([^)\s]+)\)", prose):
            if re.match(r"[a-z]+://", target):
                continue
            path, _, anchor = target.partition("#")
            file = (REPO / page).parent / path if path else REPO / page
            assert file.exists(), f"{page}: link to {target}: no such file"
            if anchor and file.suffix == ".md":
                body = BLOCK.sub("", file.read_text(encoding="utf-8"))
                anchors = {slug(h) for h in re.findall(r"^#+ (.*)$", body, re.M)}
                assert anchor in anchors, f"{page}: link to {target}: no such heading"


def test_the_set_up_block_is_what_ci_runs():
    """The one block the tests do not run: it installs system packages and fetches Python
    packages from the network. .ci/run installs and tests the same way."""
    setup = [text for lang, _, text in blocks("README.md") if lang == "sh"]
    assert len(setup) == 1 and [lang for page in PAGES for lang, _, _ in blocks(page) if lang == "sh"] == ["sh"]
    demo, tests = [line for line in setup[0].splitlines() if line and not line.startswith("#")]
    assert "python3 -m venv .venv" in demo and demo.endswith("pip install . && v2x run demo")
    assert tests.endswith("pip install -e '.[test]' && pytest")
    ci = (REPO / ".ci" / "run").read_text(encoding="utf-8")
    assert "pip install -q -e '.[test]'" in ci and "\npython3 -m pytest\n" in ci
    for package in ("mosquitto", "openssl", "gcc", "chromium"):
        assert package in tests and package in ci


def script(work: Path) -> str:
    """One bash script of every runnable block, each announced on stderr with its page and line."""
    out = ["set -euo pipefail"]
    for page in PAGES:
        for k, (lang, line, text) in enumerate(blocks(page)):
            if lang not in RUN_AS:
                continue
            out.append(f"echo '=== {page}:{line}' >&2")
            if lang == "bash":
                out.append(text)
            elif lang == "sql":
                out.append(f"v2x sql \"$RUN\" <<'SQL_BLOCK'\n{text}SQL_BLOCK")
            else:
                name = f"{'test_' if 'def test_' in text else ''}block_{Path(page).stem.replace('-', '_')}_{k}.py"
                (work / name).write_text(text, encoding="utf-8")
                runner = "python -m pytest -q -p no:cacheprovider" if name.startswith("test_") else "python"
                out.append(f'RUN="$RUN" {runner} {name}')
    return "\n".join(out) + "\n"


@pytest.mark.long  # 8 to 9 minutes here (the timeout allows for a machine three times as loaded)
@pytest.mark.broker
def test_every_block_of_the_readme_and_the_docs_runs_in_a_fresh_virtual_environment(tmp_path):
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "__pycache__", "*.egg-info", "build"))
    venv = tmp_path / "venv"
    # The dependencies come from this environment's site-packages: no network in tests. The venv
    # has no pip (and no old setuptools of its own); this environment's pip installs into it.
    subprocess.run([sys.executable, "-m", "venv", "--system-site-packages", "--without-pip", str(venv)], check=True)
    target = ["--python", str(venv / "bin" / "python")]
    install = subprocess.run(
        [sys.executable, "-m", "pip", *target, "install", "-q", "--no-deps", "--no-build-isolation", "--no-index", str(source)],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    work = tmp_path / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "V2X_BROKER", "V2X_TIME_ZONE", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}:{env.get('PATH', '')}:/usr/sbin:/sbin"
    proc = subprocess.run(["bash", "-c", script(work)], cwd=work, env=env, capture_output=True, text=True, timeout=3000)
    done = re.findall(r"^=== (.*)$", proc.stderr, re.M)
    assert proc.returncode == 0, f"failed in {done[-1] if done else '?'}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    runnable = [f"{page}:{line}" for page in PAGES for lang, line, _ in blocks(page) if lang in RUN_AS]
    assert done == runnable
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import v2x; print(v2x.__file__)"], capture_output=True, text=True, cwd=work, env=env
    )
    assert str(venv) in installed.stdout  # the docs ran the installed package, not the source tree
    assert "PASS: 8 of 8 expectations of demo held" in proc.stdout  # the tour's demo
    assert (work / "report.md").read_text(encoding="utf-8").startswith("## Compliance: **PASS**")
    assert "held" in proc.stdout and (work / "runs" / "zone" / "telemetry").is_dir()
    spat = (work / "spat.txt").read_text(encoding="utf-8").splitlines()  # the operator's guide's v2x watch
    assert len(spat) == 6 and all(" SPAT " in x and " success " in x for x in spat), spat
    assert 'v2x_ingest_messages_total{auth="success",msg_type="BSM"}' in proc.stdout  # and its metrics
