"""The efficiency job (pyiqa's efficiency table for any machine): request and result types, the timing protocol,
the generated images, the CSV, MLflow logging, and ``resources.json`` — measured per-metric costs that feed the
benchmark's cost model. Exports nothing at package level."""
