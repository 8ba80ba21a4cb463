"""SmartBasket ML core: plain Python (pandas/numpy/scipy/sklearn); TensorFlow is imported lazily by the
neural model only."""

from recommendations.ml.data import IdMaps, TrainingData, training_data_from_rows
from recommendations.ml.types import DuePrediction, Reason, Recommendation

__all__ = ["DuePrediction", "IdMaps", "Reason", "Recommendation", "TrainingData", "training_data_from_rows"]
