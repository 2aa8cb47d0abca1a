"""Cheap two-task tables: lookahead task affinity and representation similarity.

``sweep = dict(method='lookahead' | 'similarity')`` replaces the pairwise sweep's
``C(T,2)*B`` two-task trainings by one all-shared training (lookahead) or by the ``T``
single-task trainings alone (similarity); both yield the same ``A[i, j, b]`` table shape.
"""
from .tables import lookahead_affinity, lookahead_table, rdm, rsa_similarity, similarity_table

__all__ = ['lookahead_affinity', 'lookahead_table', 'rdm', 'rsa_similarity', 'similarity_table']
