"""Retraining the deep metrics on Ray Train: option files (pyiqa's training options unchanged, or our concise
form) validated in full before anything starts (:mod:`~orchestrator.train.options`), the trainable networks in
pyiqa's state-dict layout (:mod:`~orchestrator.train.networks`), losses, optimisers and schedulers
(:mod:`~orchestrator.train.losses`, :mod:`~orchestrator.train.optim`), the data stream through Ray Data with the
train-time augmentations (:mod:`~orchestrator.train.data`), the per-worker loop with checkpoints
(:mod:`~orchestrator.train.loop`) and the driver that runs a ``TorchTrainer`` and logs to MLflow
(:mod:`~orchestrator.train.job`).

Exports nothing at package level: import the module you need (keeps Ray and torch out of light imports).
"""
