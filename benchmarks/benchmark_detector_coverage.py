"""Coverage of the branching-point detector over every timm model family.

    python benchmarks/benchmark_detector_coverage.py                       # all families
    python benchmarks/benchmark_detector_coverage.py --families resnet vgg --jobs 1
    python benchmarks/benchmark_detector_coverage.py --input-size 64 --timeout 120 --jobs 2 \\
        --out benchmarks/results/detector_coverage.md

A *family* is a timm model module (``timm.list_modules()``). For each family one
representative model is picked (``pretrained=False``):

* candidates = ``timm.list_models(module=family)`` minus timm's synthetic ``test_*`` configs
  (used only when a family has nothing else);
* rank them by a name heuristic: the earliest "small" token the name contains
  (``atto femto pico nano xxs tiny xs mini small _s 18 ...``, see ``SMALL_TOKENS``), then a
  penalty for high-resolution variants (``_384``, ``_448``...), then the shortest name;
* build the best ``--candidates`` (default 8) of them on the ``meta`` device (no memory, no
  init cost; with the product's factory ``build_timm_model``) to count parameters, and take the
  one with the fewest parameters (ties: smaller default input, then the heuristic rank).
  Models above ``--max-params`` (300M) are not run: status ``skipped_huge`` (counted as not
  covered).

Each family runs in its own forked worker process with a wall-clock limit (``--timeout``);
a worker that runs over is killed (status ``timeout``, with the stage it was in). In the
worker, in eval mode under ``torch.no_grad()``:

1. input size: build the model as the product does, with ``build_timm_model(name, False,
   input_size)`` (``img_size`` set from the input size where the constructor takes it), at, in
   order, (a) ``--input-size`` (64), (b) ``pretrained_cfg['min_input_size']`` if it has one,
   (c) ``pretrained_cfg['input_size']``. The first one whose ``forward_features`` runs is used
   and recorded;
2. ``detect_blocks(model)``;
3. chain every ``block.module`` on a random batch (2 images) and compare with
   ``model.forward_features(x)``: ok when ``max|a-b| <= 1e-4 * max(1, max|a|)``;
4. count blocks.

Status: ``ok`` (detection ran, >= 3 blocks, output reproduced), ``too_few_blocks``,
``mismatch`` (chained output differs, or has another shape/structure), ``chain_error`` (a
detected block raised when run), ``trace_error`` (torch.fx could not trace the model),
``detect_error`` (the detector raised after tracing succeeded), ``create_error``,
``forward_error`` (``forward_features`` failed at every input size tried), ``timeout``,
``crashed`` (the worker process died, e.g. out of memory), ``skipped_huge``.
``chain_error``/``detect_error``/``mismatch`` point at the detector;
``trace_error`` at the model's torch.fx-traceability.

Prints one row per family as it finishes and a summary; writes the same as Markdown to
``--out`` (rewritten after every family, so a partial run leaves a partial table).
"""
from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import re
import sys
import time
import traceback
import warnings
from collections import defaultdict
from dataclasses import asdict, dataclass

SMALL_TOKENS = ('atto', 'femto', 'pico', 'nano', 'xxs', 'xx_small', 'xxtiny', 'xtiny', 'tiny',
                'x_small', 'xs', 'mini', 'micro', 'small', '_s', 's0', 'b0', 'm0', '_t', 't0',
                '18', '050', '_0', 'lite', 'light', 'base', '_b')
HIGH_RES = re.compile(r'_(256|288|320|336|384|392|408|448|512|518|560)(\b|_|$)')
STATUSES = ('ok', 'too_few_blocks', 'mismatch', 'chain_error', 'detect_error', 'trace_error',
            'create_error', 'forward_error', 'timeout', 'crashed', 'skipped_huge')


@dataclass
class Result:
    family: str
    model: str = ''
    mparams: float | None = None        # millions (meta-device count)
    input_size: str = ''
    size_note: str = ''                 # how the input size was obtained
    blocks: int | None = None
    raw_cuts: int | None = None
    max_diff: float | None = None
    rel_diff: float | None = None       # max|a-b| / max(1, max|a|)
    detect_s: float | None = None
    seconds: float | None = None
    status: str = ''
    reason: str = ''


# ---------------------------------------------------------------------------------------------
# model selection


def heuristic_key(name: str) -> tuple:
    rank = next((k for k, tok in enumerate(SMALL_TOKENS) if tok in name), len(SMALL_TOKENS))
    return (rank, bool(HIGH_RES.search(name)), len(name), name)


def default_input(name: str) -> tuple[int, int, int]:
    import timm
    cfg = timm.models.get_pretrained_cfg(name)
    size = getattr(cfg, 'input_size', None) if cfg is not None else None
    return tuple(size) if size else (3, 224, 224)


def meta_params(name: str) -> int | None:
    import torch

    from treemtl_plugin.models.timm_factory import build_timm_model
    try:
        with warnings.catch_warnings(), torch.device('meta'):
            warnings.simplefilter('ignore')
            model = build_timm_model(name, pretrained=False)
        return sum(p.numel() for p in model.parameters())
    except Exception:
        return None


def select_model(family: str, num_candidates: int) -> tuple[str, int | None, list]:
    """(name, parameter count or None, [(candidate, params)...]) for a family."""
    import timm
    names = timm.list_models(module=family)
    real = [n for n in names if not n.startswith('test_')]
    names = sorted(real or names, key=heuristic_key)
    tried = [(n, meta_params(n)) for n in names[:num_candidates]]
    counted = [(p, default_input(n)[1] * default_input(n)[2], k, n)
               for k, (n, p) in enumerate(tried) if p is not None]
    if counted:
        p, _, _, n = min(counted)
        return n, p, tried
    return names[0], None, tried


# ---------------------------------------------------------------------------------------------
# one family (runs in a worker process)


def _first_line(err: BaseException, limit: int = 220) -> str:
    text = f'{type(err).__name__}: {err}'.strip().splitlines()[0] if str(err).strip() \
        else type(err).__name__
    return text if len(text) <= limit else text[:limit - 3] + '...'


def _flatten(out):
    import torch
    from torch.utils._pytree import tree_flatten
    leaves, spec = tree_flatten(out)
    return [t for t in leaves if isinstance(t, torch.Tensor)], spec


def run_family(family: str, args, send) -> Result:
    import timm
    import torch

    from treemtl_plugin.models.branching_point_detector import DetectionError, detect_blocks
    from treemtl_plugin.models.timm_factory import build_timm_model

    warnings.simplefilter('ignore')
    res = Result(family=family)
    start = time.perf_counter()

    def report(stage: str) -> None:   # stage + what is known so far (kept on a timeout)
        send(stage, asdict(res))

    def done(status: str, reason: str = '') -> Result:
        res.status, res.reason = status, reason
        res.seconds = round(time.perf_counter() - start, 2)
        return res

    report('selecting model')
    name, params, _ = select_model(family, args.candidates)
    res.model = name
    res.mparams = None if params is None else round(params / 1e6, 2)
    if params is not None and params > args.max_params * 1e6:
        return done('skipped_huge', f'{params / 1e6:.0f}M parameters > {args.max_params:.0f}M')

    # --- build the model as the product does and find an input size it accepts
    chans, default_h, default_w = default_input(name)
    cfg = timm.models.get_pretrained_cfg(name)
    min_size = getattr(cfg, 'min_input_size', None) if cfg is not None else None
    attempts = [((args.input_size, args.input_size), f'{args.input_size}')]
    if min_size and tuple(min_size[1:]) != (args.input_size, args.input_size):
        attempts.append((tuple(min_size[1:]), 'min_input_size'))
    if (default_h, default_w) != (args.input_size, args.input_size):
        attempts.append(((default_h, default_w), 'default input_size'))
    model = size = note = None
    create_err = forward_err = None
    built = False
    sizeless = None               # a model built without img_size fits every attempt
    for hw, how in attempts:
        report(f'build_timm_model {name} / forward at {hw[0]}x{hw[1]}')
        candidate = sizeless
        if candidate is None:
            try:
                candidate = build_timm_model(name, False, (chans, *hw)).eval()
            except Exception as err:
                create_err = create_err or err
                continue
            built = True
            if candidate.treemtl_img_size is None:
                sizeless = candidate
        try:
            with torch.no_grad():
                candidate.forward_features(torch.randn(1, chans, *hw))
        except Exception as err:
            forward_err = forward_err or err
            continue
        model, size, note = candidate, hw, how
        if candidate.treemtl_img_size is not None:
            note = f'img_size={candidate.treemtl_img_size}' + \
                ('' if how.isdigit() else f', {how}')
        break
    sizeless = None
    if model is None:
        if not built:
            return done('create_error', _first_line(create_err))
        return done('forward_error', _first_line(forward_err or create_err))
    res.input_size = f'{size[0]}x{size[1]}'
    res.size_note = note
    if params is None:
        res.mparams = round(sum(p.numel() for p in model.parameters()) / 1e6, 2)

    # --- detect, chain, compare
    torch.manual_seed(0)
    x = torch.randn(2, chans, *size)
    report('detect_blocks')
    t0 = time.perf_counter()
    try:
        with torch.no_grad():
            detection = detect_blocks(model, example_input=torch.randn(1, chans, *size))
    except DetectionError as err:
        res.detect_s = round(time.perf_counter() - t0, 2)
        if err.__cause__ is not None and 'cannot be traced' in str(err):
            return done('trace_error', _first_line(err.__cause__))
        return done('detect_error', _first_line(err))
    except Exception as err:
        res.detect_s = round(time.perf_counter() - t0, 2)
        where = traceback.extract_tb(err.__traceback__)[-1]
        return done('detect_error', f'{_first_line(err)} '
                                    f'[{os.path.basename(where.filename)}:{where.lineno}]')
    res.detect_s = round(time.perf_counter() - t0, 2)
    res.raw_cuts = detection.num_raw_cuts
    res.blocks = len(detection.blocks)

    report('forward_features reference')
    with torch.no_grad():
        try:
            ref = model.forward_features(x)
        except Exception as err:
            return done('forward_error', f'batch of 2: {_first_line(err)}')
        report('chain blocks')
        y = x
        for block in detection.blocks:
            report(f'chain block {block.index}/{len(detection.blocks)}')
            try:
                y = block.module(y)
            except Exception as err:
                return done('chain_error', f'block {block.index} ({block.name}): '
                                           f'{_first_line(err)}')
    ref_leaves, ref_spec = _flatten(ref)
    out_leaves, out_spec = _flatten(y)
    if ref_spec != out_spec or len(ref_leaves) != len(out_leaves) or \
            any(a.shape != b.shape for a, b in zip(ref_leaves, out_leaves)):
        shapes = lambda ts: [tuple(t.shape) for t in ts]  # noqa: E731
        return done('mismatch', f'output structure differs: forward_features '
                                f'{shapes(ref_leaves)} vs chained {shapes(out_leaves)}')
    max_diff, rel = 0.0, 0.0
    for a, b in zip(ref_leaves, out_leaves):
        if a.numel() == 0:
            continue
        diff = (a.float() - b.float()).abs().max().item()
        scale = max(1.0, a.float().abs().max().item())
        max_diff, rel = max(max_diff, diff), max(rel, diff / scale)
    res.max_diff, res.rel_diff = max_diff, rel
    if not rel <= 1e-4:  # also catches NaN
        return done('mismatch', f'max|a-b| = {max_diff:.3g} (relative {rel:.3g}) > 1e-4')
    if res.blocks < 3:
        reason = f'{res.blocks} block(s), {res.raw_cuts} raw cuts'
        if len(ref_leaves) > 1:
            reason += f'; forward_features returns {len(ref_leaves)} tensors'
        free = cuts_without_metadata(detection.graph_module)
        if free is not None and free > res.raw_cuts:
            reason += (f'; {free} raw cuts if shape/dtype reads are not counted as data '
                       '(an early x.shape/x.dtype is reused downstream)')
        elif free is not None:
            reason += '; no more cuts without shape reads (parallel tensor streams)'
        return done('too_few_blocks', reason)
    return done('ok')


_META_ATTRS = ('shape', 'dtype', 'device', 'ndim', 'is_cuda')
_META_METHODS = ('size', 'dim', 'numel')


def cuts_without_metadata(gm) -> int | None:
    """Single-tensor cuts of the traced graph when shape/dtype/device reads are not counted as
    data dependencies: an upper bound that tells *why* a model has few cuts (diagnostic only:
    the blocks would need those values re-derived)."""
    import networkx as nx
    try:
        nodes = list(gm.graph.nodes)
        source = next(n for n in nodes if n.op == 'placeholder')
        sink = next(n for n in nodes if n.op == 'output')
        dag = nx.DiGraph()
        for node in nodes:
            dag.add_node(node)
            meta = (node.op == 'call_function' and node.target is getattr and
                    len(node.args) > 1 and node.args[1] in _META_ATTRS) or \
                (node.op == 'call_method' and node.target in _META_METHODS)
            if not meta:
                for parent in node.all_input_nodes:
                    dag.add_edge(parent, node)
        relevant = (nx.ancestors(dag, sink) | {sink}) & (nx.descendants(dag, source) | {source})
        dag = dag.subgraph(relevant)
        idom = nx.immediate_dominators(dag, source)
        count, node = 0, sink
        while node is not source:
            node = idom.get(node, source)
            count += 1
        return count - 1
    except Exception:
        return None


def _worker(family: str, args, conn, threads: int) -> None:
    import torch
    torch.set_num_threads(threads)

    def send(stage: str, partial: dict) -> None:
        conn.send(('stage', stage, partial))

    try:
        result = run_family(family, args, send)
    except BaseException as err:  # noqa: BLE001 - everything is reported, nothing raised
        result = Result(family=family, status='crashed',
                        reason=f'benchmark worker raised: {_first_line(err)}')
    conn.send(('result', asdict(result)))
    conn.close()


# ---------------------------------------------------------------------------------------------
# driver


def _fmt(value, spec: str = '') -> str:
    if value is None:
        return '-'
    return format(value, spec) if spec else str(value)


COLUMNS = ('family', 'model', 'Mparams', 'input', 'blocks', 'raw cuts', 'max diff', 'detect s',
           'total s', 'status', 'reason')


def row(r: Result) -> list[str]:
    size = r.input_size + (f' ({r.size_note})' if r.size_note and
                           not r.size_note.isdigit() else '')
    return [r.family, r.model, _fmt(r.mparams, '.2f'), size or '-', _fmt(r.blocks),
            _fmt(r.raw_cuts), _fmt(r.max_diff, '.1e'), _fmt(r.detect_s, '.1f'),
            _fmt(r.seconds, '.1f'), r.status, r.reason]


def summary_lines(results: list[Result], total_families: int, elapsed: float) -> list[str]:
    ok = sum(r.status == 'ok' for r in results)
    tried = len(results)
    lines = [f'families tried: {tried} of {total_families}',
             f'ok: {ok} / {tried} = {100.0 * ok / max(tried, 1):.1f}%  '
             '(skipped_huge and timeouts count as not covered)',
             f'wall time: {elapsed:.0f} s']
    counts = defaultdict(int)
    for r in results:
        counts[r.status] += 1
    lines.append('by status: ' + ', '.join(f'{s} {counts[s]}' for s in STATUSES if counts[s]))
    return lines


def failures_by_status(results: list[Result]) -> dict[str, list[Result]]:
    groups: dict[str, list[Result]] = defaultdict(list)
    for r in results:
        if r.status != 'ok':
            groups[r.status].append(r)
    return {s: groups[s] for s in STATUSES if s in groups}


def write_markdown(path: str, results: list[Result], total: int, elapsed: float, args,
                   command: str, finished: bool) -> None:
    ordered = sorted(results, key=lambda r: r.family)
    out = ['# Branching-point detector coverage over timm model families', '',
           *([] if finished else ['**PARTIAL RESULTS (run in progress or interrupted)**', '']),
           f'Command: `{command}`  ',
           f'torch {_version("torch")}, timm {_version("timm")}, '
           f'input size {args.input_size} (fallbacks recorded), timeout {args.timeout} s, '
           f'jobs {args.jobs}, max params {args.max_params:.0f}M. '
           'Representative = fewest parameters among the best name-heuristic candidates '
           f'(top {args.candidates}, counted on the meta device); pretrained=False, eval, '
           'no_grad, batch of 2. ok = detection ran, >= 3 blocks, chained blocks reproduce '
           '`forward_features` (max|a-b| <= 1e-4 * max(1, max|a|)).', '',
           '## Summary', '']
    out += [f'- {line}' for line in summary_lines(results, total, elapsed)]
    out += ['', '## Failures', '']
    groups = failures_by_status(results)
    if not groups:
        out.append('none')
    for status, rs in groups.items():
        out.append(f'### {status} ({len(rs)})')
        out.append('')
        for r in sorted(rs, key=lambda r: r.family):
            out.append(f'- **{r.family}** (`{r.model}`, {r.input_size or "-"}): '
                       f'{_md(r.reason)}')
        out.append('')
    out += ['## All families', '', '| ' + ' | '.join(COLUMNS) + ' |',
            '|' + '|'.join('---' for _ in COLUMNS) + '|']
    out += ['| ' + ' | '.join(_md(c) for c in row(r)) + ' |' for r in ordered]
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(out) + '\n')


def _md(text: str) -> str:
    return str(text).replace('|', '\\|').replace('\n', ' ')


def _version(pkg: str) -> str:
    try:
        return __import__(pkg).__version__
    except Exception:
        return '?'


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--families', nargs='+', default=None,
                        help='subset of timm.list_modules() (default: all)')
    parser.add_argument('--input-size', type=int, default=64)
    parser.add_argument('--timeout', type=float, default=120.0, help='seconds per family')
    parser.add_argument('--jobs', type=int, default=2, help='families run in parallel')
    parser.add_argument('--candidates', type=int, default=8,
                        help='name-heuristic candidates whose parameters are counted')
    parser.add_argument('--max-params', type=float, default=300.0,
                        help='skip representatives above this many million parameters')
    parser.add_argument('--out', default='benchmarks/results/detector_coverage.md')
    args = parser.parse_args()

    import timm
    all_families = timm.list_modules()
    families = args.families or all_families
    unknown = [f for f in families if f not in all_families]
    if unknown:
        parser.error(f'unknown families {unknown}; see timm.list_modules()')
    command = 'python ' + ' '.join(sys.argv)
    threads = max(1, (os.cpu_count() or 1) // max(args.jobs, 1))
    ctx = mp.get_context('fork')

    widths = (24, 34, 8, 28, 6, 8, 8, 8, 7, 14)
    header = ' '.join(f'{c:<{w}}' for c, w in zip(COLUMNS, widths)) + ' reason'
    print(header)
    print('-' * len(header), flush=True)
    results: list[Result] = []
    pending = list(families)
    running: dict = {}   # family -> (process, conn, start, last stage)
    start_all = time.perf_counter()

    def finish(family: str, result: Result) -> None:
        results.append(result)
        print(' '.join(f'{c:<{w}}' for c, w in zip(row(result), widths)) + ' ' + result.reason,
              flush=True)
        write_markdown(args.out, results, len(families), time.perf_counter() - start_all,
                       args, command, finished=False)

    try:
        while pending or running:
            while pending and len(running) < args.jobs:
                family = pending.pop(0)
                parent, child = ctx.Pipe(duplex=False)
                proc = ctx.Process(target=_worker, args=(family, args, child, threads),
                                   daemon=True)
                proc.start()
                child.close()
                running[family] = [proc, parent, time.perf_counter(), 'starting', None,
                                   {'family': family}]
            time.sleep(0.05)
            for family in list(running):
                proc, conn, t0, stage, result, partial = running[family]
                try:
                    while conn.poll():
                        message = conn.recv()
                        if message[0] == 'stage':
                            running[family][3] = stage = message[1]
                            running[family][5] = message[2]
                        else:
                            running[family][4] = result = Result(**message[1])
                except (EOFError, OSError):
                    pass
                elapsed = time.perf_counter() - t0
                if result is not None or not proc.is_alive():
                    proc.join(timeout=5)
                    if result is None:
                        result = Result(**partial)
                        result.status = 'crashed'
                        result.reason = (f'worker died (exit code {proc.exitcode}) '
                                         f'during: {stage}')
                        result.seconds = round(elapsed, 2)
                    del running[family]
                    conn.close()
                    finish(family, result)
                elif elapsed > args.timeout:
                    proc.kill()
                    proc.join(timeout=5)
                    del running[family]
                    conn.close()
                    result = Result(**partial)
                    result.status = 'timeout'
                    result.reason = f'> {args.timeout:.0f} s, during: {stage}'
                    result.seconds = round(elapsed, 2)
                    finish(family, result)
    except KeyboardInterrupt:
        for proc, *_ in running.values():
            proc.kill()
        print('interrupted', flush=True)

    elapsed = time.perf_counter() - start_all
    finished = not pending and not running
    write_markdown(args.out, results, len(families), elapsed, args, command, finished)
    print()
    for line in summary_lines(results, len(families), elapsed):
        print(line)
    for status, rs in failures_by_status(results).items():
        print(f'\n{status} ({len(rs)}):')
        for r in sorted(rs, key=lambda r: r.family):
            print(f'  {r.family:<24} {r.model:<34} {r.reason}')
    print(f'\nwrote {args.out}')


if __name__ == '__main__':
    main()
