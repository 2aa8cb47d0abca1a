"""mmengine registries of the ``treemtl_plugin`` scope (as mmpretrain/mmdet do); no side effects.

Every mmengine root registry is mirrored so that a config with
``default_scope='treemtl_plugin'`` finds both our entries and mmengine's (no "Failed to search
registry" warnings). ``locations`` lists the modules that register entries; mmengine imports
them the first time the registry is searched. ``RECOMMENDERS`` holds the recommendation
strategies (``TreeRecommender``, ``TaskGroupingRecommender``); ``TABLE_METHODS`` the ways to get
the two-task table (``PairwiseTable``, ``LookaheadTable``, ``SimilarityTable``,
``AdaptiveTable``), picked by ``sweep.method``.
"""
from mmengine.registry import DATA_SAMPLERS as MMENGINE_DATA_SAMPLERS
from mmengine.registry import DATASETS as MMENGINE_DATASETS
from mmengine.registry import EVALUATOR as MMENGINE_EVALUATOR
from mmengine.registry import FUNCTIONS as MMENGINE_FUNCTIONS
from mmengine.registry import HOOKS as MMENGINE_HOOKS
from mmengine.registry import INFERENCERS as MMENGINE_INFERENCERS
from mmengine.registry import LOG_PROCESSORS as MMENGINE_LOG_PROCESSORS
from mmengine.registry import LOOPS as MMENGINE_LOOPS
from mmengine.registry import METRICS as MMENGINE_METRICS
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from mmengine.registry import MODELS as MMENGINE_MODELS
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS as MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS
from mmengine.registry import OPTIM_WRAPPERS as MMENGINE_OPTIM_WRAPPERS
from mmengine.registry import OPTIMIZERS as MMENGINE_OPTIMIZERS
from mmengine.registry import PARAM_SCHEDULERS as MMENGINE_PARAM_SCHEDULERS
from mmengine.registry import RUNNER_CONSTRUCTORS as MMENGINE_RUNNER_CONSTRUCTORS
from mmengine.registry import RUNNERS as MMENGINE_RUNNERS
from mmengine.registry import STRATEGIES as MMENGINE_STRATEGIES
from mmengine.registry import TASK_UTILS as MMENGINE_TASK_UTILS
from mmengine.registry import TRANSFORMS as MMENGINE_TRANSFORMS
from mmengine.registry import VISBACKENDS as MMENGINE_VISBACKENDS
from mmengine.registry import VISUALIZERS as MMENGINE_VISUALIZERS
from mmengine.registry import WEIGHT_INITIALIZERS as MMENGINE_WEIGHT_INITIALIZERS
from mmengine.registry import Registry

SCOPE = 'treemtl_plugin'


def _child(name: str, parent: Registry, locations: tuple[str, ...] = ()) -> Registry:
    return Registry(name, parent=parent, scope=SCOPE, locations=list(locations))


RUNNERS = _child('runner', MMENGINE_RUNNERS, ('treemtl_plugin.engine.runner',))
RUNNER_CONSTRUCTORS = _child('runner constructor', MMENGINE_RUNNER_CONSTRUCTORS)
LOOPS = _child('loop', MMENGINE_LOOPS)
HOOKS = _child('hook', MMENGINE_HOOKS, ('treemtl_plugin.visualization.predictions',
                                       'treemtl_plugin.affinity.hooks',
                                       'treemtl_plugin.engine.img_size'))
LOG_PROCESSORS = _child('log processor', MMENGINE_LOG_PROCESSORS)
OPTIMIZERS = _child('optimizer', MMENGINE_OPTIMIZERS)
OPTIM_WRAPPERS = _child('optim_wrapper', MMENGINE_OPTIM_WRAPPERS)
OPTIM_WRAPPER_CONSTRUCTORS = _child('optimizer wrapper constructor',
                                    MMENGINE_OPTIM_WRAPPER_CONSTRUCTORS)
PARAM_SCHEDULERS = _child('parameter scheduler', MMENGINE_PARAM_SCHEDULERS)
DATASETS = _child('dataset', MMENGINE_DATASETS, ('treemtl_plugin.datasets',))
DATA_SAMPLERS = _child('data sampler', MMENGINE_DATA_SAMPLERS)
TRANSFORMS = _child('transform', MMENGINE_TRANSFORMS)
MODELS = _child('model', MMENGINE_MODELS, ('treemtl_plugin.models',))
MODEL_WRAPPERS = _child('model_wrapper', MMENGINE_MODEL_WRAPPERS)
WEIGHT_INITIALIZERS = _child('weight initializer', MMENGINE_WEIGHT_INITIALIZERS)
TASK_UTILS = _child('task util', MMENGINE_TASK_UTILS)
METRICS = _child('metric', MMENGINE_METRICS, ('treemtl_plugin.evaluation',))
EVALUATOR = _child('evaluator', MMENGINE_EVALUATOR)
VISBACKENDS = _child('vis_backend', MMENGINE_VISBACKENDS)
VISUALIZERS = _child('visualizer', MMENGINE_VISUALIZERS,
                     ('treemtl_plugin.visualization.predictions',))
STRATEGIES = _child('strategy', MMENGINE_STRATEGIES)
INFERENCERS = _child('inferencer', MMENGINE_INFERENCERS)
FUNCTIONS = _child('function', MMENGINE_FUNCTIONS)
RECOMMENDERS = Registry('recommender', scope=SCOPE, locations=['treemtl_plugin.recommenders'])
TABLE_METHODS = Registry('table method', scope=SCOPE,
                         locations=['treemtl_plugin.affinity.methods'])
