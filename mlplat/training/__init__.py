"""Training models from their specs: point-in-time training sets, time-based holdout, safe artifacts."""

from mlplat.training.trainer import TrainedModel, TrainOptions, train_model

__all__ = ["TrainOptions", "TrainedModel", "train_model"]
