"""Where results go: the per-cell store with atomic commits and resume (:mod:`~orchestrator.results.store`),
atomic file writes (:mod:`~orchestrator.results.files`), the batch columns actors write
(:mod:`~orchestrator.results.columns`), the summary row (:mod:`~orchestrator.results.summary`), the pyiqa CSV,
``summary.csv`` and leaderboard (:mod:`~orchestrator.results.export`), the HTML report, MLflow tracking and
provenance. Exports nothing at package level."""
