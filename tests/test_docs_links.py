"""The docs cannot drift from themselves: every relative link and anchor in README.md and
docs/ resolves, and every page under docs/ is reachable from the README."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

from helpers import ROOT

LINK = re.compile(r'!?\[[^\]]*\]\(([^)\s]+)\)')
FENCE = re.compile(r'```.*?```', re.S)


def pages() -> list[Path]:
    return [ROOT / 'README.md'] + sorted((ROOT / 'docs').rglob('*.md'))


def slug(title: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces to hyphens."""
    return re.sub(r'[^\w\- ]', '', title.strip().lower()).replace(' ', '-')


def anchors(page: Path) -> set[str]:
    text = FENCE.sub('', page.read_text(encoding='utf-8'))
    return {slug(m.group(1)) for m in re.finditer(r'(?m)^#{1,6} (.*)$', text)}


def links(page: Path) -> list[str]:
    return LINK.findall(FENCE.sub('', page.read_text(encoding='utf-8')))


def broken_links(page: Path) -> list[str]:
    """The links of ``page`` whose file or anchor does not exist."""
    bad = []
    for target in links(page):
        if re.match(r'^[a-z]+:', target):
            continue
        path, _, frag = target.partition('#')
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            bad.append(f'{target} (no file {dest})')
        elif frag and dest.suffix == '.md' and frag not in anchors(dest):
            bad.append(f'{target} (no heading #{frag} in {dest.name})')
    return bad


@pytest.mark.parametrize('page', pages(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_link_and_anchor_resolves(page):
    assert broken_links(page) == []


def test_a_drifted_link_or_anchor_is_caught(tmp_path):
    (tmp_path / 'a.md').write_text('# Title\n\n## Some section\n', encoding='utf-8')
    page = tmp_path / 'b.md'
    page.write_text('[ok](a.md#some-section) [gone](a.md#renamed) [file](missing.md)\n'
                    '```\n[in code](nowhere.md)\n```\n', encoding='utf-8')
    assert broken_links(page) == ['a.md#renamed (no heading #renamed in a.md)',
                                  f'missing.md (no file {tmp_path / "missing.md"})']


def test_every_docs_page_is_reachable_from_the_readme():
    seen, todo = set(), [ROOT / 'README.md']
    while todo:
        page = todo.pop()
        if page in seen:
            continue
        seen.add(page)
        for target in links(page):
            path = target.partition('#')[0]
            if path.endswith('.md') and not re.match(r'^[a-z]+:', path):
                dest = (page.parent / path).resolve()
                if dest.exists():
                    todo.append(dest)
    assert sorted(set(pages()) - seen) == []
