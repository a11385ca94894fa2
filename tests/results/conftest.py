"""The report is built from an analysed run: the statistics room's fixtures make one."""

from tests.stats.conftest import analysed, report_dir  # noqa: F401 (fixtures)
