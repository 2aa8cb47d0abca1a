"""A built wheel is a complete install: configs and tools inside the package (OpenMMLab's
.mim layout), console scripts that find them, and no setuptools needed at run time.

The wheel is built from a copy of the sources and installed with ``--no-deps`` into a fresh
venv that sees this environment's torch/mmengine/timm (``--system-site-packages``), so the
test needs no network and no second torch.
"""
from __future__ import annotations

import json
import shutil
import site
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from helpers import ROOT, tiny_config

SOURCES = ('setup.py', 'pyproject.toml', 'MANIFEST.in', 'README.md', 'requirements', 'docs',
           'treemtl_plugin', 'configs', 'tools')
SCRIPTS = ('treemtl-recommend', 'treemtl-train', 'treemtl-test')
#: modules a run must not need: setuptools is not a runtime requirement (on Python >= 3.12
#: distutils comes only with it)
BLOCKER = '''
import sys
BLOCKED = ('setuptools', 'pkg_resources', 'distutils', '_distutils_hack')
for name in [m for m in sys.modules if m.split('.')[0] in BLOCKED]:
    del sys.modules[name]
sys.meta_path[:] = [f for f in sys.meta_path if 'Distutils' not in type(f).__name__]
class _Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in BLOCKED:
            raise ModuleNotFoundError(f'No module named {name!r} (blocked by the test)',
                                      name=name)
sys.meta_path.insert(0, _Blocker())
'''


@pytest.fixture(scope='module')
def wheel(tmp_path_factory) -> Path:
    src = tmp_path_factory.mktemp('src')
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns(
                '__pycache__', '*.pyc', '*.egg-info'))
        else:
            shutil.copy2(path, src / name)
    out = tmp_path_factory.mktemp('dist')
    proc = subprocess.run([sys.executable, '-m', 'pip', 'wheel', '--no-deps',
                           '--no-build-isolation', '--no-index', '-q', '-w', str(out),
                           str(src)], capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    (path,) = out.glob('treemtl_plugin-*.whl')
    return path


@pytest.fixture(scope='module')
def venv(wheel, tmp_path_factory) -> Path:
    env = tmp_path_factory.mktemp('venv')
    subprocess.run([sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip',
                    str(env)], check=True, timeout=300)
    # --system-site-packages reaches the *base* interpreter's packages; when the tests run in
    # a venv themselves, its packages (torch, mmengine, ...) are added after the new venv's own
    (site_dir,) = (env / 'lib').glob('python*/site-packages')
    parents = [d for d in site.getsitepackages() if Path(d).is_dir()]
    (site_dir / 'parent_env.pth').write_text(
        ''.join(f'import site; site.addsitedir({d!r})\n' for d in parents))
    proc = subprocess.run([str(env / 'bin' / 'python'), '-m', 'pip', 'install', '--no-deps',
                           '--no-index', '-q', str(wheel)], capture_output=True, text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return env


def test_wheel_ships_configs_tools_and_console_scripts(wheel):
    with zipfile.ZipFile(wheel) as zf:
        names = set(zf.namelist())
        meta = next(n for n in names if n.endswith('.dist-info/METADATA'))
        requires = [line for line in zf.read(meta).decode().splitlines()
                    if line.startswith('Requires-Dist:')]
        entry = zf.read(next(n for n in names if n.endswith('entry_points.txt'))).decode()
    mim = 'treemtl_plugin/.mim/'
    for path in ('configs/synthetic/tree_resnet18_synthetic_3task.py',
                 'configs/_base_/default_runtime.py', 'configs/paper/data/nyuv2_mobilenetv2.csv',
                 'tools/recommend.py', 'tools/train.py', 'tools/test.py',
                 'tools/analysis/validate_recommender.py'):
        assert mim + path in names, path
    assert not any('__pycache__' in n for n in names)
    for script in SCRIPTS:
        assert f'{script} = treemtl_plugin.apis.cli:' in entry
    assert requires and not any('setuptools' in line for line in requires), requires


def run_in(env: Path, args, cwd: Path, blocker_dir: Path | None = None):
    extra = {'PYTHONPATH': str(blocker_dir)} if blocker_dir else {}
    import os
    environ = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    return subprocess.run([str(a) for a in args], cwd=cwd, capture_output=True, text=True,
                          timeout=900, env={**environ, **extra, 'OMP_NUM_THREADS': '1'})


def test_console_scripts_of_a_wheel_install_run_the_shipped_configs(venv, tmp_path):
    python = venv / 'bin' / 'python'
    where = run_in(venv, [python, '-c', 'import treemtl_plugin; print(treemtl_plugin.__file__)'],
                   tmp_path)
    assert where.returncode == 0 and where.stdout.strip().startswith(str(venv)), where
    for script in SCRIPTS:
        proc = run_in(venv, [venv / 'bin' / script, '--help'], tmp_path)
        assert proc.returncode == 0 and f'usage: {script} ' in proc.stdout, proc.stderr[-2000:]
    # no configs/ folder here: the shipped config (and its relative table) is used
    proc = run_in(venv, [venv / 'bin' / 'treemtl-recommend',
                         'configs/paper/nyuv2_deeplab_resnet34.py', '--max-models', '2',
                         '--work-dir', tmp_path / 'w'], tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    top = json.loads((tmp_path / 'w' / 'top_layouts.json').read_text())
    assert top and 'Top-5' in proc.stdout


def test_training_needs_no_setuptools(venv, tmp_path):
    blocker = tmp_path / 'blocker'
    blocker.mkdir()
    (blocker / 'sitecustomize.py').write_text(BLOCKER)
    from treemtl_plugin.io.config_file import dump_config
    config = tmp_path / 'tiny.py'
    dump_config(tiny_config(log_level='INFO'), str(config))
    proc = run_in(venv, [venv / 'bin' / 'python', '-c',
                         'import distutils'], tmp_path, blocker)
    assert proc.returncode != 0 and 'blocked by the test' in proc.stderr   # the block works
    proc = run_in(venv, [venv / 'bin' / 'treemtl-train', config, '--work-dir', tmp_path / 'w'],
                  tmp_path, blocker)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert list((tmp_path / 'w').glob('iter_*.pth'))
    # mmengine's environment report needs distutils: the runner logged its own line instead
    log = next((tmp_path / 'w').rglob('*.log')).read_text()
    assert 'System environment' not in log and 'threads, seed' in log


def test_ci_runs_exactly_the_readmes_test_command_after_installing_slurm():
    readme = (ROOT / 'README.md').read_text(encoding='utf-8')
    command = next(line for line in readme.splitlines() if '".[tests]"' in line).strip()
    ci = (ROOT / '.ci' / 'run').read_text(encoding='utf-8').splitlines()
    assert command in ci and 'ruff check .' in ci
    install = next(k for k, line in enumerate(ci) if 'apt-get install' in line)
    assert install < ci.index(command) and 'slurm-wlm munge' in ci[install]
