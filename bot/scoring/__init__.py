"""Scorers turn (papers, criteria) into 1-10 relevance and novelty with a one-line reason.

Every scorer implements `Scorer`; the pipeline never needs to know which one runs.
"""
from .base import Scorer, ScoringResult  # noqa: F401
