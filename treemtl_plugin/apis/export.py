"""Exported training configs: one short, drop-in mmengine config per recommended model.

Each file inherits the config the recommendation ran with (``_base_``, the copy saved in the
work dir, so ``--cfg-options`` are kept) and sets only what the recommendation changes: the
model's layout (or its task-grouping networks) and the training work dir. A header comment
says which candidate it is. ``tools/train.py FILE`` or a plain mmengine ``Runner`` trains it.

An exported file the user edited is the user's: ``.exported.json`` records a hash of every
file as written, and a later export never overwrites or removes a file whose content no longer
matches it; the new config goes beside it as ``<name>.new.py``, with a warning.
"""
from __future__ import annotations

import glob
import hashlib
import json
import os
import os.path as osp
import pprint
import re
import warnings
from collections.abc import Mapping

from ..io.atomic import atomic_write, write_json
from ..recommenders.base import BaseRecommender, Candidate, Recommendation

__all__ = ['export_configs', 'exported_name', 'MANIFEST']

#: in the export folder: ``{file name: sha256 of the text the export wrote}``
MANIFEST = '.exported.json'


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
    manifest = osp.join(export_dir, MANIFEST)
    written = _manifest(manifest)
    kept = set()                      # the user's edited files, left as they are
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
        if _edited(path, written) and _digest_of(path) != _digest(text):
            new = osp.join(export_dir, f'{name}.new.py')
            warnings.warn(f'kept {path}: it was changed since it was exported; this '
                          f'recommendation is written beside it as {new} (compare the two, '
                          'then replace yours or delete the new one)', UserWarning,
                          stacklevel=2)
            kept.add(path)
            path = new
        atomic_write(path, lambda f, text=text: f.write(text))
        written[osp.basename(path)] = _digest(text)
        paths.append(path)
    # an earlier run's candidates that this one did not produce (e.g. a larger topk) go,
    # unless the user changed them
    ours = re.compile(rf'(rank|group)\d+_{re.escape(config_name)}(_[\w.-]+)?(\.new)?\.py')
    for stale in glob.glob(osp.join(export_dir, f'*_{config_name}*.py')):
        if stale in paths or stale in kept or not ours.fullmatch(osp.basename(stale)):
            continue
        if _edited(stale, written):
            warnings.warn(f'kept {stale}: this recommendation did not produce it, but it was '
                          'changed since it was exported', UserWarning, stacklevel=2)
            continue
        os.remove(stale)
        written.pop(osp.basename(stale), None)
    write_json(manifest, written)
    return paths


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode('utf-8')).hexdigest()


def _digest_of(path: str) -> str | None:
    try:
        with open(path, encoding='utf-8') as f:
            return _digest(f.read())
    except (OSError, UnicodeDecodeError):
        return None


def _edited(path: str, written: Mapping[str, str]) -> bool:
    """Does ``path`` exist with content other than what the export last wrote there?"""
    return osp.exists(path) and _digest_of(path) != written.get(osp.basename(path))


def _manifest(path: str) -> dict:
    """The hashes of the files as the last export wrote them ({} when none or unreadable)."""
    try:
        with open(path, encoding='utf-8') as f:
            found = json.load(f)
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}
