"""Exported training configs: one short, drop-in mmengine config per recommended model.

Each file inherits the config the recommendation ran with (``_base_``, the copy saved in the
work dir, so ``--cfg-options`` are kept) and sets only what the recommendation changes: the
model's layout (or its task-grouping networks) and the training work dir. A header comment
says which candidate it is. ``tools/train.py FILE`` or a plain mmengine ``Runner`` trains it.
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import pprint
import re
from collections.abc import Mapping

from ..io.atomic import atomic_write
from ..recommenders.base import BaseRecommender, Candidate, Recommendation

__all__ = ['export_configs', 'exported_name']


def exported_name(rec: Recommendation, candidate: Candidate, config_name: str,
                  backbone: str | None = None) -> str:
    """``rank<k>_<config>`` (``group<k>_`` for task grouping), with ``_<backbone>`` appended
    when the config's name does not say the backbone it builds (after a swap)."""
    prefix = 'group' if rec.strategy == 'TaskGroupingRecommender' else 'rank'
    name = f'{prefix}{candidate.rank}_{config_name}'
    if backbone and backbone not in config_name:
        name += '_' + re.sub(r'[^\w.-]', '_', backbone)
    return name


def _assign(name: str, value) -> str:
    return f'{name} = {pprint.pformat(value, width=96, sort_dicts=False)}\n'


def _header(rec: Recommendation, candidate: Candidate, source: str,
            backbone: str | None = None) -> str:
    est = ', '.join(f'{t} {v:+.2f}%' for t, v in candidate.estimates.items())
    lines = [f'{rec.strategy} rank {candidate.rank} of {len(rec.top)}: estimated score '
             f'{candidate.score:.4f}',
             f'estimated relative performance vs single-task models: {est}',
             f'backbone {backbone + ", " if backbone else ""}'
             f'{candidate.flops:.4g} {rec.cost_model.flops_unit} '
             f'({100 * candidate.flops_ratio:.1f}% of independent models, '
             f'{candidate.models:.2f} backbones)',
             f'recommended from {source}', ''] + candidate.draw().splitlines()
    return ''.join(f'# {line}'.rstrip() + '\n' for line in lines)


def _backbone_name(model: Mapping) -> str | None:
    """The timm name of the model's backbone, for the header (None if it has none)."""
    backbone = model.get('backbone') if isinstance(model, Mapping) else None
    name = backbone.get('model_name') if isinstance(backbone, Mapping) else None
    return str(name) if name else None


def export_configs(rec: Recommendation, recommender: BaseRecommender, base_config: str,
                   base_model: Mapping, export_dir: str, train_root: str,
                   sweep_dir: str | None = None) -> list[str]:
    """Write one config per candidate of ``rec`` into ``export_dir``; returns their paths.

    ``base_config`` is the config file to inherit (the run's saved config); each model trains
    into ``<train_root>/<name>`` (derived from the recommendation's work dir, so two
    recommendations never share checkpoints). ``sweep_dir`` (recorded in ``recommendation``)
    holds the single-task models that ``tools/train.py`` and ``tools/test.py`` compare the
    trained model with.
    """
    os.makedirs(export_dir, exist_ok=True)
    config_name = osp.splitext(osp.basename(base_config))[0]
    base_rel = osp.relpath(osp.abspath(base_config), osp.abspath(export_dir))
    paths = []
    for candidate in rec.top:
        name = exported_name(rec, candidate, config_name, _backbone_name(base_model))
        text = (_header(rec, candidate, base_config, _backbone_name(base_model))
                + '# train: python tools/train.py <this file>\n\n'
                + _assign('_base_', [base_rel])
                + _assign('model', recommender.model_override(base_model, candidate))
                + _assign('work_dir', osp.join(train_root, name))
                + _assign('recommendation', dict(strategy=rec.strategy, rank=candidate.rank,
                                                 score=candidate.score,
                                                 estimates=candidate.estimates,
                                                 **candidate.structure(),
                                                 **({} if sweep_dir is None else dict(
                                                     sweep_dir=osp.abspath(sweep_dir))))))
        path = osp.join(export_dir, f'{name}.py')
        atomic_write(path, lambda f, text=text: f.write(text))
        paths.append(path)
    # an earlier run's candidates that this one did not produce (e.g. a larger topk) go
    ours = re.compile(rf'(rank|group)\d+_{re.escape(config_name)}(_[\w.-]+)?\.py')
    for stale in glob.glob(osp.join(export_dir, f'*_{config_name}*.py')):
        if stale not in paths and ours.fullmatch(osp.basename(stale)):
            os.remove(stale)
    return paths
