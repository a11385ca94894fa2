"""The orchestrator, in rooms that follow a run's flow:

- :mod:`orchestrator.run` — request → plan (cells, keys, validation) → cost model and placement → execution on
  Ray (decode once, metric actors that load once per run) → the driver loop that commits results;
- :mod:`orchestrator.results` — the cell store, the summary row, exports, the report, MLflow tracking;
- :mod:`orchestrator.stats` — correlations, logistic fits, bootstrap intervals, significance, plots;
- :mod:`orchestrator.efficiency` — the efficiency job and the measured resources that feed the cost model;
- :mod:`orchestrator.calibration` — the calibration job (our values against the official implementations').
"""
