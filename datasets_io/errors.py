"""The error every failed dataset download ends in, whatever step failed (fetch, checksum, extraction)."""

from __future__ import annotations


class DownloadError(RuntimeError):
    """A download, checksum or extraction that failed; the message is one actionable line."""
