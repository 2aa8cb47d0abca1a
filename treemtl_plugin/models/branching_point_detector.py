"""Branching-point detector: split any traceable backbone into a chain of computation blocks.

1. Trace the model (timm's fx tracer settings: its leaf modules and autowrapped functions).
2. Build a networkx DAG of the graph and find every *single-tensor cut*: a node that all
   input->output paths pass through. These are exactly the dominators of the output node
   (walk ``immediate_dominators`` from the output back to the input).
3. Drop cuts that fall inside one of the model's own block modules (``BasicBlock``,
   ``InvertedResidual``, ViT ``Block``...), so blocks line up with them.
4. Merge blocks that hold no conv/linear weights (activations, norms, pooling, reshapes) into
   a neighbour, so each block is a real computation block.
5. Slice the graph at the remaining cuts into runnable ``fx.GraphModule`` blocks that share the
   original modules (and so the original, e.g. pretrained, weights).

Steps 2-4 only choose the cuts; ``DetectedBlock.cut`` records each one by fx node name, so
``slice_blocks`` can redo step 5 on a fresh trace of the same model without steps 2-4 (this is
how ``TimmBlockBackbone`` builds from a cached ``BackboneProfile``).
"""
from __future__ import annotations

import contextlib
import operator
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

import networkx as nx
import torch
import torch.fx as fx
import torch.nn as nn
import torch.nn.functional as F

from ..errors import DetectionError

__all__ = ['DEFAULT_BLOCK_PATTERN', 'DetectionError', 'DetectedBlock', 'Detection', 'trace',
           'single_tensor_cuts', 'detect_blocks', 'slice_blocks']

# Class names of the block modules timm (and torchvision) models are built from. A cut strictly
# inside one of these is dropped. Stages/containers (Sequential, *Stage) are not listed.
DEFAULT_BLOCK_PATTERN = (r'(Block|Bottleneck|Residual|BasicLayer|DenseLayer|Basic$|Unit$|'
                         r'Cell$|ConvMixer|MbConv|MBConv|DepthwiseSeparableConv|EdgeResidual|'
                         r'CondConvResidual|Transition$)')

_WEIGHT_FUNCTIONS = {F.conv1d, F.conv2d, F.conv3d, F.conv_transpose1d, F.conv_transpose2d,
                     F.conv_transpose3d, F.linear, torch.conv1d, torch.conv2d, torch.conv3d}


@dataclass
class DetectedBlock:
    """One computation block: a runnable module from one tensor to the next."""
    index: int
    name: str
    module: fx.GraphModule
    modules: list[str] = field(default_factory=list)   # module paths the block covers
    cut: str | None = None    # fx node name of the cut ending the block; None: graph output


@dataclass
class Detection:
    blocks: list[DetectedBlock]
    num_raw_cuts: int          # single-tensor cuts before alignment and merging
    graph_module: fx.GraphModule


class _Backbone(nn.Module):
    """Wraps a timm model so that tracing stops before the classifier head by default."""

    def __init__(self, model: nn.Module, include_head: bool = False):
        super().__init__()
        self.model = model
        self.include_head = include_head

    def forward(self, x):
        if self.include_head or not hasattr(self.model, 'forward_features'):
            return self.model(x)
        return self.model.forward_features(x)


class _TimmTracer(fx.Tracer):
    """torch.fx tracer with timm's leaf modules and autowrapped functions (its public
    ``register_notrace_module`` / ``register_notrace_function`` registries)."""

    def __init__(self):
        from timm.layers import get_notrace_functions, get_notrace_modules
        super().__init__(autowrap_functions=tuple(get_notrace_functions()))
        self._leaves = tuple(get_notrace_modules())

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, self._leaves) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module, include_head: bool = False) -> fx.GraphModule:
    """Trace ``model`` (features only unless ``include_head``) into a GraphModule."""
    # Call the model through nn.Module.__call__ (not ``self.model.forward_features(x)``): fx only
    # autowraps timm's notrace functions in the globals of modules it *calls*, so a direct
    # forward_features call leaves the model's own Python module unpatched.
    swapped = not include_head and hasattr(model, 'forward_features')
    if swapped:
        model.forward = model.forward_features
    root = _Backbone(model, include_head=True)
    try:
        with _dict_attributes_restored(model):
            graph = _TimmTracer().trace(root)
    except Exception as err:  # fx raises many types: TraceError, TypeError, RuntimeError...
        raise DetectionError(
            f'{type(model).__name__} cannot be traced with torch.fx ({type(err).__name__}: '
            f'{err}). The op above is data-dependent or untraceable; register it as a leaf '
            'with timm.layers.register_notrace_module / register_notrace_function, or set '
            '`block_groups` / `block_modules` to name the blocks explicitly.') from err
    finally:
        if swapped:
            del model.forward
    gm = fx.GraphModule(root, graph, class_name=type(model).__name__ + 'Traced')
    gm.graph.eliminate_dead_code()
    gm.recompile()
    return gm


@contextlib.contextmanager
def _dict_attributes_restored(model: nn.Module):
    """Put back the contents of the modules' dict attributes after tracing.

    Some timm modules (LeViT, EfficientFormer, EfficientViT-MSRA attention) fill a plain dict
    cache in eval mode; tracing would leave an fx Proxy in it, which the next trace of the model
    reads back ("Argument ... does not belong to this Graph").
    """
    saved = [(m, name, value, dict(value)) for m in model.modules()
             for name, value in vars(m).items()
             if type(value) is dict and not name.startswith('_')]
    try:
        yield
    finally:
        for m, name, value, contents in saved:
            value.clear()
            value.update(contents)
            vars(m)[name] = value


def _module_stack(node: fx.Node) -> list[tuple[str, type]]:
    """(path, class) of the modules a node was created in, outermost first (root excluded)."""
    stack = node.meta.get('nn_module_stack') or {}
    out = []
    for value in stack.values():
        path, cls = value if isinstance(value, tuple) else (value, object)
        if isinstance(cls, str):
            cls = type(cls, (), {})
        path = path.removeprefix('model.') if path != 'model' else ''
        if path:
            out.append((path, cls))
    if node.op == 'call_module':
        path = str(node.target).removeprefix('model.')
        if not out or out[-1][0] != path:
            out.append((path, object))
    return out


_FREE_ATTRS = ('dtype', 'device')


def _free_kind(node: fx.Node, source: fx.Node):
    """Metadata reads any block can redo on its own input: dtype/device of any tensor, and the
    batch size ``x.shape[0]`` / ``x.size(0)`` of the model input."""
    if node.op == 'call_function' and node.target is getattr and len(node.args) == 2 \
            and node.args[1] in _FREE_ATTRS:
        return ('attr', node.args[1])
    if node.op == 'call_function' and node.target is operator.getitem and node.args[1] == 0:
        base = node.args[0]
        if isinstance(base, fx.Node) and base.op == 'call_function' and base.target is getattr \
                and base.args == (source, 'shape'):
            return ('batch',)
    if node.op == 'call_method' and node.target == 'size' and node.args == (source, 0):
        return ('batch',)
    return None


def _dependency_graph(graph: fx.Graph) -> tuple[nx.DiGraph, fx.Node, fx.Node]:
    placeholders = [n for n in graph.nodes if n.op == 'placeholder']
    if len(placeholders) != 1:
        raise DetectionError(f'the traced backbone takes {len(placeholders)} inputs; the '
                             'detector needs exactly one image tensor')
    source = placeholders[0]
    sink = next(n for n in graph.nodes if n.op == 'output')
    dag = nx.DiGraph()
    for node in graph.nodes:
        dag.add_node(node)
        if _free_kind(node, source):
            continue          # no data dependency: the block re-reads it from its own input
        for parent in node.all_input_nodes:
            dag.add_edge(parent, node)
    reach = nx.descendants(dag, source) | {source}
    relevant = (nx.ancestors(dag, sink) | {sink}) & reach
    return dag.subgraph(relevant).copy(), source, sink


def single_tensor_cuts(graph: fx.Graph) -> tuple[list[fx.Node], nx.DiGraph, dict]:
    """Nodes every input->output path passes through, in order (input first, output excluded)."""
    dag, source, sink = _dependency_graph(graph)
    idom = nx.immediate_dominators(dag, source)
    chain = []
    node = sink
    while node is not source:
        node = idom.get(node, source)
        chain.append(node)
    chain.reverse()
    return chain, dag, idom


def _is_weighted(node: fx.Node, root: nn.Module) -> bool:
    """Does this node run a conv or linear layer (the compute a block is made of)?"""
    if node.op == 'call_module':
        module = root.get_submodule(str(node.target))
        return any(isinstance(m, (nn.modules.conv._ConvNd, nn.Linear))
                   for m in module.modules())
    if node.op == 'call_function':
        return node.target in _WEIGHT_FUNCTIONS
    return False


def _assign_segments(order: list[fx.Node], cut_index: dict, idom: dict) -> dict:
    """Segment number of every relevant node: segment k runs from cut k-1 (excl.) to cut k."""
    seg = {}
    for node in order:
        if node in cut_index:
            seg[node] = cut_index[node]
            continue
        up = idom[node]
        while up not in cut_index:
            up = idom[up]
        seg[node] = cut_index[up] + 1
    return seg


def detect_blocks(model: nn.Module, include_head: bool = False,
                  block_pattern: str | None = DEFAULT_BLOCK_PATTERN,
                  block_modules: Sequence[str] | None = None,
                  merge_weightless: bool = True, example_input=None) -> Detection:
    """Split ``model`` into a chain of runnable computation blocks.

    ``block_pattern``: regex on module class names whose interior cuts are dropped (``None``
    keeps every cut). ``block_modules``: explicit module paths (e.g. ``['layer1.0', ...]``)
    whose interior cuts are dropped too. ``include_head`` keeps the classifier head.
    """
    gm = trace(model, include_head)
    cuts, dag, idom = single_tensor_cuts(gm.graph)
    order = [n for n in gm.graph.nodes if n in dag]
    position = {n: k for k, n in enumerate(order)}
    source, inner = cuts[0], cuts[1:]
    num_raw = len(inner)

    # 3. drop cuts inside block modules: a cut is interior to module M if M runs on after it
    pattern = re.compile(block_pattern) if block_pattern else None
    explicit = set(block_modules or ())
    last_node_of: dict[str, int] = {}
    for node in order:
        for path, _ in _module_stack(node):
            last_node_of[path] = position[node]

    def interior(node: fx.Node) -> bool:
        for path, cls in _module_stack(node):
            is_block = path in explicit or (pattern is not None and
                                            pattern.search(getattr(cls, '__name__', '')))
            if is_block and last_node_of[path] > position[node]:
                return True
        return False

    sink = next(n for n in gm.graph.nodes if n.op == 'output')
    end = inner[-1] if inner and sink.args[0] is inner[-1] else None  # returned tensor
    candidates = inner[:-1] if end is not None else inner
    kept = [c for c in candidates if not interior(c)]
    # batch reads re-done on a block's input are only valid where that input has the batch
    # at dim 0: check with two batch sizes, drop the cuts that fail
    if any(_free_kind(n, source) == ('batch',) for n in gm.graph.nodes):
        from torch.fx.passes.shape_prop import ShapeProp
        if example_input is None:
            size = (getattr(model, 'pretrained_cfg', None) or {}).get('input_size')
            if size is None:
                raise DetectionError('this model reads its batch size; pass example_input '
                                     '(a tensor of one image) so cuts can be checked')
            example_input = torch.randn(1, *size)
        dims = []
        training = gm.training
        gm.eval()  # no BatchNorm statistics updates while probing shapes
        try:
            for b in (2, 3):
                x = example_input[:1].expand(b, *example_input.shape[1:]).contiguous()
                with torch.no_grad():
                    ShapeProp(gm).propagate(x)
                dims.append({c: getattr(c.meta.get('tensor_meta'), 'shape', (None,))[0]
                             for c in kept})
        finally:
            gm.train(training)
        kept = [c for c in kept if dims[0][c] == 2 and dims[1][c] == 3]
    if explicit:
        missing = sorted(explicit - set(last_node_of))
        if missing:
            raise DetectionError(f'block_modules {missing} are not modules of the traced '
                                 f'backbone; known top-level modules: '
                                 f'{sorted({p.split(".")[0] for p in last_node_of})}')

    # 4. merge weightless segments into the previous one (the first into the next)
    weighted_nodes = {n for n in order if n is not source and _is_weighted(n, gm)}
    while merge_weightless and kept:
        seg = _segments(order, source, kept, end, sink, idom)
        has_weights = [False] * (len(kept) + 2)
        for node in weighted_nodes:
            has_weights[seg[node]] = True
        light = [k for k in range(1, len(kept) + 2) if not has_weights[k]]
        if not light:
            break
        k = light[0]
        members = [n for n in order if n is not sink and seg.get(n) == k]
        into_next = k == 1 or (k <= len(kept) and _merge_forward(members, seg, order, k))
        del kept[k - 1 if into_next else k - 2]
    return Detection(blocks=_slice(gm, source, kept, sink, order),
                     num_raw_cuts=num_raw, graph_module=gm)


def slice_blocks(gm: fx.GraphModule, cuts: Sequence[str]) -> list[DetectedBlock]:
    """Slice a traced backbone (``trace(model, include_head)``) at the fx nodes named ``cuts``.

    ``cuts`` are the ``DetectedBlock.cut`` names of a previous ``detect_blocks`` run on the same
    model and library versions, in order, without the last block's ``None``. Gives the same
    blocks as that run without redoing its dominator search, alignment and shape probing; raises
    ``DetectionError`` if the names do not fit this graph (a stale record).
    """
    dag, source, sink = _dependency_graph(gm.graph)
    nodes = {n.name: n for n in dag}
    unknown = [c for c in cuts if c not in nodes or nodes[c] is source]
    if unknown:
        raise DetectionError(f'cut nodes {unknown} are not in the traced graph of '
                             f'{gm.__class__.__name__}; the recorded cuts are stale')
    order = [n for n in gm.graph.nodes if n in dag]
    return _slice(gm, source, [nodes[c] for c in cuts], sink, order)


def _common_depth(a: fx.Node, b: fx.Node) -> int:
    depth = 0
    for (pa, _), (pb, _) in zip(_module_stack(a), _module_stack(b)):
        if pa != pb:
            break
        depth += 1
    return depth


def _merge_forward(members: list[fx.Node], seg: dict, order: list[fx.Node], k: int) -> bool:
    """Should weightless segment ``k`` join the next block rather than the previous one?

    Yes when it shares a deeper module with the next block (e.g. the norm that opens a
    ``downsample`` Sequential belongs with the conv that follows it).
    """
    if not members:
        return False
    prev_nodes = [n for n in order if seg.get(n) == k - 1]
    next_nodes = [n for n in order if seg.get(n) == k + 1]
    if not next_nodes:
        return False
    back = _common_depth(prev_nodes[-1], members[0]) if prev_nodes else -1
    return _common_depth(members[-1], next_nodes[0]) > back


def _segments(order, source, kept, end, sink, idom) -> dict:
    """Segment k (1-based) = nodes after boundary k-1 up to and including boundary k."""
    index = {source: 0} | {c: k + 1 for k, c in enumerate(kept)}
    if end is not None:
        index[end] = len(kept) + 1
    return _assign_segments([n for n in order if n is not sink], index, idom)


def _positional_segments(order: list[fx.Node], source: fx.Node, kept: list[fx.Node],
                         sink: fx.Node) -> dict:
    """Segment k (1-based) = nodes after cut k-1 up to and including cut k, in graph order.

    For cuts that dominate the output this equals the dominator-tree assignment of
    ``_segments``: a node dominated by cut c comes after c, and a node not dominated by the
    next cut c' reaches the output only through c', so it comes before c'. ``_slice`` checks
    that no block reads another block's nodes, which catches names that are not cuts.
    """
    position = {n: k for k, n in enumerate(order)}
    bounds = [position[c] for c in kept]
    if bounds != sorted(set(bounds)):
        raise DetectionError(f'cuts {[c.name for c in kept]} are not in graph order')
    seg, k = {source: 0}, 1
    for node in order:
        if node is source or node is sink:
            continue
        seg[node] = k
        if k <= len(kept) and node is kept[k - 1]:
            k += 1
    return seg


def _slice(gm: fx.GraphModule, source: fx.Node, kept: list[fx.Node], sink: fx.Node,
           order: list[fx.Node]) -> list[DetectedBlock]:
    """Cut the graph at ``kept`` into runnable GraphModules, one per segment."""
    seg = _positional_segments(order, source, kept, sink)
    num_segments = len(kept) + 1
    members: list[list[fx.Node]] = [[] for _ in range(num_segments + 1)]
    for node in order:
        if node is not sink and node is not source:
            members[seg[node]].append(node)
    bounds = [source] + kept
    for k in range(1, num_segments + 1):
        for node in members[k]:
            for parent in node.all_input_nodes:
                if parent in seg and seg[parent] != k and parent is not bounds[k - 1]:
                    raise DetectionError(
                        f'{node.name} (block {k - 1}) reads {parent.name} of block '
                        f'{seg[parent] - 1}: the cuts {[c.name for c in kept]} do not split '
                        'the graph into a chain (stale or wrong cut names)')
    blocks = []
    for k in range(1, num_segments + 1):
        graph = fx.Graph()
        env: dict[fx.Node, fx.Node] = {bounds[k - 1]: graph.placeholder('x')}

        block_input = env[bounds[k - 1]]

        def lookup(n: fx.Node, graph=graph, env=env, block_input=block_input):
            kind = _free_kind(n, source) if n not in env else None
            if kind is not None and kind[0] == 'attr':
                env[n] = graph.call_function(getattr, (block_input, kind[1]))
            elif kind is not None:
                env[n] = graph.call_method('size', (block_input, 0))
            if n not in env:  # an input-independent node (parameter, constant): copy it here
                env[n] = graph.node_copy(n, lambda a: lookup(a))
            return env[n]

        for node in members[k]:
            env[node] = graph.node_copy(node, lookup)
        if k <= len(kept):
            graph.output(env[kept[k - 1]])
        else:
            graph.output(fx.node.map_arg(sink.args[0], lookup))
        module = fx.GraphModule(gm, graph, class_name=f'Block{k - 1}')
        covered = _covered_modules(members[k], order)
        blocks.append(DetectedBlock(index=k - 1, name=_block_name(covered, k - 1),
                                    module=module, modules=covered,
                                    cut=kept[k - 1].name if k <= len(kept) else None))
    return blocks


def _covered_modules(nodes: list[fx.Node], order: list[fx.Node]) -> list[str]:
    """Outermost module paths whose nodes all lie in ``nodes``, in execution order."""
    count_all: dict[str, int] = {}
    for node in order:
        for path, _ in _module_stack(node):
            count_all[path] = count_all.get(path, 0) + 1
    count_in: dict[str, int] = {}
    first: dict[str, int] = {}
    for k, node in enumerate(nodes):
        for path, _ in _module_stack(node):
            count_in[path] = count_in.get(path, 0) + 1
            first.setdefault(path, k)
    covered = [p for p in count_in if count_in[p] == count_all[p]]
    outer = [p for p in covered
             if not any(p.startswith(q + '.') for q in covered if q != p)]
    return sorted(outer, key=first.__getitem__)


def _block_name(covered: list[str], index: int) -> str:
    if not covered:
        return f'block{index}'
    if len(covered) <= 4:
        return '+'.join(covered)
    return f'{covered[0]}..{covered[-1]}'
