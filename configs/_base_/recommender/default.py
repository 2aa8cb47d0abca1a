# Recommender defaults shared by every config (override any key in a child config or with
# --cfg-options recommender.topk=10 recommender.budget.max_models=2).
recommender = dict(
    type='TreeRecommender',   # or 'TaskGroupingRecommender' (also: --strategy task_grouping)
    topk=5,
    budget=dict(),            # max_flops / max_flops_ratio / max_models / max_params
    # TreeRecommender options (task_weights defaults to 'svde', the paper's SVD-entropy
    # weights; also 'uniform', [w1, ...] or {task: w}):
    method='auto',            # 'auto' | 'enumerate' | 'search' (exact branch-and-bound)
    search_threshold=5_000_000,   # 'auto' enumerates up to this many layouts, else searches
    csv_rows=200_000,         # layouts.csv keeps the best N layouts (all when the space is smaller)
    max_layouts=50_000_000,   # refuse to enumerate larger spaces (method='enumerate')
    # options of the task-grouping strategy when --strategy task_grouping selects it:
    task_grouping=dict(),     # task_weights, half_width, measured_groups, half_width_backbone
)
flops_unit = 'GFLOPs'
params_unit = 'M'
flops_convention = 'fvcore: one fused multiply-add counts as one FLOP'
