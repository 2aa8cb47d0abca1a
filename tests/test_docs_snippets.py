"""The Python snippets of README.md and docs/ run as written (configs, which start with
``_base_``, are read as configs elsewhere and skipped here)."""
from __future__ import annotations

import re

import pytest

from helpers import ROOT

PAGES = [ROOT / 'README.md', *sorted((ROOT / 'docs').rglob('*.md'))]
FENCE = re.compile(r'^```python\n(.*?)^```', re.S | re.M)


def snippets() -> list[tuple[str, str]]:
    """(page:index, code) of every ```python block that is a program, not a config."""
    found = []
    for page in PAGES:
        blocks = FENCE.findall(page.read_text(encoding='utf-8'))
        for k, code in enumerate(blocks):
            if not re.search(r'^_base_\s*=', code, re.M):
                found.append((f'{page.relative_to(ROOT)}:{k}', code))
    return found


SNIPPETS = snippets()


def test_the_docs_have_runnable_snippets():
    pages = {name.split(':')[0] for name, _ in SNIPPETS}
    assert {'docs/user_guides/python_api.md', 'docs/user_guides/backbones.md',
            'docs/user_guides/tree_model.md'} <= pages


@pytest.mark.parametrize('name, code', SNIPPETS, ids=[name for name, _ in SNIPPETS])
def test_snippet_runs_as_written(name, code, monkeypatch):
    monkeypatch.chdir(ROOT)                  # snippets name repository paths
    exec(compile(code, name, 'exec'), {'__name__': '__snippet__'})


def test_a_broken_snippet_fails():
    with pytest.raises(NameError, match='images'):
        exec(compile('import torch\nfeatures = torch.nn.Identity()(images)\n', 'drift', 'exec'),
             {})
