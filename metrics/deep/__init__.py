"""Deep-network IQA metrics that load the published checkpoints.

Every module here declares ``SPECS`` like the classical metrics and, in addition, ``WEIGHT_FILES``: a dict from
metric name to the :class:`metrics.deep.weights.WeightFile` objects the metric loads. Weight files are fetched,
verified (sha256) and loaded by :mod:`metrics.deep.weights`; ``iqabench weights download METRIC`` pre-fetches
them for workers without internet access.
"""
