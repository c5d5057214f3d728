"""The documentation site builds with ``mkdocs build --strict``: a broken link, a missing anchor or an API object
mkdocstrings cannot find fails it, and so does a page on disk that the navigation leaves out."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _build(config: Path, site: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(config), "-d", str(site)]
    return subprocess.run(command, cwd=REPO, capture_output=True, text=True, env=env, timeout=240)


@pytest.mark.slow
def test_the_site_builds_strictly(tmp_path):
    built = _build(REPO / "mkdocs.yml", tmp_path / "site")
    assert built.returncode == 0, built.stderr[-4000:]
    api = (tmp_path / "site" / "reference" / "api" / "nn" / "index.html").read_text(encoding="utf-8")
    assert "seqkit.nn.encoder.RecurrentEncoder" in api and "Inputs" in api  # rendered from the docstrings
    assert (tmp_path / "site" / "results" / "index.html").exists()


def test_a_broken_anchor_fails_a_build_with_the_sites_settings(tmp_path):
    """The strictness is real: two pages under the site's own settings (theme, link validation, markdown) build,
    and one link to a heading that does not exist fails them."""
    settings = (REPO / "mkdocs.yml").read_text(encoding="utf-8").split("\nplugins:")[0]
    config = tmp_path / "mkdocs.yml"
    config.write_text(settings + "\nplugins:\n  - search\nnav:\n  - a.md\n  - b.md\n", encoding="utf-8")
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "b.md").write_text("# B\n\n## Here\n", encoding="utf-8")
    (tmp_path / "docs" / "a.md").write_text("# A\n\n[there](b.md#here)\n", encoding="utf-8")
    assert _build(config, tmp_path / "site").returncode == 0
    (tmp_path / "docs" / "a.md").write_text("# A\n\n[there](b.md#no-such-heading)\n", encoding="utf-8")
    built = _build(config, tmp_path / "site")
    assert built.returncode != 0 and "no-such-heading" in built.stderr


def test_every_page_is_in_the_navigation():
    config = (REPO / "mkdocs.yml").read_text(encoding="utf-8")
    in_nav = set(re.findall(r":\s*([\w/.-]+\.md)\s*$", config, flags=re.M))
    pages = {str(p.relative_to(REPO / "docs")) for p in (REPO / "docs").rglob("*.md")}
    assert pages == in_nav


def test_the_readme_is_a_front_page_that_links_into_the_docs():
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= 200
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (REPO / target).exists(), target
    assert not re.search(r"\bissue \d+|\bbranch `", readme)  # no history on the front page


def test_the_docs_tell_no_history():
    for page in (REPO / "docs").rglob("*.md"):
        text = page.read_text(encoding="utf-8")
        assert not re.search(r"\bissues? \d+|\bissue\d+|on branch|this stop\b", text, flags=re.I), page
