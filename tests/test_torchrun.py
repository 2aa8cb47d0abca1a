"""The torchrun paths of docs/user_guides/sweep.md ("Scaling out"), run for real: two CPU
processes (gloo) launched by ``torchrun --standalone --nproc-per-node 2``.

* ``tools/train.py EXPORTED --launcher pytorch`` on an exported config of the README default:
  both ranks finish, one checkpoint is written, the comparison with the single-task models is
  printed once; ``--resume`` with the same command continues from that checkpoint;
* the console script (``torchrun --no-python treemtl-train ...``) does the same;
* ``tools/recommend.py CONFIG --launcher pytorch --workers 1``: every sweep run is trained
  once, by both ranks together (rank 0 claims, the others follow), and the recommendation is
  written.

Each launch takes about 10-15 s on 2 cores. Skipped only where torchrun is missing.
"""
from __future__ import annotations

import collections
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, tiny_config

pytestmark = pytest.mark.slow

README_CFG = ROOT / 'configs' / 'teacher' / 'tree_resnet10t_narrow_teacher_middepth_3task.py'
TORCHRUN = shutil.which('torchrun')
LAUNCH_S = 300
COMPARISON = 'relative performance (%) vs the single-task models'
# a CI-sized schedule: 4 iterations, validated and saved at the end, logged every iteration
SHORT = ['train_cfg.max_iters=4', 'train_cfg.val_interval=4',
         'default_hooks.checkpoint.interval=4', 'default_hooks.logger.interval=1']


def torchrun(*args, timeout: float = LAUNCH_S) -> subprocess.CompletedProcess:
    """``torchrun --standalone --nproc-per-node 2 ARGS`` from the repository root."""
    if TORCHRUN is None:
        pytest.skip('torchrun is not on PATH (it comes with torch)')
    env = {k: v for k, v in os.environ.items()
           if k not in ('RANK', 'LOCAL_RANK', 'WORLD_SIZE', 'MASTER_ADDR', 'MASTER_PORT')}
    env.update(OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    proc = subprocess.run([TORCHRUN, '--standalone', '--nproc-per-node', '2', *map(str, args)],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout, env=env)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-4000:]
    return proc


@pytest.fixture(scope='module')
def exported(tmp_path_factory) -> Path:
    """The rank-1 config exported by a recommendation on the README default (its sweep
    faked: this module tests the launch, not the sweep)."""
    from treemtl_plugin.apis import run_recommendation
    from treemtl_plugin.apis.config import load_config
    from treemtl_plugin.engine.runner import TEST_METRICS_KEY
    work = tmp_path_factory.mktemp('default')

    def fake_train(cfg):
        scores = {f'{t}/mse': 1.0 for t in cfg.model.tasks}
        return dict(scores, **({TEST_METRICS_KEY: scores} if cfg.get('test_after_train')
                               else {}))
    cfg = load_config(str(README_CFG), {'sweep.workers': 1})
    run = run_recommendation(cfg, str(work), log=lambda m: None, train_fn=fake_train)
    return Path(run.exported[0])


def checkpoints(work_dir: Path) -> list[str]:
    return sorted(p.name for p in work_dir.glob('*.pth'))


def train_log(work_dir: Path) -> str:
    return '\n'.join(p.read_text() for p in sorted(work_dir.glob('*/*.log')))


def test_train_on_two_processes_then_resume(exported, tmp_path):
    work = tmp_path / 'ddp'
    first = torchrun('tools/train.py', exported, '--launcher', 'pytorch', '--work-dir', work,
                     '--cfg-options', *SHORT)
    assert checkpoints(work) == ['iter_4.pth']
    log = train_log(work)
    assert 'Distributed training: True' in log and "launcher = 'pytorch'" in log
    assert re.search(r'Iter\(train\) \[4/4\]', log)
    assert first.stdout.count(COMPARISON) == 1            # gathered once, printed by rank 0
    assert (work / 'relative_performance_val.json').is_file()
    # the same command with --resume (and a longer schedule) goes on from iter 4
    torchrun('tools/train.py', exported, '--launcher', 'pytorch', '--work-dir', work,
             '--resume', '--cfg-options', *SHORT[1:], 'train_cfg.max_iters=6')
    assert checkpoints(work) == ['iter_4.pth', 'iter_6.pth']
    resumed = train_log(work).split('Iter(train) [4/4]')[-1]
    assert 'resumed' in resumed.lower() and re.search(r'Iter\(train\) \[5/6\]', resumed)
    assert not re.search(r'Iter\(train\) \[1/6\]', resumed)


def test_the_console_script_launches_the_same(exported, tmp_path):
    if shutil.which('treemtl-train') is None:
        pytest.skip('the treemtl-train console script is not installed (pip install -e .)')
    work = tmp_path / 'script'
    torchrun('--no-python', 'treemtl-train', exported, '--launcher', 'pytorch',
             '--work-dir', work, '--cfg-options', *SHORT)
    assert checkpoints(work) == ['iter_4.pth']


def test_recommend_runs_each_sweep_run_once_on_all_ranks(tmp_path):
    from treemtl_plugin.io.config_file import dump_config
    cfg_path = tmp_path / 'tiny.py'
    dump_config(tiny_config(), str(cfg_path))
    work = tmp_path / 'work'
    proc = torchrun('tools/recommend.py', cfg_path, '--launcher', 'pytorch', '--workers', '1',
                    '--work-dir', work)
    finished = collections.Counter(re.findall(r'^\[sweep\] finished (\S+) in ', proc.stdout,
                                              re.MULTILINE))
    runs = sorted(p.parent.name for p in (work / 'sweep' / 'runs').glob('*/metrics.json'))
    assert len(runs) == 2 + 2 and sorted(finished) == runs     # 2 singles + 1 pair x 2
    assert set(finished.values()) == {1}                        # printed once, by rank 0
    assert (work / 'top_layouts.json').is_file() and list((work / 'exported').glob('*.py'))
    assert sys.executable
