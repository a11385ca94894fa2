"""The names of the per-metric columns that scoring actors append to a batch (``score__<metric>``, …), shared by
the actors that write them and the store that reads them back."""

from __future__ import annotations

#: Per-image result columns of one metric, as they come back from the actors.
RESULT_FIELDS = ("score", "score_b", "error", "seconds", "node", "started", "finished")
#: Per-image inputs of one metric besides the images, handed to the actors with the rows (a caption metric's
#: ``caption__<metric>``).
INPUT_FIELDS = ("caption",)


def column(metric: str, what: str) -> str:
    """The batch column holding ``what`` (one of :data:`RESULT_FIELDS` or :data:`INPUT_FIELDS`) of ``metric``."""
    return f"{what}__{metric}"


#: The prefix of every caption metric's caption column.
CAPTION_COLUMNS = column("", "caption")
