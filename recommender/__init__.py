"""NextPaper's recommender: interactions -> hybrid model -> recommendations, and its
offline evaluation. Pure library (numpy, scipy, implicit, scikit-learn)."""

from .datasets import load_dataset
from .evaluation import evaluate
from .hybrid import HybridRecommender, Recommendation
from .interactions import Interactions, build_interactions

__all__ = [
    "HybridRecommender",
    "Interactions",
    "Recommendation",
    "build_interactions",
    "evaluate",
    "load_dataset",
]
