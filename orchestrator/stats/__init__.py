"""Statistics of a cell's scores against human opinion: correlations (:mod:`~orchestrator.stats.correlation`),
bounded logistic fits (:mod:`~orchestrator.stats.fits`), bootstrap intervals, pairwise significance, plots, and
the per-run analysis that ties them together (:mod:`~orchestrator.stats.analysis`). Exports nothing at package
level."""
