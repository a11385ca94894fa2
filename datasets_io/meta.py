"""Meta-info CSVs in pyiqa's layout → a table of the rows a benchmark scores.

Every kind yields the columns ``dist_name``, ``ref_name`` (None for NR), ``mos`` and ``split``, plus labels of
its own. Columns are taken by position, as pyiqa does, split columns by name; the header row is present, as in
pyiqa's published files.

- General FR: reference name, distorted name, MOS (then optional std and split columns).
- General NR: image name, MOS (then optional columns).
- LIVE Challenge: as NR; its first seven rows are the training images and are excluded.
- AVA: image name, MOS, ten vote counts (scores 1..10). ``mos`` is the mean of the vote distribution; the
  counts are kept as ``vote_dist`` (list of 10 floats, counts as published).
- PieAPP: reference, distorted A, distorted B, preference for A, processed probability, per-image score of B.
  Scored as FR on (B, reference) with B's per-image score; rows without that score are dropped, and each
  (reference, B) pair is kept once.
- BAPPS (2AFC): reference (or ``jnd``), candidate p0, candidate p1, judgement (fraction of observers who chose
  p1). Rows become ``dist_name`` = p0, ``dist_b_name`` = p1, ``ref_name``, ``judge`` (also in ``mos``) and
  ``subset`` (p0's folder two levels up, e.g. ``val/cnn``). JND rows are not scored.

Splits: a column named by ``split_index`` (rows whose value is the phase), an integer ``split_index`` without a
split file (column ``ratio{split_ratio}_seed123_split_{NN}``), or a pickle ``split_file`` (row indices, read by
:mod:`datasets_io.splits`). The phase defaults to ``test``.
"""

from __future__ import annotations

import io
from pathlib import Path, PurePosixPath

import numpy as np
import pandas as pd

from datasets_io.bounded import MIB, read_bounded
from datasets_io.spec import UNSCORED_KINDS, DatasetOptionError, DatasetSpec
from datasets_io.splits import SplitFileError, load_split_file, split_rows

#: LIVE Challenge: the first seven rows of its meta-info are the training images and are excluded.
LIVEC_TRAINING_ROWS = 7
AVA_BINS = 10
PIEAPP_SCORE_COLUMN = 5
#: The largest meta-info CSV accepted (pyiqa's largest, AVA's, is ~20 MB); larger files are refused unread.
MAX_META_INFO_BYTES = 256 * MIB


class MetaInfoError(ValueError):
    """A meta-info CSV that is missing, malformed or inconsistent with its options."""


def read_meta_csv(path: str | Path, max_bytes: int = MAX_META_INFO_BYTES) -> pd.DataFrame:
    """The meta-info CSV at ``path`` as strings; one larger than ``max_bytes`` is refused before parsing."""
    p = Path(path)
    if not p.is_file():
        raise MetaInfoError(f"{p}: meta-info file not found")
    data = read_bounded(p, max_bytes, "meta-info file", MetaInfoError)
    try:
        frame = pd.read_csv(io.BytesIO(data), dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MetaInfoError(f"{p}: not a readable CSV ({exc})") from exc
    if frame.empty:
        raise MetaInfoError(f"{p}: no rows")
    return frame


def _numbers(frame: pd.DataFrame, position: int, path: str, what: str, allow_empty: bool = False) -> pd.Series:
    if frame.shape[1] <= position:
        raise MetaInfoError(f"{path}: expected {what} in column {position + 1}, the file has {frame.shape[1]} columns")
    raw = frame.iloc[:, position].astype(str).str.strip()
    values = pd.to_numeric(raw, errors="coerce")
    empty = raw.isin(["", "nan", "NaN"])
    bad = values.isna() & ~empty if allow_empty else values.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise MetaInfoError(
            f"{path}: row {int(frame.index[row]) + 2}, column {frame.columns[position]!r}: {what} "
            f"{frame.iloc[row, position]!r} is not a number"
        )
    infinite = np.isinf(values.to_numpy(dtype="float64"))
    if infinite.any():
        row = int(infinite.nonzero()[0][0])
        raise MetaInfoError(
            f"{path}: row {int(frame.index[row]) + 2}, column {frame.columns[position]!r}: {what} "
            f"{frame.iloc[row, position]!r} is not finite"
        )
    return values.astype("float64")


def check_mos_varies(spec: DatasetSpec, mos: pd.Series, limit: int | None = None) -> None:
    """Refuse opinion scores that are all equal (2 rows or more): no correlation with them is defined. 2AFC
    judgements are exempt (a metric's accuracy needs no variation)."""
    if spec.mode == "2AFC" or len(mos) < 2 or mos.nunique(dropna=False) > 1:
        return
    scope = f"the first {len(mos)} rows (--limit {limit})" if limit is not None else f"all {len(mos)} rows scored"
    raise MetaInfoError(
        f"dataset {spec.key!r} ({spec.meta_info_file}): MOS is constant ({float(mos.iloc[0]):g} in {scope}); "
        "correlations with a constant are undefined"
    )


def _names(frame: pd.DataFrame, position: int, path: str, what: str) -> pd.Series:
    if frame.shape[1] <= position:
        raise MetaInfoError(f"{path}: expected {what} in column {position + 1}, the file has {frame.shape[1]} columns")
    names = frame.iloc[:, position].astype(str).str.strip()
    if (names == "").any():
        row = int((names == "").to_numpy().nonzero()[0][0])
        raise MetaInfoError(f"{path}: row {int(frame.index[row]) + 2}: empty {what}")
    return names


def _select_split(spec: DatasetSpec, frame: pd.DataFrame, all_rows: bool) -> tuple[pd.DataFrame, list]:
    """Rows of the requested phase (or all rows) and each kept row's split label."""
    path = spec.meta_info_file
    phase = spec.effective_phase
    if spec.split_file is not None:
        if all_rows:
            labels: list = [None] * len(frame)
            splits = load_split_file(spec.split_file, len(frame))
            index = 1 if spec.split_index is None else spec.split_index
            for name, rows in splits.get(index, {}).items():
                for r in rows:
                    labels[r] = name
            return frame, labels
        rows = split_rows(spec.split_file, spec.split_index, phase, len(frame))
        return frame.iloc[rows], [phase] * len(rows)
    if spec.split_index is None:
        return frame, [None] * len(frame)
    if isinstance(spec.split_index, str):
        column = spec.split_index
    else:
        column = f"ratio{spec.split_ratio}_seed123_split_{spec.split_index:02d}"
    if column not in frame.columns:
        raise MetaInfoError(
            f"{path}: split column {column!r} (from {spec.source}, dataset {spec.key!r}) not found; "
            f"columns are {list(frame.columns)}"
        )
    values = frame[column].astype(str).str.strip()
    if all_rows:
        return frame, [v or None for v in values]
    keep = (values == phase).to_numpy()
    if not keep.any():
        raise MetaInfoError(
            f"{path}: no rows with {column} == {phase!r} (values present: {sorted(set(values))[:10]}); "
            "set 'phase' in the dataset options"
        )
    return frame[keep], [phase] * int(keep.sum())


def _normalise(spec: DatasetSpec, mos: pd.Series) -> pd.Series:
    if spec.dmos_max is not None:  # pyiqa's legacy DMOS datasets: mos = dmos_max - dmos
        return spec.dmos_max - mos
    if spec.mos_normalize and spec.mos_range is not None:
        low, high = spec.mos_range
        mos = (mos - low) / (high - low)
        if spec.lower_better:
            mos = 1.0 - mos
    return mos


def rows_for(spec: DatasetSpec, *, all_rows: bool = False) -> pd.DataFrame:
    """The rows of ``spec``'s meta-info that the benchmark scores (``all_rows``: ignore the split's phase).

    Columns: dist_name, ref_name, mos, split, and per kind: ``vote_dist`` (AVA), ``dist_b_name``, ``judge``,
    ``subset`` (BAPPS).
    """
    if spec.type in UNSCORED_KINDS:
        raise DatasetOptionError(
            f"{spec.source}: dataset {spec.key!r} of type {spec.type} is read but not scored by this benchmark"
        )
    path = spec.meta_info_file
    frame = read_meta_csv(path)
    if spec.type == "LIVEChallengeDataset":
        frame = frame.iloc[LIVEC_TRAINING_ROWS:]
        if frame.empty:
            raise MetaInfoError(f"{path}: no rows after the {LIVEC_TRAINING_ROWS} LIVE Challenge training images")
    frame = frame.reset_index(drop=True)
    try:
        frame, labels = _select_split(spec, frame, all_rows)
    except SplitFileError as exc:
        raise MetaInfoError(f"dataset {spec.key!r}: {exc}") from exc

    if spec.type == "AVADataset":
        votes = np.stack([_numbers(frame, 2 + i, path, f"vote count {i + 1}").to_numpy() for i in range(AVA_BINS)], 1)
        totals = votes.sum(axis=1)
        if (votes < 0).any() or (totals <= 0).any():
            row = int(((votes < 0).any(axis=1) | (totals <= 0)).nonzero()[0][0])
            raise MetaInfoError(f"{path}: row {int(frame.index[row]) + 2}: AVA vote counts must be >= 0, not all 0")
        mean = votes @ np.arange(1, AVA_BINS + 1, dtype=np.float64) / totals
        out = pd.DataFrame(
            {
                "dist_name": _names(frame, 0, path, "image name").to_numpy(),
                "ref_name": None,
                "mos": mean,
                "vote_dist": list(votes.astype(np.float64)),
            }
        )
    elif spec.type == "PieAPPDataset":
        score = _numbers(frame, PIEAPP_SCORE_COLUMN, path, "per-image score of B", allow_empty=True)
        out = pd.DataFrame(
            {
                "dist_name": _names(frame, 2, path, "distorted image B").to_numpy(),
                "ref_name": _names(frame, 0, path, "reference image").to_numpy(),
                "mos": score.to_numpy(),
            }
        )
        out["split"] = labels
        out = out[out["mos"].notna()].drop_duplicates(subset=["ref_name", "dist_name"], keep="first")
        if out.empty:
            raise MetaInfoError(f"{path}: no rows with a per-image score (column {PIEAPP_SCORE_COLUMN + 1})")
        labels = out.pop("split").tolist()
        out = out.reset_index(drop=True)
    elif spec.type == "BAPPSDataset":
        if spec.bapps_mode == "jnd":
            raise DatasetOptionError(f"{spec.source}: dataset {spec.key!r}: BAPPS mode 'jnd' is not scored (use 2afc)")
        keep = (_names(frame, 0, path, "reference image") != "jnd").to_numpy().copy()
        p0 = _names(frame, 1, path, "candidate p0")
        if spec.val_types:
            keep = keep & np.array([any(v in name for v in spec.val_types) for name in p0], dtype=bool)
        frame, labels = frame[keep], [lab for lab, k in zip(labels, keep) if k]
        if frame.empty:
            raise MetaInfoError(f"{path}: no 2AFC rows left (val_types {spec.val_types})")
        judge = _numbers(frame, 3, path, "judgement")
        if ((judge < 0) | (judge > 1)).any():
            raise MetaInfoError(f"{path}: BAPPS judgements must lie in [0, 1]")
        p0_names = _names(frame, 1, path, "candidate p0")
        out = pd.DataFrame(
            {
                "dist_name": p0_names.to_numpy(),
                "ref_name": _names(frame, 0, path, "reference image").to_numpy(),
                "mos": judge.to_numpy(),
                "dist_b_name": _names(frame, 2, path, "candidate p1").to_numpy(),
                "judge": judge.to_numpy(),
                "subset": [str(PurePosixPath(n.replace("\\", "/")).parent.parent) for n in p0_names],
            }
        )
    elif spec.mode == "FR":
        if frame.shape[1] < 3:
            raise MetaInfoError(f"{path}: an FR meta-info needs ref_name, dist_name, mos columns")
        out = pd.DataFrame(
            {
                "dist_name": _names(frame, 1, path, "distorted image name").to_numpy(),
                "ref_name": _names(frame, 0, path, "reference image name").to_numpy(),
                "mos": _numbers(frame, 2, f"{path} (dataset {spec.key!r})", "MOS").to_numpy(),
            }
        )
    else:
        out = pd.DataFrame(
            {
                "dist_name": _names(frame, 0, path, "image name").to_numpy(),
                "ref_name": None,
                "mos": _numbers(frame, 1, f"{path} (dataset {spec.key!r})", "MOS").to_numpy(),
            }
        )
    out["split"] = labels
    if spec.type != "BAPPSDataset":
        out["mos"] = _normalise(spec, out["mos"])
    return out.reset_index(drop=True)


def read_captions(spec: DatasetSpec) -> dict[str, str]:
    """Image name → caption from ``spec``'s meta-info column ``caption_column`` (every row, whatever the split);
    the image name is the distorted image's column (the first for NR datasets, the second for FR ones)."""
    if spec.caption_column is None:
        raise DatasetOptionError(f"{spec.source}: dataset {spec.key!r} has no caption_column")
    path = spec.meta_info_file
    frame = read_meta_csv(path)
    if spec.caption_column not in frame.columns:
        raise MetaInfoError(f"{path}: caption column {spec.caption_column!r} (from {spec.source}, dataset "
                            f"{spec.key!r}) not found; columns are {list(frame.columns)}")
    names = _names(frame, 1 if spec.mode == "FR" else 0, path, "image name")
    return dict(zip(names, frame[spec.caption_column].astype(str).str.strip()))
