"""pyiqa split pickles, read without ever executing code from them, with bounded work and memory.

A split file is ``{split_index: {'train': [row, ...], 'val': [...], 'test': [...]}}`` with 0-based row indices
into the meta-info. Pickles can run arbitrary code when loaded, so they are read by :class:`RestrictedSplitUnpickler`,
whose ``find_class`` refuses every global: only the built-in containers and scalars that pickle encodes without
a global (dicts, lists, strings, integers; also tuples, which are treated as lists) can come out, and the result
is then checked against that shape.

Hostile but global-free pickles are bounded before they are unpickled, so that a refusal is quick and names the
file. With ``num_rows`` (the meta-info's row count) known:

- the file may hold at most :data:`MAX_SPLIT_FILE_BYTES` and at most ``BYTES_PER_OPCODE`` bytes per allowed
  opcode (checked from its size, unread);
- a pre-scan of its opcodes (:func:`pickletools.genops`, no object is built) allows at most
  ``MAX_OPCODES_PER_ROW × num_rows + OPCODE_ALLOWANCE`` opcodes, at most :data:`MAX_STACK` values pending on
  the unpickling stack and :data:`MAX_OPEN_MARKS` open marks (the two ways a pickle nests containers without
  its memo), integers of at most :data:`MAX_INT_BITS` bits and memo indices no larger than the opcode count;
- the unpickled result is checked iteratively (no recursion, no ``repr`` of its values): exactly
  dict → dict → list → int (deeper nesting, e.g. built through the memo, is refused at the fourth level), every
  row index ``0 <= i < num_rows``, no phase listing more rows than the meta-info has, and at most
  ``MAX_INDICES_PER_ROW × num_rows`` indices in all (the same list referenced many times counts each time).
"""

from __future__ import annotations

import io
import pickle
import pickletools
from pathlib import Path
from typing import Any

from datasets_io.bounded import MIB, read_bounded

#: Split files are small (AVA's, the largest, is a few MB); anything far larger is refused unread.
MAX_SPLIT_FILE_BYTES = 64 * MIB
#: Row indices a split file may hold per meta-info row in all: ten splits × three phases, rounded up.
MAX_INDICES_PER_ROW = 32
#: Opcodes per allowed index: the index itself and, in protocol 0, its APPEND.
MAX_OPCODES_PER_ROW = 2 * MAX_INDICES_PER_ROW
#: Opcodes allowed regardless of the row count (split keys, phase names, containers, framing, memo).
OPCODE_ALLOWANCE = 65_536
#: The longest encoding of one opcode a split file needs (protocol 0: ``I<up to 6 digits>\n``).
BYTES_PER_OPCODE = 8
#: Values pending on the unpickling stack (a batch of appended indices is 1000 in pickle's own output).
MAX_STACK = 100_000
#: Open MARKs: the nesting of mark-built containers (a split file needs three or four).
MAX_OPEN_MARKS = 32
#: Integers wider than this are refused before they are built into objects (row indices are far smaller).
MAX_INT_BITS = 64
_INT_OPCODES = frozenset({"INT", "BININT", "BININT1", "BININT2", "LONG", "LONG1", "LONG4"})
_PUT_OPCODES = frozenset({"PUT", "BINPUT", "LONG_BINPUT"})


class SplitFileError(ValueError):
    """A split pickle that is unsafe, malformed, too large, or lacks the requested split."""


class RestrictedSplitUnpickler(pickle.Unpickler):
    """An unpickler that refuses every class, function and persistent id."""

    def find_class(self, module: str, name: str) -> Any:
        raise pickle.UnpicklingError(f"refusing to load global {module}.{name}: split files hold only plain data")

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("refusing persistent ids: split files hold only plain data")


def max_opcodes(num_rows: int | None) -> int:
    """The opcode budget of a split file for a meta-info of ``num_rows`` rows (None: bounded by size only)."""
    if num_rows is None:
        return MAX_SPLIT_FILE_BYTES
    return MAX_OPCODES_PER_ROW * num_rows + OPCODE_ALLOWANCE


def max_file_bytes(num_rows: int | None) -> int:
    """The largest split file accepted for a meta-info of ``num_rows`` rows."""
    return min(MAX_SPLIT_FILE_BYTES, BYTES_PER_OPCODE * max_opcodes(num_rows))


def _show(value: Any) -> str:
    """A short description of a value for an error message (never a full ``repr`` of a container)."""
    if isinstance(value, (int, str)) and not isinstance(value, bool):
        text = repr(value) if not isinstance(value, int) or value.bit_length() <= MAX_INT_BITS else "a huge integer"
        return text if len(text) <= 40 else text[:37] + "..."
    return f"a {type(value).__name__}"


def _prescan(data: bytes, source: str, num_rows: int | None) -> None:
    """Walk the opcodes without building objects; refuse what exceeds the bounds (module docstring)."""
    budget = max_opcodes(num_rows)
    depth, marks = 0, []
    for count, (opcode, arg, _pos) in enumerate(pickletools.genops(data), start=1):
        if count > budget:
            raise SplitFileError(f"{source}: more than {budget} pickle opcodes (too many row indices for "
                                 f"{num_rows} meta-info rows)")
        before, after = opcode.stack_before, opcode.stack_after
        if pickletools.markobject in before:
            if not marks:
                raise SplitFileError(f"{source}: malformed pickle ({opcode.name} without a MARK)")
            depth = marks.pop() - before.index(pickletools.markobject)
        else:
            depth -= len(before)
        if after == [pickletools.markobject]:
            marks.append(depth)
            if len(marks) > MAX_OPEN_MARKS:
                raise SplitFileError(f"{source}: containers nested more than {MAX_OPEN_MARKS} deep")
        else:
            depth += len(after)
        if depth > MAX_STACK:
            raise SplitFileError(f"{source}: more than {MAX_STACK} values pending on the unpickling stack (containers "
                                 "nested too deep or a batch too long)")
        if opcode.name in _INT_OPCODES and isinstance(arg, int) and arg.bit_length() > MAX_INT_BITS:
            raise SplitFileError(f"{source}: an integer of {arg.bit_length()} bits (row indices are small)")
        if opcode.name in _PUT_OPCODES and isinstance(arg, int) and arg > count:
            raise SplitFileError(f"{source}: memo index {arg} out of range")


def _unpickle(data: bytes, source: str, num_rows: int | None) -> Any:
    try:
        _prescan(data, source, num_rows)
        return RestrictedSplitUnpickler(io.BytesIO(data)).load()
    except RecursionError as exc:
        raise SplitFileError(f"{source}: nested too deeply to be a split file") from exc
    except SplitFileError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, IndexError, KeyError, AttributeError,
            OverflowError) as exc:
        message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise SplitFileError(f"{source}: not a plain-data split pickle ({message[:200]})") from exc


class _IndexBudget:
    """The row indices a split file may list in all, counted before each list is walked."""

    def __init__(self, source: str, num_rows: int | None) -> None:
        self.source = source
        self.left = None if num_rows is None else MAX_INDICES_PER_ROW * num_rows

    def take(self, n: int) -> None:
        if self.left is None:
            return
        self.left -= n
        if self.left < 0:
            raise SplitFileError(f"{self.source}: more than {MAX_INDICES_PER_ROW} row indices per meta-info row in all")


def _check_indices(value: Any, where: str, num_rows: int | None, budget: _IndexBudget) -> list[int]:
    if not isinstance(value, (list, tuple)):
        raise SplitFileError(f"{where}: expected a list of row indices, got {_show(value)}")
    if num_rows is not None and len(value) > num_rows:
        raise SplitFileError(f"{where}: lists {len(value)} rows, the meta-info has {num_rows}")
    budget.take(len(value))
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int) or item < 0:
            raise SplitFileError(f"{where}: row indices must be non-negative integers, got {_show(item)}")
        if num_rows is not None and item >= num_rows:
            raise SplitFileError(f"{where}: row {_show(item)} is beyond the meta-info's {num_rows} rows")
    return list(value)


def loads_split_dict(
    data: bytes, source: str = "<bytes>", num_rows: int | None = None
) -> dict[int | str, dict[str, list[int]]]:
    """Unpickle and validate a split dictionary (see the module docstring); ``num_rows`` bounds the indices."""
    obj = _unpickle(data, source, num_rows)
    if not isinstance(obj, dict):
        raise SplitFileError(f"{source}: expected a dict of split index → phases, got {_show(obj)}")
    budget = _IndexBudget(source, num_rows)
    result: dict[int | str, dict[str, list[int]]] = {}
    for index, phases in obj.items():
        if isinstance(index, bool) or not isinstance(index, (int, str)):
            raise SplitFileError(f"{source}: split index {_show(index)} must be an integer or a string")
        if not isinstance(phases, dict):
            raise SplitFileError(f"{source}: split {_show(index)} must map phase names to row lists")
        checked: dict[str, list[int]] = {}
        for phase, rows in phases.items():
            if not isinstance(phase, str):
                raise SplitFileError(f"{source}: split {_show(index)}: phase name {_show(phase)} must be a string")
            checked[phase] = _check_indices(rows, f"{source}: split {_show(index)}, phase {_show(phase)}", num_rows,
                                            budget)
        result[index] = checked
    return result


def load_split_file(path: str | Path, num_rows: int | None = None) -> dict[int | str, dict[str, list[int]]]:
    """Read and validate the split pickle at ``path`` for a meta-info of ``num_rows`` rows (module docstring)."""
    data = read_bounded(path, max_file_bytes(num_rows), "split file", SplitFileError)
    return loads_split_dict(data, str(path), num_rows)


def split_rows(path: str | Path, split_index: int | str | None, phase: str, num_rows: int) -> list[int]:
    """Row indices of ``phase`` in split ``split_index`` (default 1, as pyiqa) of the pickle at ``path``."""
    splits = load_split_file(path, num_rows)
    index = 1 if split_index is None else split_index
    if index not in splits:
        raise SplitFileError(f"{path}: no split {index!r} (available: {', '.join(map(_show, splits))})")
    if phase not in splits[index]:
        raise SplitFileError(f"{path}: split {index!r} has no phase {phase!r} (has: {', '.join(splits[index])})")
    return splits[index][phase]
