"""Distribution metrics: scores of a SET of images (FID, sFID, FID-DINOv2, Inception Score), not of one image.

They do not fit a MOS-correlation cell, so they are not in the per-image registry (``iqabench bench`` refuses them
and points to ``iqabench score``). They are built in two halves:

* a per-image feature extractor (:mod:`metrics.distribution.extractor`) — resize as pyiqa 0.1.16 / clean-fid do
  (:mod:`metrics.distribution.resize`), then the FID Inception-V3 (:mod:`metrics.distribution.inception`) or
  DINOv2 ViT-L/14 (:mod:`metrics.distribution.dinov2`) — run in Ray actors or in-process;
* a reduction of the features (:mod:`metrics.distribution.reduce`): float64 moment sums that merge exactly across
  shards, the Fréchet distance, KID (polynomial MMD), the RBF MMD and the Inception Score.

:mod:`metrics.distribution.specs` describes each metric; :mod:`metrics.distribution.statistics` reads the
precomputed dataset statistics files (clean-fid's and pyiqa's ``{name}_{mode}_{split}_{res}.npz``).
"""
