"""The console of every job: Python ``logging`` at the level the global ``-q`` / ``-v`` flags choose.

INFO by default (what a run is doing, one line each), WARNING with ``-q``, DEBUG with ``-v``. Messages at INFO and
DEBUG go to standard output, warnings and errors to standard error. The level applies to iqabench's own loggers
(:data:`OWN_LOGGERS`); other libraries stay at WARNING unless ``-v`` (then INFO), so that MLflow's or Alembic's
INFO lines do not crowd the run's own (``MLFLOW_LOGGING_LEVEL`` likewise for MLflow's own console logger). Ray's INFO lines, its workers' output and Ray Data's progress bars are on
only with ``-v`` too: :func:`ray_verbose` is what a job hands to
:func:`orchestrator.run.ray_session.start_ray`, whose :func:`~orchestrator.run.ray_session.ray_settings` says
what exactly is switched.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

#: The logger of the jobs' own messages (``echo``).
log = logging.getLogger("iqabench")
#: Loggers whose level follows ``-q`` / ``-v``: iqabench's packages.
OWN_LOGGERS = ("iqabench", "jobs", "orchestrator", "metrics", "datasets_io")
QUIET, NORMAL, VERBOSE = -1, 0, 1
_LEVELS = {QUIET: logging.WARNING, NORMAL: logging.INFO, VERBOSE: logging.DEBUG}
_HANDLER_NAME = "iqabench-console"


def add_verbosity_flags(parser: argparse.ArgumentParser, *, top_level: bool = True) -> None:
    """``-q/--quiet`` and ``-v/--verbose`` on ``parser``. A sub-command's copies (``top_level=False``) leave the
    value alone when not given, so ``iqabench -v bench`` and ``iqabench bench -v`` mean the same."""
    group = parser.add_mutually_exclusive_group()
    default = NORMAL if top_level else argparse.SUPPRESS
    group.add_argument("-q", "--quiet", dest="verbosity", action="store_const", const=QUIET, default=default,
                       help="warnings and errors only")
    group.add_argument("-v", "--verbose", dest="verbosity", action="store_const", const=VERBOSE, default=default,
                       help="debug messages, Ray's own log lines and progress bars")


class _BelowWarning(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno < logging.WARNING


class _CurrentStream(logging.StreamHandler):
    """Writes to whatever ``sys.stdout`` / ``sys.stderr`` is when a record is emitted (not when the handler was
    made), so that a console set up once keeps working when the streams are replaced (tests, notebooks)."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self._which = name

    @property  # type: ignore[override]
    def stream(self):  # noqa: D401 - the stream of the moment
        return getattr(sys, self._which)

    @stream.setter
    def stream(self, value) -> None:  # StreamHandler.__init__ assigns it; the live stream is used instead
        pass


class _ConsoleFormatter(logging.Formatter):
    """The message alone at INFO; ``warning:`` / ``error:`` before it above; the logger's name at DEBUG."""

    def format(self, record: logging.LogRecord) -> str:
        message = super().format(record)
        if record.levelno >= logging.WARNING:
            return f"{record.levelname.lower()}: {message}"
        if record.levelno < logging.INFO:
            return f"debug [{record.name}]: {message}"
        return message


def configure_logging(verbosity: int = NORMAL) -> int:
    """Route log records to the console at the level ``verbosity`` chooses; returns that level. Idempotent."""
    if verbosity not in _LEVELS:
        raise ValueError(f"verbosity must be one of {sorted(_LEVELS)}, got {verbosity!r}")
    level = _LEVELS[verbosity]
    root = logging.getLogger()
    for handler in [h for h in root.handlers if h.get_name() and h.get_name().startswith(_HANDLER_NAME)]:
        root.removeHandler(handler)
    out = _CurrentStream("stdout")
    out.set_name(f"{_HANDLER_NAME}-out")
    out.addFilter(_BelowWarning())
    err = _CurrentStream("stderr")
    err.set_name(f"{_HANDLER_NAME}-err")
    err.setLevel(logging.WARNING)
    for handler in (out, err):
        handler.setFormatter(_ConsoleFormatter("%(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO if verbosity == VERBOSE else logging.WARNING)
    # MLflow sets up its own console logger when imported (its store migrations log at INFO); it reads the level
    # from this variable, so it has to be set before MLflow is imported. A value the user exported wins.
    os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "INFO" if verbosity == VERBOSE else "WARNING")
    for name in OWN_LOGGERS:
        logging.getLogger(name).setLevel(level)
    logging.captureWarnings(True)
    return level


def ray_verbose() -> bool:
    """Whether Ray should be verbose: iqabench's console is at DEBUG (``-v``)."""
    return log.isEnabledFor(logging.DEBUG)


def echo(message: str) -> None:
    """A line of progress for the user (INFO: hidden by ``-q``)."""
    log.info(message)
