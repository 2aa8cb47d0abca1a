"""The docs' commands cannot drift from the tools: every ``python tools/...``, ``torchrun ...
tools/...`` or ``python benchmarks/...`` command in a code block of README.md or docs/ names a
script that
exists, passes only flags its parser accepts, and sets with ``--cfg-options`` only keys the
named config has."""
from __future__ import annotations

import functools
import re
import shlex
import subprocess
import sys

import pytest
from test_docs_links import pages

from helpers import ROOT

BLOCK = re.compile(r'```[a-z]*\n(.*?)```', re.S)
COMMAND = re.compile(r'(?:python|torchrun\b[^\n]*?) ((?:tools|benchmarks)/[\w/]+\.py)(.*)')


def commands(page) -> list[tuple[str, list[str]]]:
    """(script, arguments) of every tool command in the code blocks of ``page``; line
    continuations joined, comments and ``[optional]`` placeholders dropped."""
    out = []
    for block in BLOCK.findall(page.read_text(encoding='utf-8')):
        for line in block.replace('\\\n', ' ').splitlines():
            m = COMMAND.search(line.split(' #')[0])
            if m:
                rest = re.sub(r'\[[^\]]*\]', ' ', m.group(2)).split('&&')[0]
                out.append((m.group(1), shlex.split(rest, posix=True)))
    return out


ALL = [(page, script, args) for page in pages() for script, args in commands(page)]


@functools.lru_cache(maxsize=None)
def flags_of(script: str) -> frozenset[str]:
    """The option strings ``script --help`` lists."""
    proc = subprocess.run([sys.executable, script, '--help'], cwd=str(ROOT), capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return frozenset(re.findall(r'(?<![\w-])(--[a-z][\w-]*)', proc.stdout))


def check(script: str, args: list[str]) -> list[str]:
    """What is wrong with one documented command (empty: nothing)."""
    if not (ROOT / script).is_file():
        return [f'{script} does not exist']
    problems = [f'{script}: unknown flag {a}' for a in args
                if a.startswith('--') and a.split('=')[0] not in flags_of(script)]
    if '--cfg-options' in args:
        config = next((a for a in args if a.endswith('.py') and (ROOT / a).is_file()), None)
        if config is not None:
            from treemtl_plugin.apis.config import load_config
            cfg = load_config(str(ROOT / config))
            start = args.index('--cfg-options') + 1
            for item in args[start:]:
                if item.startswith('--'):
                    break
                key = item.split('=', 1)[0]
                node = cfg
                for part in key.split('.')[:-1]:
                    node = node.get(part) if hasattr(node, 'get') else None
                if node is None or key.split('.')[-1] not in node:
                    problems.append(f'{script}: --cfg-options key {key} is not in {config}')
    return problems


def test_the_docs_show_tool_commands():
    assert len(ALL) >= 15 and {s for _, s, _ in ALL} >= {'tools/recommend.py', 'tools/train.py',
                                                         'tools/test.py'}


@pytest.mark.parametrize('script', sorted({s for _, s, _ in ALL}))
def test_every_documented_command_runs_as_written(script):
    problems = [f'{page.relative_to(ROOT)}: {p}' for page, s, args in ALL if s == script
                for p in check(s, args)]
    assert problems == []


def test_a_drifted_command_is_caught():
    assert check('tools/recomend.py', []) == ['tools/recomend.py does not exist']
    assert check('tools/recommend.py', ['--max-model', '2']) == \
        ['tools/recommend.py: unknown flag --max-model']
    config = 'configs/teacher/tree_resnet10t_narrow_teacher_middepth_3task.py'
    assert check('tools/recommend.py', [config, '--cfg-options', 'model.backbone.model_nam=x']) \
        == [f'tools/recommend.py: --cfg-options key model.backbone.model_nam is not in {config}']
