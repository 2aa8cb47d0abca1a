"""The Slurm array sweep of docs/user_guides/sweep.md, run on a real single-node Slurm cluster
started by the test.

What it checks: ONE ``sbatch --array=1-2`` job whose tasks run
``tools/recommend.py CONFIG --work-dir W --shard ${SLURM_ARRAY_TASK_ID}/2`` (as
docs/user_guides/sweep.md's
"The two-task sweep" section shows) trains every sweep run exactly once across the two array
tasks, both tasks exit 0, and the merge (the same command without ``--shard``) writes the
two-task table and the recommendation without training anything again.

The config is the built-in default shrunk to seconds (2 tasks, 2 branching points, 32 px,
8 training images, 2 iterations per run): 2 single-task + 1 pair x 2 branches = 4 runs.

The module fixture starts a private cluster in a temporary folder -- ``munged`` (its own key
and socket), ``slurmctld`` and ``slurmd`` in the foreground (``-D``), on free TCP ports, with
a generated ``slurm.conf`` (one node = this host with its real CPUs and memory, one partition,
``select/cons_tres`` with ``CR_CPU``, ``proctrack/linuxproc``, ``task/none``: no cgroups, no
systemd, no accounting) -- and kills the daemons afterwards. Only the test's own commands see
that cluster (``SLURM_CONF`` is set in their environment, not in this process), so an existing
Slurm installation on the machine is left alone.

Enable it (Debian/Ubuntu, as root; slurmd has to run as root to start jobs):

    apt-get install -y slurm-wlm munge
    python -m pytest -q tests/test_slurm.py -rs

Without Slurm -- or where its daemons cannot start (no root, no munge, a sandbox that forbids
them) -- the test is SKIPPED with the reason, never failed; ``.ci/run`` installs Slurm and sets
``TREEMTL_REQUIRE_SLURM=1``, which makes any such skip a failure instead. With Slurm
installed both tests take about a minute on 2 CPU cores.
"""
from __future__ import annotations

import collections
import contextlib
import csv
import getpass
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers import ROOT, tiny_config

pytestmark = pytest.mark.slow

TASKS = ['segment_semantic', 'depth_zbuffer']
NUM_BRANCH_POINTS = 2
INSTALL_HINT = 'apt-get install -y slurm-wlm munge'


def _skip(reason: str):
    """Skip, unless .ci/run installed Slurm (``TREEMTL_REQUIRE_SLURM=1``): then fail."""
    if os.environ.get('TREEMTL_REQUIRE_SLURM') == '1':
        pytest.fail(f'TREEMTL_REQUIRE_SLURM=1, yet: {reason}')
    pytest.skip(reason)
DAEMON_START_S = 30       # munged + slurmctld + slurmd until the node is idle
PROBE_JOB_S = 30          # the trivial probe job
SWEEP_JOB_S = 300         # the two array tasks (about 15 s each on 2 cores)
MERGE_S = 180

CLIENTS = ('sbatch', 'squeue', 'sinfo', 'scontrol', 'scancel', 'munge', 'unmunge')
DAEMONS = ('munged', 'slurmctld', 'slurmd')


# -- the private cluster -----------------------------------------------------------------------
def _which(name: str) -> str | None:
    """``shutil.which``, also looking in the sbin folders (not on a non-root user's PATH)."""
    path = os.pathsep.join([os.environ.get('PATH', ''), '/usr/sbin', '/usr/local/sbin', '/sbin'])
    return shutil.which(name, path=path)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _tail(path: Path, lines: int = 15) -> str:
    """The last lines of a log, on one line (without the Debian build's PMIx noise)."""
    try:
        text = [line for line in path.read_text(errors='replace').strip().splitlines()
                if 'pmix' not in line.lower()]
    except OSError:
        return f'({path.name}: no output)'
    return f'{path.name}: ' + ' | '.join(text[-lines:]) if text else f'({path.name}: empty)'


def _node_hardware(slurmd: str, env: dict) -> tuple[int, int | None]:
    """CPUs and RealMemory (MB) of this host, as slurmd itself detects them (``slurmd -C``)."""
    cpus, memory = os.cpu_count() or 1, None
    try:
        out = subprocess.run([slurmd, '-C'], check=False, capture_output=True, text=True,
                             timeout=20, env=env).stdout
    except (OSError, subprocess.SubprocessError):
        return cpus, memory
    if m := re.search(r'\bCPUs=(\d+)', out):
        cpus = int(m.group(1))
    if m := re.search(r'\bRealMemory=(\d+)', out):
        memory = int(m.group(1))
    return cpus, memory


class SlurmCluster:
    """munged + slurmctld + slurmd of a one-node cluster living in ``base``."""

    def __init__(self, base: Path, bins: dict[str, str]):
        self.base = base
        self.bins = bins
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}
        self.host = socket.gethostname().split('.')[0]
        self.user = getpass.getuser()
        self.conf = base / 'slurm.conf'
        # AF_UNIX socket paths are limited to 107 bytes; a deep pytest basetemp may exceed it
        munge_dir = base / 'munge'
        if len(str(munge_dir / 'munge.socket')) > 100:
            import tempfile
            munge_dir = Path(tempfile.mkdtemp(prefix='munge-'))
        self.munge_dir = munge_dir
        self.munge_socket = munge_dir / 'munge.socket'
        # the commands see only this cluster: our config, no SLURM_* of an enclosing job
        self.env = {k: v for k, v in os.environ.items() if not k.startswith('SLURM_')}
        self.env['SLURM_CONF'] = str(self.conf)

    # -- setup ------------------------------------------------------------------------------
    def write_config(self) -> None:
        for sub in ('state', 'spool', 'log'):
            (self.base / sub).mkdir(parents=True, exist_ok=True)
        self.munge_dir.mkdir(parents=True, exist_ok=True)
        self.munge_dir.chmod(0o711)
        key = self.munge_dir / 'munge.key'
        key.write_bytes(os.urandom(1024))
        key.chmod(0o400)
        cpus, memory = _node_hardware(self.bins['slurmd'], self.env)
        b = self.base
        lines = [
            'ClusterName=treemtltest',
            f'SlurmctldHost={self.host}(127.0.0.1)',
            f'SlurmctldPort={_free_port()}',
            f'SlurmdPort={_free_port()}',
            f'SlurmUser={self.user}',
            f'SlurmdUser={self.user}',
            'AuthType=auth/munge',
            'CredType=cred/munge',
            f'AuthInfo=socket={self.munge_socket}',
            f'StateSaveLocation={b / "state"}',
            f'SlurmdSpoolDir={b / "spool"}',
            f'SlurmctldPidFile={b / "slurmctld.pid"}',
            f'SlurmdPidFile={b / "slurmd.pid"}',
            f'SlurmctldLogFile={b / "log" / "slurmctld.log"}',
            f'SlurmdLogFile={b / "log" / "slurmd.log"}',
            'SlurmctldDebug=info',
            'SlurmdDebug=info',
            'ProctrackType=proctrack/linuxproc',
            'TaskPlugin=task/none',
            'SelectType=select/cons_tres',
            'SelectTypeParameters=CR_CPU',
            'SchedulerType=sched/builtin',
            'MpiDefault=none',
            'SwitchType=switch/none',
            'JobCompType=jobcomp/none',
            'JobAcctGatherType=jobacct_gather/none',
            'AccountingStorageType=accounting_storage/none',
            'MailProg=/bin/true',
            'ReturnToService=2',
            'SlurmctldTimeout=30',
            'SlurmdTimeout=30',
            'InactiveLimit=0',
            'MinJobAge=600',        # finished jobs stay visible to `scontrol show job`
            'KillWait=5',
            'Waittime=0',
            f'NodeName={self.host} NodeAddr=127.0.0.1 CPUs={cpus}'
            + (f' RealMemory={memory}' if memory else '') + ' State=UNKNOWN',
            f'PartitionName=debug Nodes={self.host} Default=YES MaxTime=INFINITE State=UP',
        ]
        self.conf.write_text('\n'.join(lines) + '\n')

    def _spawn(self, name: str, argv: list[str]) -> subprocess.Popen:
        log = self.base / 'log' / f'{name}.out'
        self.logs[name] = log
        with open(log, 'wb') as out:
            proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL, env=self.env, cwd=self.base,
                                    start_new_session=True)
        self.procs[name] = proc
        return proc

    def _diagnostics(self, names=('slurmctld', 'slurmd')) -> str:
        return ' || '.join(_tail(self.logs[n], 6) for n in names if n in self.logs)

    def _dead(self) -> str | None:
        for name, proc in self.procs.items():
            if proc.poll() is not None:
                return f'{name} exited with code {proc.returncode}'
        return None

    def _wait(self, what: str, ready, timeout: float, logs: tuple[str, ...]) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if dead := self._dead():
                _skip(f'{what}: {dead}: {self._diagnostics(logs)}')
            if ready():
                return
            time.sleep(0.3)
        _skip(f'{what} did not come up within {timeout:.0f} s: '
                    f'{self._diagnostics(logs)}')

    def cmd(self, *argv: str, timeout: float = 30, **kw) -> subprocess.CompletedProcess:
        exe = self.bins.get(argv[0], argv[0])
        return subprocess.run([exe, *argv[1:]], check=False, capture_output=True, text=True,
                              timeout=timeout, env=self.env, **kw)

    def start(self) -> None:
        self.write_config()
        sock = str(self.munge_socket)
        self._spawn('munged', [
            self.bins['munged'], '--foreground', '--force', f'--socket={sock}',
            f'--key-file={self.munge_dir / "munge.key"}',
            f'--pid-file={self.munge_dir / "munged.pid"}',
            f'--seed-file={self.munge_dir / "munged.seed"}'])

        def munge_ok() -> bool:
            if not self.munge_socket.exists():
                return False
            try:
                cred = self.cmd('munge', '-S', sock, '-n', timeout=10)
                return cred.returncode == 0 and self.cmd(
                    'unmunge', '-S', sock, input=cred.stdout, timeout=10).returncode == 0
            except subprocess.SubprocessError:
                return False
        self._wait('munged', munge_ok, DAEMON_START_S, ('munged',))

        conf = str(self.conf)
        self._spawn('slurmctld', [self.bins['slurmctld'], '-D', '-c', '-f', conf])
        self._spawn('slurmd', [self.bins['slurmd'], '-D', '-f', conf, '-N', self.host])

        def node_idle() -> bool:
            try:
                out = self.cmd('sinfo', '-h', '-N', '-o', '%T', timeout=10)
            except subprocess.SubprocessError:
                return False
            return out.returncode == 0 and out.stdout.strip().rstrip('*') == 'idle'
        self._wait('slurmctld + slurmd (node idle in sinfo)', node_idle, DAEMON_START_S,
                   ('slurmctld', 'slurmd'))
        self._probe()

    def _probe(self) -> None:
        """A trivial batch job must run, or the cluster cannot start jobs here (skip)."""
        out = self.base / 'probe.out'
        sub = self.cmd('sbatch', '--parsable', f'--output={out}', f'--chdir={self.base}',
                       '--wrap', 'hostname')
        done = sub.returncode == 0 and self.wait_job(sub.stdout.strip().split(';')[0],
                                                     PROBE_JOB_S, poll=0.2)
        if not done or not out.exists() or not out.read_text().strip():
            _skip(f'the Slurm cluster came up but cannot run `sbatch --wrap hostname` '
                        f'(sbatch rc {sub.returncode} {sub.stderr.strip()[-300:]!r}, finished: '
                        f'{done}): {self._diagnostics()}')

    def wait_job(self, job_id: str, timeout: float, poll: float = 1.0) -> bool:
        """Wait until no task of the job is pending or running; False on timeout.

        (``sbatch --wait`` would do, but it polls every 10 s.)"""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            queued = self.cmd('squeue', '-h', '-j', job_id, '-o', '%i', timeout=15)
            if queued.returncode == 0 and not queued.stdout.strip():
                return True
            if 'Invalid job id' in queued.stderr:    # finished and already purged
                return True
            time.sleep(poll)
        return False

    # -- teardown -----------------------------------------------------------------------------
    def stop(self) -> None:
        if self.procs.get('slurmctld') and self.procs['slurmctld'].poll() is None:
            with contextlib.suppress(Exception):   # cancel whatever is left of our jobs
                self.cmd('scancel', '--user', self.user, '--full', timeout=15)
                deadline = time.monotonic() + 15
                while time.monotonic() < deadline and self.cmd(
                        'squeue', '-h', '-o', '%i', timeout=10).stdout.strip():
                    time.sleep(0.5)
        for name in ('slurmd', 'slurmctld', 'munged'):   # reverse start order
            proc = self.procs.get(name)
            if proc is None:
                continue
            for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                if proc.poll() is not None:
                    break
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(proc.pid, sig)    # the daemon's own session (start_new_session)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(wait)
        if self.munge_dir.parent != self.base:
            shutil.rmtree(self.munge_dir, ignore_errors=True)


@pytest.fixture(scope='module')
def slurm_cluster(tmp_path_factory):
    missing = [name for name in DAEMONS + CLIENTS if _which(name) is None]
    if missing:
        _skip(f'slurm-wlm not installed (missing {", ".join(missing)}): {INSTALL_HINT}')
    if os.geteuid() != 0:
        _skip('slurmd has to run as root to start jobs; run this test as root '
                    f'({INSTALL_HINT})')
    bins = {name: _which(name) for name in DAEMONS + CLIENTS}
    cluster = SlurmCluster(tmp_path_factory.mktemp('slurm'), bins)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


# -- the sweep ---------------------------------------------------------------------------------
def _write_tiny_config(path: Path) -> Path:
    """The default config shrunk to seconds: 2 tasks, 2 branching points, 32 px, 2 iters."""
    from treemtl_plugin.io.config_file import dump_config  # keeps the order of model.tasks
    dump_config(tiny_config(TASKS, blocks=NUM_BRANCH_POINTS), str(path))
    return path


def _job_states(cluster: SlurmCluster, job_id: str) -> dict[str, tuple[str, str]]:
    """Array task id -> (JobState, ExitCode) from ``scontrol show job`` (no accounting here)."""
    out = cluster.cmd('scontrol', '-o', 'show', 'job', job_id, timeout=15).stdout
    states = {}
    for line in out.splitlines():
        fields = dict(f.split('=', 1) for f in line.split() if '=' in f)
        if 'ArrayTaskId' in fields:
            states[fields['ArrayTaskId']] = (fields.get('JobState', '?'),
                                             fields.get('ExitCode', '?'))
    return states


def _run_array(cluster: SlurmCluster, tmp_path: Path, command: str, name: str) -> dict:
    """Submit the guide's array script (``--array=1-2``, without the GPU) running
    ``command <task id>/2``; wait; check both tasks exited 0 without a traceback. Returns
    the output of each array task."""
    logs = tmp_path / name
    logs.mkdir()
    # the exit status is saved: no accounting here, and `scontrol` forgets jobs after MinJobAge
    script = tmp_path / f'{name}.sbatch'
    script.write_text(f"""#!/bin/bash
#SBATCH --job-name=treemtl-{name}
#SBATCH --array=1-2 --cpus-per-task=1
#SBATCH --output={logs}/shard-%a.out
#SBATCH --chdir={ROOT}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
{command} ${{SLURM_ARRAY_TASK_ID}}/2
rc=$?
echo "$rc" > {logs}/shard-${{SLURM_ARRAY_TASK_ID}}.rc
exit $rc
""")
    sub = cluster.cmd('sbatch', '--parsable', str(script))
    assert sub.returncode == 0, f'sbatch failed: {sub.stderr}'
    job_id = sub.stdout.strip().split(';')[0]
    outs = {i: logs / f'shard-{i}.out' for i in (1, 2)}
    rcs = {i: logs / f'shard-{i}.rc' for i in (1, 2)}
    if not cluster.wait_job(job_id, SWEEP_JOB_S) or not all(p.exists() for p in rcs.values()):
        queued = cluster.cmd('squeue', '-h', '-j', job_id, '-o', '%i %T').stdout
        cluster.cmd('scancel', job_id)
        pytest.fail(f'the array job {job_id} did not finish within {SWEEP_JOB_S} s; squeue: '
                    f'{queued!r}; {_tail(outs[1], 20)} || {_tail(outs[2], 20)}')
    states = _job_states(cluster, job_id)
    texts = {i: outs[i].read_text(errors='replace') for i in (1, 2)}
    for i in (1, 2):
        rc = rcs[i].read_text().strip()
        assert rc == '0', (f'array task {i} exited {rc} (scontrol: {states.get(str(i))}):\n'
                           f'{texts[i][-4000:]}')
        assert states.get(str(i), ('COMPLETED', '0:0')) == ('COMPLETED', '0:0'), states
        assert 'Traceback' not in texts[i], texts[i][-4000:]
    return texts


def _finished(*texts: str) -> collections.Counter:
    """How often each run id was reported trained in these outputs."""
    return collections.Counter(
        m.group(1) for text in texts
        for m in re.finditer(r'^\[sweep\] finished (\S+) in ', text, re.MULTILINE))


def _merge(tool: str, cfg_path: Path, work_dir: Path, *extra: str
           ) -> subprocess.CompletedProcess:
    """The same command without ``--shard``, outside Slurm: it must train nothing."""
    merge = subprocess.run([sys.executable, tool, str(cfg_path), '--work-dir', str(work_dir),
                            *extra], check=False, cwd=ROOT, capture_output=True, text=True,
                           timeout=MERGE_S,
                           env={k: v for k, v in os.environ.items()
                                if not k.startswith('SLURM_')})
    assert merge.returncode == 0, merge.stdout[-3000:] + merge.stderr[-3000:]
    assert '[sweep] finished' not in merge.stdout, f'the merge retrained:\n{merge.stdout}'
    return merge


def test_slurm_array_sweep_trains_every_run_once_then_merges(slurm_cluster, tmp_path):
    cluster = slurm_cluster
    cfg_path = _write_tiny_config(tmp_path / 'tiny_2task.py')
    work_dir = tmp_path / 'work'
    command = ' '.join(shlex.quote(str(a)) for a in (
        sys.executable, '-u', 'tools/recommend.py', cfg_path, '--work-dir', work_dir, '--shard'))
    texts = _run_array(cluster, tmp_path, command, 'sweep')
    for i in (1, 2):
        # the task that finishes last may find every run done and merge + recommend itself
        assert ('[sweep] this shard is done' in texts[i] or 'top_layouts.json' in texts[i]), (
            f'array task {i} neither finished its shard nor recommended:\n{texts[i][-4000:]}')

    # every run trained exactly once across the two array tasks
    finished = _finished(texts[1], texts[2])
    run_ids = sorted(p.parent.name for p in (work_dir / 'sweep' / 'runs').glob('*/metrics.json'))
    expected_runs = len(TASKS) + NUM_BRANCH_POINTS      # 2 single-task + 1 pair x 2 branches
    assert len(run_ids) == expected_runs, run_ids
    assert sorted(finished) == run_ids, (finished, run_ids)
    assert set(finished.values()) == {1}, f'runs trained more than once: {finished}'
    per_shard = [sum(1 for line in texts[i].splitlines()
                     if line.startswith('[sweep] finished ')) for i in (1, 2)]
    assert all(n >= 1 for n in per_shard), f'one array task trained nothing: {per_shard}'

    # the merge: no training left, the table and the recommendation
    _merge('tools/recommend.py', cfg_path, work_dir)
    with open(work_dir / 'sweep' / 'two_task_table.csv', newline='') as f:
        rows = list(csv.reader(f))
    assert len(rows) == 1 + NUM_BRANCH_POINTS + 1, rows     # header + branches 0..B of 1 pair
    header = rows[0]
    assert {'task_a', 'task_b', 'branch', 'perf_a', 'perf_b'} <= set(header), header
    body = [dict(zip(header, r)) for r in rows[1:]]
    assert sorted(int(r['branch']) for r in body) == list(range(NUM_BRANCH_POINTS + 1))
    assert all({r['task_a'], r['task_b']} == set(TASKS) for r in body), body
    top = json.loads((work_dir / 'top_layouts.json').read_text())
    assert top and top[0]['rank'] == 1, top


def test_slurm_array_validation_study_shards_like_the_sweep(slurm_cluster, tmp_path):
    """``validate_recommender.py --shard i/2 --resume`` as an array job, twice: the first
    trains the sweep's shards (the study is planned once the sweep is complete), the second
    the study's; every run is trained once across all array tasks, each task trains part of
    the study, and the summary (without --shard) trains nothing."""
    from treemtl_plugin.io.config_file import dump_config
    cfg_path = tmp_path / 'tiny_study.py'
    dump_config(tiny_config(TASKS, blocks=NUM_BRANCH_POINTS, validation=dict(
        seeds=2, train_cfg=dict(max_iters=2, val_interval=2))),
                str(cfg_path))
    work_dir = tmp_path / 'study'
    command = ' '.join(shlex.quote(str(a)) for a in (
        sys.executable, '-u', 'tools/analysis/validate_recommender.py', cfg_path,
        '--work-dir', work_dir, '--resume', '--shard'))
    first = _run_array(slurm_cluster, tmp_path, command, 'study1')
    second = _run_array(slurm_cluster, tmp_path, command, 'study2')
    outputs = [first[1], first[2], second[1], second[2]]
    finished = _finished(*outputs)
    assert set(finished.values()) == {1}, f'runs trained more than once: {finished}'
    study = [r for r in finished if r.startswith('layout_') or r.endswith(('__s1000',
                                                                         '__s1001'))]
    # 3 layouts of 2 tasks over 2 blocks + 2 single-task baselines, x 2 seeds
    assert len(study) == (3 + 2) * 2, sorted(finished)
    for i in (1, 2):        # each array task trained part of the study
        assert any(r in _finished(first[i], second[i]) for r in study), (i, sorted(finished))
    merge = _merge('tools/analysis/validate_recommender.py', cfg_path, work_dir, '--resume')
    saved = json.loads((work_dir / 'validation.json').read_text())
    assert len(saved['layouts']) == 3 and saved['seeds'] == [1000, 1001]
    assert 'Spearman' in merge.stdout
