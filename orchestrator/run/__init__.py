"""Running a benchmark: a :class:`~orchestrator.run.request.BenchmarkRequest` becomes a validated
:class:`~orchestrator.run.plan.Plan` of cells, a cost model sizes each metric's actors from its share of the work
(:mod:`~orchestrator.run.cost`, :mod:`~orchestrator.run.placement`), and the scheduler streams every dataset's
images through metric actors that load their model once per run (:mod:`~orchestrator.run.schedule`,
:mod:`~orchestrator.run.actors`). :func:`orchestrator.run.benchmark.run_benchmark` is the driver.

Exports nothing at package level: import the module you need (keeps Ray and torch out of light imports).
"""
