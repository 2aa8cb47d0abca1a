# Recommender defaults shared by every config: built with RECOMMENDERS.build(recommender).
# Override any key in a child config, with --cfg-options recommender.topk=10 or with the
# flags of tools/recommend.py (--topk, --max-models, ..., --strategy, --search), which are
# written into the config saved in the work dir.
recommender = dict(
    type='TreeRecommender',   # --strategy task_grouping switches to 'TaskGroupingRecommender',
                              # keeping topk and budget (its own options: task_weights,
                              # half_width, measured_groups, half_width_backbone)
    topk=5,
    budget=dict(),            # max_flops / max_flops_ratio / max_models / max_params
    # TreeRecommender options (task_weights defaults to 'svde', the paper's SVD-entropy
    # weights; also 'uniform', [w1, ...] or {task: w}):
    search='auto',            # 'auto' | 'enumerate' | 'branch_and_bound' (exact search)
    search_threshold=5_000_000,   # 'auto' enumerates up to this many layouts, else searches
    csv_rows=200_000,         # layouts.csv keeps the best N layouts (all when the space is smaller)
    max_layouts=50_000_000,   # refuse to enumerate larger spaces (search='enumerate')
    prefer='best',            # or 'cheapest_tied' (needs sweep.seeds >= 2: error bars)
    shrink=False,             # empirical-Bayes table; off: it does not help on every member
    estimator='paper',        # 'paper' (mean over every partner, as published) or 'blockwise'
                              # (per block, the mean over the partners sharing it);
                              # docs/advanced/method.md
)
flops_unit = 'GFLOPs'
params_unit = 'M'
flops_convention = 'fvcore: one fused multiply-add counts as one FLOP'
