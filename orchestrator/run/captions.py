"""Captions for the metrics that score each image against its caption (``MetricSpec.needs_captions``: clipscore).

A caption metric takes each image's caption from, in this order:

* a caption file named in its ``--metric_opt`` entry (``clipscore: {captions: FILE}``): a YAML mapping of image
  name (as the dataset's meta-info or the scored folder names it) → caption;
* the dataset's meta-info column named by the dataset option ``caption_column``.

A run whose caption metric has neither for a dataset it applies to is refused when it is planned, as is one where
an image has no caption (or an empty one). The captions, one per manifest row, travel with the cell
(:class:`~orchestrator.run.cells.Cell`), their digest enters its key, and the rows handed to the actors carry them
in the column ``caption__<metric>``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from datasets_io.bounded import MIB, load_yaml_mapping
from datasets_io.manifest import Manifest
from datasets_io.meta import MetaInfoError, read_captions
from datasets_io.spec import DatasetOptionError
from orchestrator.run.metric_options import CAPTIONS_KEY

#: The largest caption file accepted (refused unread above it): a caption is ~100 bytes, 16 MiB holds ~150 000.
MAX_CAPTION_FILE_BYTES = 16 * MIB
#: Images named when some have no caption (the others are counted).
MAX_NAMED_IMAGES = 5


class CaptionError(ValueError):
    """Captions that cannot be used: one line naming the file or dataset and what is wrong."""


def load_caption_file(path: Any, metric: str) -> dict[str, str]:
    """The image name → caption mapping of ``metric``'s caption file (names and captions non-empty strings)."""
    if not isinstance(path, (str, Path)) or not str(path).strip():
        raise CaptionError(f"metric {metric!r}: {CAPTIONS_KEY} must name a caption file (a YAML mapping of image "
                           f"name → caption), got {path!r}")
    document = load_yaml_mapping(path, "caption file", MAX_CAPTION_FILE_BYTES, CaptionError,
                                 shape="a mapping of image names to captions")
    bad = [name for name, caption in document.items()
           if not isinstance(name, str) or not isinstance(caption, str) or not caption.strip()]
    if bad:
        raise CaptionError(f"{path}: {len(bad)} entr{'y' if len(bad) == 1 else 'ies'} not an image name mapped to a "
                           f"non-empty caption, e.g. {bad[0]!r}: {document[bad[0]]!r}")
    return {name: caption.strip() for name, caption in document.items()}


def missing_source(metric: str, datasets: Sequence[str]) -> str:
    """The one line that refuses a caption metric without a caption file on datasets with no caption column (an
    image folder scored by ``iqabench score`` is a dataset without one)."""
    named = ", ".join(repr(key) for key in datasets)
    where = f"dataset {named} has" if len(datasets) == 1 else f"datasets {named} have"
    return (f"metric {metric!r} scores each image against its caption, and {where} none: give a dataset a "
            f"caption_column (its meta-info column of captions), or the metric a caption file in --metric_opt "
            f"({metric}: {{{CAPTIONS_KEY}: FILE}}, a YAML mapping of image name → caption)")


def captions_for(metric: str, manifest: Manifest, caption_file: Mapping[str, str] | None) -> tuple[str, ...]:
    """One caption per manifest row (in row order), from the caption file if given, else the dataset's column."""
    dataset = manifest.spec
    if caption_file is None and dataset.caption_column is None:
        raise CaptionError(missing_source(metric, [dataset.key]))
    try:
        by_name = caption_file if caption_file is not None else read_captions(dataset)
    except (MetaInfoError, DatasetOptionError) as exc:
        raise CaptionError(str(exc)) from exc
    names = manifest.table["dist_name"].to_pylist()
    captions = [by_name.get(name, "") for name in names]
    missing = [name for name, caption in zip(names, captions) if not caption]
    if missing:
        where = "its caption file" if caption_file is not None else f"column {dataset.caption_column!r}"
        shown = ", ".join(repr(name) for name in missing[:MAX_NAMED_IMAGES])
        more = f" and {len(missing) - MAX_NAMED_IMAGES} more" if len(missing) > MAX_NAMED_IMAGES else ""
        raise CaptionError(f"metric {metric!r} on dataset {dataset.key!r}: {len(missing)} image(s) without a caption "
                           f"in {where}: {shown}{more}")
    return tuple(captions)


def captions_digest(captions: Sequence[str]) -> str:
    """sha256 of the captions in row order (part of a caption metric's cell key)."""
    return hashlib.sha256(json.dumps(list(captions)).encode()).hexdigest()
