"""Every relative link and image of the README and of docs/ points at a file that exists (the
README is a short tour; the pages it links carry the rest)."""

import re

import pytest

from tests.helpers import REPO_ROOT

PAGES = [REPO_ROOT / "README.md", *sorted((REPO_ROOT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_resolve(page):
    targets = [t for t in LINK.findall(page.read_text()) if not re.match(r"[a-z]+://|mailto:", t)]
    if page.name == "README.md":
        assert len(targets) >= 8      # the tour's pages and the figure
    missing = [t for t in targets if not (page.parent / t).exists()]
    assert not missing, f"{page.name}: {missing}"
