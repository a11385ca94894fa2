"""How a job runs from the command line, as ``iqabench <job>`` or as ``python -m jobs.<job>``: storage errors
(a full disk, a read-only folder) end it with one clear line instead of a traceback."""

from __future__ import annotations

import argparse
import errno
import sys
from typing import Callable, Sequence

from jobs.console import NORMAL, add_verbosity_flags, configure_logging

#: Storage errors a user fixes outside iqabench (a full disk or quota, a read-only or forbidden folder).
STORAGE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES})

Run = Callable[[argparse.Namespace], "int | None"]


def run_job(prog: str, run: Run, args: argparse.Namespace) -> int:
    """``run(args)``'s exit status; a storage error is reported (what, where, how to resume) with status 1.

    The console's logging is configured first, at the level of ``args.verbosity`` (the ``-q`` / ``-v`` flags).
    """
    configure_logging(getattr(args, "verbosity", NORMAL))
    try:
        return int(run(args) or 0)
    except OSError as exc:
        if exc.errno not in STORAGE_ERRNOS:
            raise
        where = f" ({exc.filename})" if exc.filename else ""
        print(f"{prog}: error: {exc.strerror or exc}{where}. Results are committed per cell, so nothing committed "
              "before this is lost: make room (or fix the folder) and run the same command again to resume.",
              file=sys.stderr)
        return 1


def standalone(prog: str, help_text: str, configure: Callable[[argparse.ArgumentParser], None], run: Run,
               argv: Sequence[str] | None = None) -> int:
    """``python -m jobs.<job>``: the job's own parser, run as ``iqabench <job>`` runs it."""
    parser = argparse.ArgumentParser(prog=prog, description=help_text)
    add_verbosity_flags(parser)
    configure(parser)
    return run_job(prog, run, parser.parse_args(argv))
