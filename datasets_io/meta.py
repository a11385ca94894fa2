"""Meta-info CSVs in pyiqa's layout → a table of (dist_name, ref_name, mos, split) rows.

FR files: reference name, distorted name, MOS (then optional split columns). NR files: image name, MOS (then
optional split columns). The header row is present, as in pyiqa's published files; columns are taken by
position, split columns by name.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from datasets_io.spec import DatasetOptionError, DatasetSpec

#: LIVE Challenge: the first seven rows of its meta-info are the training images and are excluded.
LIVEC_TRAINING_ROWS = 7


class MetaInfoError(ValueError):
    """A meta-info CSV that is missing, malformed or inconsistent with its options."""


def read_meta_csv(path: str | Path) -> pd.DataFrame:
    p = Path(path)
    if not p.is_file():
        raise MetaInfoError(f"{p}: meta-info file not found")
    try:
        frame = pd.read_csv(p, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise MetaInfoError(f"{p}: not a readable CSV ({exc})") from exc
    if frame.empty:
        raise MetaInfoError(f"{p}: no rows")
    return frame


def _mos_column(frame: pd.DataFrame, position: int, path: str) -> pd.Series:
    if frame.shape[1] <= position:
        raise MetaInfoError(f"{path}: expected a MOS in column {position + 1}, the file has {frame.shape[1]} columns")
    raw = frame.iloc[:, position]
    mos = pd.to_numeric(raw, errors="coerce")
    bad = mos.isna() & (raw.str.strip() != "")
    empty = raw.str.strip() == ""
    if bad.any() or empty.any():
        row = int((bad | empty).to_numpy().nonzero()[0][0])
        raise MetaInfoError(
            f"{path}: row {row + 2}, column {frame.columns[position]!r}: MOS {raw.iloc[row]!r} is not a number"
        )
    return mos.astype("float64")


def rows_for(spec: DatasetSpec) -> pd.DataFrame:
    """The rows of ``spec``'s meta-info that the benchmark scores: columns dist_name, ref_name, mos, split."""
    path = spec.meta_info_file
    frame = read_meta_csv(path)
    if spec.type == "LIVEChallengeDataset":
        frame = frame.iloc[LIVEC_TRAINING_ROWS:].reset_index(drop=True)
    if spec.mode == "FR":
        if frame.shape[1] < 3:
            raise MetaInfoError(f"{path}: an FR meta-info needs ref_name, dist_name, mos columns")
        out = pd.DataFrame(
            {"dist_name": frame.iloc[:, 1], "ref_name": frame.iloc[:, 0], "mos": _mos_column(frame, 2, path)}
        )
    elif spec.mode == "NR":
        out = pd.DataFrame({"dist_name": frame.iloc[:, 0], "ref_name": None, "mos": _mos_column(frame, 1, path)})
    else:
        raise DatasetOptionError(f"{spec.source}: dataset {spec.key!r} of type {spec.type} is not scored as images")
    for column in ("dist_name", "ref_name"):
        if out[column].notna().any() and (out[column].fillna("x").str.strip() == "").any():
            row = int((out[column].fillna("x").str.strip() == "").to_numpy().nonzero()[0][0])
            raise MetaInfoError(f"{path}: row {row + 2}: empty {column}")
    out["split"] = None
    if isinstance(spec.split_index, str):
        if spec.split_index not in frame.columns:
            raise MetaInfoError(
                f"{path}: split column {spec.split_index!r} (from {spec.source}, dataset {spec.key!r}) not found; "
                f"columns are {list(frame.columns)}"
            )
        out["split"] = frame[spec.split_index].to_numpy()
        phase = spec.phase or "test"
        out = out[out["split"] == phase].reset_index(drop=True)
        if out.empty:
            raise MetaInfoError(f"{path}: no rows with {spec.split_index} == {phase!r}")
    if spec.mos_normalize and spec.mos_range is not None:
        low, high = spec.mos_range
        out["mos"] = (out["mos"] - low) / (high - low)
        if spec.lower_better:
            out["mos"] = 1.0 - out["mos"]
    return out
