"""Helpers shared by the datasets: the task names of the data contract, argument checks and
turning a uint8 RGB image into the normalised ``inputs`` tensor every dataset item carries."""
from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np
import torch

from ..errors import ConfigError, did_you_mean

#: Task names of the data contract (Taskonomy naming), in their canonical order.
TASK_NAMES = ('segment_semantic', 'depth_zbuffer', 'normal', 'edge_texture', 'keypoints2d')
#: Segmentation label that losses and metrics ignore.
IGNORE_INDEX = 255
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def check_tasks(tasks: Iterable[str] | str | None,
                available: Sequence[str] = TASK_NAMES) -> tuple[str, ...]:
    """Validate a task selection; ``None`` means all of ``available``. Keeps the given order."""
    if tasks is None:
        return tuple(available)
    if isinstance(tasks, str):
        tasks = [tasks]
    tasks = tuple(tasks)
    unknown = [t for t in tasks if t not in available]
    if unknown:
        names = ', '.join(f'{t!r}{did_you_mean(str(t), available)}' for t in unknown)
        raise ConfigError(f'unknown task name(s) {names}; this dataset provides '
                          f'{list(available)}')
    if not tasks:
        raise ConfigError(f'tasks is empty; pick some of {list(available)}')
    if len(set(tasks)) != len(tasks):
        raise ConfigError(f'duplicate task names in {list(tasks)}')
    return tasks


def parse_image_size(image_size: int | Sequence[int], min_size: int = 9) -> tuple[int, int]:
    """``int`` or ``(H, W)`` -> ``(H, W)``; each side must be an integer >= ``min_size``."""
    if isinstance(image_size, (int, np.integer)) and not isinstance(image_size, bool):
        size = (int(image_size), int(image_size))
    elif (isinstance(image_size, Sequence) and len(image_size) == 2
          and all(isinstance(s, (int, np.integer)) and not isinstance(s, bool)
                  for s in image_size)):
        size = (int(image_size[0]), int(image_size[1]))
    else:
        raise ConfigError(f'image_size must be an int or (H, W), got {image_size!r}')
    if min(size) < min_size:
        raise ConfigError(f'image_size must be >= {min_size} pixels per side, got {image_size!r}')
    return size


def image_to_inputs(image: np.ndarray, normalize: bool = True) -> torch.Tensor:
    """uint8 (H, W, 3) RGB -> float32 (3, H, W): in [0, 1], then ImageNet mean/std if
    ``normalize``."""
    x = image.transpose(2, 0, 1).astype(np.float32) * np.float32(1 / 255)
    if normalize:  # numpy, not torch: no intra-op threads inside DataLoader workers
        x -= np.asarray(IMAGENET_MEAN, dtype=np.float32)[:, None, None]
        x /= np.asarray(IMAGENET_STD, dtype=np.float32)[:, None, None]
    return torch.from_numpy(np.ascontiguousarray(x))
