"""Scoring SETS of images with the distribution metrics (``fid``, ``sfid``, ``fid_dinov2``, ``inception_score``):
features extracted per image by Ray actors (or in-process), statistics reduced on the driver.
:func:`orchestrator.sets.score.score_sets` is the entry point."""
