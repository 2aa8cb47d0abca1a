"""Save a grid of built-in benchmark samples: image and the five task targets.

    python tools/analysis/preview_synthetic.py --out docs/synthetic_scenes.png --size 128
"""
from __future__ import annotations

import argparse

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', default='synthetic_scenes.png')
    parser.add_argument('--size', type=int, default=128)
    parser.add_argument('--samples', type=int, default=4)
    parser.add_argument('--split', default='train')
    args = parser.parse_args()

    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    from treemtl_plugin.datasets import SyntheticSceneDataset
    ds = SyntheticSceneDataset(num_samples=args.samples, image_size=args.size, split=args.split,
                               normalize=False)
    columns = ['image'] + list(ds.tasks)
    fig, axes = plt.subplots(args.samples, len(columns),
                             figsize=(2.2 * len(columns), 2.2 * args.samples), squeeze=False)
    for row in range(args.samples):
        item = ds[row]
        panels = {'image': item['inputs'].permute(1, 2, 0).numpy()}
        for task, target in item['data_samples'].items():
            array = target.numpy()
            if task == 'normal':
                panels[task] = np.clip(array.transpose(1, 2, 0) * 0.5 + 0.5, 0, 1)
            elif task == 'segment_semantic':
                panels[task] = np.where(array == 255, -1, array)
            else:
                panels[task] = array[0]
        for col, name in enumerate(columns):
            ax = axes[row][col]
            cmap = {'segment_semantic': 'tab10', 'depth_zbuffer': 'viridis'}.get(name, 'gray')
            ax.imshow(panels[name], cmap=None if panels[name].ndim == 3 else cmap,
                      interpolation='nearest')
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(name, fontsize=9)
    fig.suptitle(f'SyntheticSceneDataset {args.size}x{args.size}, {args.split} samples; '
                 f'classes: ' + ', '.join(f'{k}={n}' for k, n in enumerate(ds.class_names)),
                 fontsize=9)
    fig.tight_layout()
    fig.savefig(args.out, dpi=90)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
