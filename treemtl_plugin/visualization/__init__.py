"""What a person sees: the printed report and the plots, for every recommender."""
from .plots import plot_comparison, plot_pareto
from .report import print_comparison, print_report, render_report

__all__ = ['plot_comparison', 'plot_pareto', 'print_comparison', 'print_report',
           'render_report']
