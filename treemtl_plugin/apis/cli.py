"""How the tools run: their one rule for ending, where the shipped configs and tools are,
and the console scripts.

Exit rule: a missing config exits 2, a TreeMTLError (a mistake in the user's input) prints
one ``error:`` line and exits 1, anything else (a bug) keeps its traceback.

Shipped files: a wheel carries ``configs/`` and ``tools/`` inside the package, in OpenMMLab's
``.mim`` layout (``treemtl_plugin/.mim/configs``, ``.../tools``); a source checkout or an
editable install uses the repository's folders. A config path that does not exist where the
command runs is looked up among the shipped configs, so ``treemtl-recommend
configs/synthetic/tree_resnet18_synthetic_3task.py`` works from any folder.
"""
from __future__ import annotations

import argparse
import os
import os.path as osp
import re
import runpy
import sys
import warnings
from collections.abc import Callable

from ..errors import ReportedWarning, TreeMTLError

__all__ = ['run_tool', 'ConfigOptions', 'add_launcher_args', 'parse_tool_args', 'shipped_dir',
           'find_config', 'recommend_main', 'train_main', 'test_main']

#: mmengine's launchers, as OpenMMLab tools name them
LAUNCHERS = ('none', 'pytorch', 'slurm', 'mpi')

_PACKAGE_DIR = osp.dirname(osp.dirname(osp.abspath(__file__)))
#: the console script running a shipped tool (its name goes into the usage line)
_COMMAND: str | None = None


def shipped_dir(name: str) -> str | None:
    """The shipped ``configs`` or ``tools`` folder: the wheel's ``.mim`` copy, else the
    source checkout's; ``None`` when neither exists."""
    for candidate in (osp.join(_PACKAGE_DIR, '.mim', name),
                      osp.join(osp.dirname(_PACKAGE_DIR), name)):
        if osp.isdir(candidate):
            return candidate
    return None


def find_config(path: str) -> str:
    """``path`` if it exists, else the shipped config of that name (``configs/x/y.py`` or
    ``x/y.py``), else ``path`` unchanged (the caller reports it missing)."""
    if osp.exists(path) or osp.isabs(path):
        return path
    root = shipped_dir('configs')
    if root is None:
        return path
    parts = osp.normpath(path).split(os.sep)
    relative = osp.join(*parts[1:]) if parts[0] == 'configs' and len(parts) > 1 else path
    candidate = osp.join(root, relative)
    return candidate if osp.isfile(candidate) else path


class ConfigOptions(argparse.Action):
    """``--cfg-options key=value ...`` as mmengine's ``DictAction`` parses it, with a usage
    error (exit 2) naming the item that is not ``key=value`` with a dotted config key, or
    whose value mmengine cannot parse (e.g. unbalanced brackets)."""

    def __call__(self, parser, namespace, values, option_string=None):
        from mmengine.config import DictAction
        example = f'e.g. {option_string} recommender.topk=10 train_cfg.max_iters=100'
        for item in values:
            key = item.split('=', 1)[0]
            if '=' not in item:
                parser.error(f'{option_string} {item!r} is not key=value; {example}')
            if not re.fullmatch(r'[A-Za-z_]\w*(\.\w+)*', key):
                parser.error(f'{option_string} {item!r}: {key!r} is not a config key (dotted '
                             f'names such as train_cfg.max_iters); {example}')
            try:
                DictAction._parse_iterable(item.split('=', 1)[1])
            except (AssertionError, ValueError, IndexError) as err:
                parser.error(f'{option_string} {item!r}: the value cannot be parsed ({err}); '
                             'quote a list as "key=[1,2]" with its brackets balanced')
        DictAction(self.option_strings, self.dest)(parser, namespace, values, option_string)


#: what each mmengine launcher sets in the environment of the processes it starts
LAUNCHED_BY = {'pytorch': (('RANK',), 'torchrun --nproc-per-node N'),
               'slurm': (('SLURM_PROCID',), 'srun (or sbatch) with --ntasks N'),
               'mpi': (('OMPI_COMM_WORLD_RANK', 'PMI_RANK'), 'mpirun -np N')}


def add_launcher_args(parser, help: str = 'job launcher') -> None:
    """``--launcher`` and ``--local-rank`` (which ``torch.distributed.launch`` passes)."""
    parser.add_argument('--launcher', choices=LAUNCHERS, default='none', help=help)
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)


def parse_tool_args(parser, argv=None):
    """Parse; a ``--local-rank`` given on the command line becomes ``LOCAL_RANK`` (mmengine
    reads the environment) unless the launcher already set it."""
    if _COMMAND is not None:
        parser.prog = _COMMAND
    args = parser.parse_args(argv)
    variables, how = LAUNCHED_BY.get(getattr(args, 'launcher', 'none'), ((), None))
    if variables and not any(v in os.environ for v in variables):
        parser.error(f'--launcher {args.launcher} expects the processes its launcher starts '
                     f'({variables[0]} is not set): run it as `{how} {parser.prog} ...`, or '
                     'drop --launcher to run one process')
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    return args


#: what an interrupted tool says: its finished work is on disk, and how to go on
RESUME_HINT = ('every finished run is saved in the work dir; run the same command again to '
               'go on from there (nothing finished is trained again)')


def run_tool(config: str, job: Callable[[], int | None], resume_hint: str = RESUME_HINT
             ) -> int:
    """Run ``job()`` under the tools' exit rule; returns the exit status: 0 done, 1 an
    ``error:`` line (the user's input or a file in the way), 2 a usage error, 130
    interrupted (with ``resume_hint``)."""
    if osp.isdir(config):
        print(f'error: {config} is a folder; give a config file, e.g. '
              f'{osp.join(config, "<name>.py")}', file=sys.stderr)
        return 2
    if not osp.isfile(find_config(config)):
        root = shipped_dir('configs')
        where = f' (nor among the shipped configs in {root})' if root else ''
        print(f'error: config file not found: {config}{where}', file=sys.stderr)
        return 2
    with warnings.catch_warnings():
        warnings.showwarning = _warning_as_log_line(set())
        try:
            return job() or 0
        except TreeMTLError as err:
            print(f'error: {err}', file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print(f'\ninterrupted: {resume_hint}', file=sys.stderr)
            return 130
        except (IsADirectoryError, NotADirectoryError, FileExistsError, PermissionError) as err:
            # a file or folder of the work dir replaced or locked by hand: the user's to move
            where = err.filename2 or err.filename or err     # os.replace: the target
            print(f'error: {where}: {err.strerror or type(err).__name__}; '
                  'something else is in the way of that path: move it and run again',
                  file=sys.stderr)
            return 1


def _warning_as_log_line(seen: set):
    """``warnings.showwarning`` for the tools: each warning once, as a ``warning:`` line of the
    job's log (stderr before the log opens), never with its source line; a
    ``ReportedWarning`` not at all (the report prints its fact)."""
    def show(message, category, filename, lineno, file=None, line=None):
        text = str(message)
        if issubclass(category, ReportedWarning) or text in seen:
            return
        seen.add(text)
        from ..engine.job_log import JobLog
        if JobLog.active is not None:
            JobLog.active(f'warning: {text}')
        else:
            print(f'warning: {text}', file=sys.stderr)
    return show


def _run_shipped_tool(relative: str, command: str) -> None:
    """Run a shipped tool script as ``__main__`` with this process's arguments; its usage
    line names the console script (``command``)."""
    root = shipped_dir('tools')
    script = osp.join(root, relative) if root else None
    if script is None or not osp.isfile(script):
        sys.exit(f'error: the tool {relative} is not installed with treemtl_plugin '
                 f'(looked in {root or osp.join(_PACKAGE_DIR, ".mim", "tools")}); '
                 'reinstall the package from a wheel or a source checkout')
    global _COMMAND
    _COMMAND = command               # runpy sets argv[0] to the script; the usage names this
    runpy.run_path(script, run_name='__main__')


def recommend_main() -> None:
    """Console script ``treemtl-recommend``: ``tools/recommend.py``."""
    _run_shipped_tool('recommend.py', 'treemtl-recommend')


def train_main() -> None:
    """Console script ``treemtl-train``: ``tools/train.py``."""
    _run_shipped_tool('train.py', 'treemtl-train')


def test_main() -> None:
    """Console script ``treemtl-test``: ``tools/test.py``."""
    _run_shipped_tool('test.py', 'treemtl-test')
