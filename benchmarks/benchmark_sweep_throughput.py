"""Sweep throughput: one sweep run vs a bare PyTorch loop, side by side; workers vs one process.

(a) a bare loop: the same model (the config's tree model over the run's tasks and layout),
    the same AdamW optimiser, data (the same dataset, batch size and sampler seed) and loss --
    no framework; (b) the same training as one sweep run (``SweepRunner``). Both run
    ``--iters`` iterations after ``--warmup`` iterations; the report gives images/s of both, the
    ratio (b)/(a), and the fixed cost of a run (everything but its iterations).

``--sweep`` also times the config's whole sweep with 1 worker (all cores) and with
``--workers`` workers (cores / workers threads each) on a fresh work dir each.

    python benchmarks/benchmark_sweep_throughput.py [--iters 60] [--threads N] [--sweep]
    python benchmarks/benchmark_sweep_throughput.py --device cuda --amp --channels-last
"""
from __future__ import annotations

import argparse
import os.path as osp
import subprocess
import sys
import tempfile
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))

import torch  # noqa: E402
from mmengine.config import Config  # noqa: E402

from treemtl_plugin.sweep.plan import plan_sweep  # noqa: E402
from treemtl_plugin.sweep.run_config import run_config  # noqa: E402

CONFIG = osp.join(ROOT, 'configs', 'synthetic', 'tree_resnet18_synthetic_3task.py')


def run_cfg(base: Config, iters: int, device: str, amp: bool, channels_last: bool,
            work: str) -> Config:
    run = plan_sweep(list(base.model.tasks), base.model.backbone.num_branch_points)[-1]
    cfg = run_config(base, run.tasks, run.layout(), work, run.run_id)
    cfg.merge_from_dict({'train_cfg.max_iters': iters, 'log_level': 'WARNING'})
    if amp:           # as a config would: sweep.overrides.optim_wrapper
        cfg.merge_from_dict({'optim_wrapper.type': 'AmpOptimWrapper',
                             'optim_wrapper.dtype': 'bfloat16'})
    if channels_last:
        cfg.model.channels_last = True
    return cfg


def bare_loop(cfg: Config, warmup: int, iters: int, device: str, amp: bool,
              channels_last: bool) -> float:
    """Images per second of a plain PyTorch training loop over the same model and data."""
    from mmengine.registry import init_default_scope
    from torch.utils.data import DataLoader

    from treemtl_plugin.registry import DATASETS, MODELS
    init_default_scope('treemtl_plugin')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device).train()
    opt_cfg = dict(cfg.optim_wrapper.optimizer)
    opt_cfg.pop('type')
    optimizer = torch.optim.AdamW(model.parameters(), **opt_cfg)
    dataset = DATASETS.build(cfg.train_dataloader.dataset)
    batch_size = cfg.train_dataloader.batch_size
    generator = torch.Generator().manual_seed(0)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=True, drop_last=True,
                        generator=generator, num_workers=0)
    batches = iter(loader)
    done, start = 0, None
    while done < warmup + iters:
        try:
            batch = next(batches)
        except StopIteration:
            batches = iter(loader)
            batch = next(batches)
        if done == warmup:
            if device == 'cuda':
                torch.cuda.synchronize()
            start = time.perf_counter()
        inputs = batch['inputs'].to(device)
        targets = {k: v.to(device) for k, v in batch['data_samples'].items()}
        with torch.autocast(device, dtype=torch.bfloat16, enabled=amp):
            losses = model(inputs, targets, mode='loss')
            loss = sum(losses.values())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        done += 1
    if device == 'cuda':
        torch.cuda.synchronize()
    return iters * batch_size / (time.perf_counter() - start)


def sweep_run(cfg: Config, warmup: int, iters: int) -> tuple[float, float]:
    """Images per second over the sweep run's iterations after ``warmup`` (the bare loop's
    statistic: all timed iterations, data loading included), and its fixed cost."""
    from benchmark_sweep_overhead import one_run
    cfg.train_cfg.max_iters = warmup + iters
    result = one_run(cfg, plain=False)
    timed = result['iter_times'][warmup:]
    return (cfg.train_dataloader.batch_size * len(timed) / sum(timed),
            result['fixed'] + result['first_iter_excess'])


def prerender(cfg: Config) -> None:
    """Render every training sample once (the dataset's own ``prerender``), so that neither
    side pays for first renders: the built-in benchmark keeps rendered samples in a
    process-wide cache that both sides then read."""
    from mmengine.registry import init_default_scope

    from treemtl_plugin.registry import DATASETS
    init_default_scope('treemtl_plugin')
    DATASETS.build(dict(cfg.train_dataloader.dataset, prerender=True)).full_init()


def whole_sweep(workers: int, threads: int | None, extra: list[str]) -> float:
    work = tempfile.mkdtemp(prefix=f'sweep_w{workers}_')
    options = [f'sweep.workers={workers}'] + ([f'sweep.threads={threads}'] if threads else [])
    start = time.perf_counter()
    subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'recommend.py'), CONFIG,
                    '--work-dir', work, '--cfg-options', *options, *extra],
                   check=True, stdout=subprocess.DEVNULL, cwd=ROOT)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--iters', type=int, default=60, help='timed iterations')
    parser.add_argument('--warmup', type=int, default=10)
    parser.add_argument('--threads', type=int, help='torch threads (default: every core)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--amp', action='store_true', help='bf16 autocast (GPU)')
    parser.add_argument('--channels-last', action='store_true')
    parser.add_argument('--cfg-options', nargs='*', default=[],
                        help='k=v overrides of the config '
                             '(e.g. model.backbone.model_name=resnet34)')
    parser.add_argument('--sweep', action='store_true', help='also time the whole sweep')
    parser.add_argument('--workers', type=int, default=2)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    base = Config.fromfile(CONFIG)
    base.merge_from_dict({k: eval(v) if v[:1] in '([{0123456789' else v
                          for k, v in (o.split('=', 1) for o in args.cfg_options)})
    cfg = run_cfg(base, args.warmup + args.iters, args.device, args.amp, args.channels_last,
                  tempfile.mkdtemp(prefix='throughput_'))
    backbone = cfg.model.backbone
    print(f'{backbone.model_name} @ {backbone.input_size[1]} px, batch '
          f'{cfg.train_dataloader.batch_size}, tasks {list(cfg.model.tasks)}, '
          f'{torch.get_num_threads()} threads, device {args.device}'
          + (', bf16' if args.amp else '') + (', channels_last' if args.channels_last else ''))
    prerender(cfg)
    bare = bare_loop(cfg, args.warmup, args.iters, args.device, args.amp, args.channels_last)
    ours, fixed = sweep_run(cfg, args.warmup, args.iters)
    print(f'(a) bare PyTorch loop : {bare:8.1f} images/s')
    print(f'(b) sweep run         : {ours:8.1f} images/s   ratio (b)/(a) = {ours / bare:.2f}')
    print(f'    fixed cost of a sweep run (outside its iterations): {fixed:.2f} s')
    if args.sweep:
        one = whole_sweep(1, None, [])
        many = whole_sweep(args.workers, None, [])
        print(f'whole default sweep: 1 worker {one:.0f} s, {args.workers} workers {many:.0f} s '
              f'({many / one:.2f}x)')


if __name__ == '__main__':
    main()
