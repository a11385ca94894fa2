"""``--metric_opt`` files in both formats and ``--extra_metric_opts``, read into one :class:`MetricEntry` per metric.

* Ours: ``<registered metric>: {<option>: value, ..., resources: {...}, captions: FILE}`` (``captions``: a caption
  metric's image name → caption file, :mod:`orchestrator.run.captions`).
* pyiqa's (``options/example_benchmark_metric_opts.yml``, ``default_model_configs.py``): ``<any name>: {metric_opts:
  {type: <pyiqa type>, <pyiqa option>: value, ...}, metric_mode: FR|NR, lower_better: bool, score_range: ...}``.
  The name is the metric's name in every output (``psnr-y``), ``type`` + options become one of our registered
  metrics and our options through the one table :mod:`metrics.pyiqa_types`; as in pyiqa's
  ``benchmark_results.py``, such entries join the run whether or not ``-m`` names them. ``metric_mode`` must be
  the built metric's mode; ``lower_better`` replaces its direction (absent: the built metric's, where pyiqa's
  benchmark assumes false); ``score_range`` is informative, as in pyiqa.

``--extra_metric_opts KEY=VALUE ...`` applies to every metric of the run, as pyiqa merges it into each metric's
``metric_opts`` (after the file's options, so it wins): KEY is a pyiqa option of the metric's type (read through
the table) or one of our metric's own options. VALUE is read as pyiqa reads it (``true``/``yes``/``on`` ...
are booleans) except that numbers are numbers (pyiqa passes them on as strings, and reads ``1``/``0`` as
booleans).
"""

from __future__ import annotations

import inspect
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

from datasets_io.bounded import MIB, load_yaml_mapping
from metrics.pyiqa_types import PyiqaTypeError, pyiqa_form, translate
from metrics.registry import UnknownMetricError, get_spec

#: The largest ``--metric_opt`` file accepted, refused unread above it: a real one is a few hundred bytes, and
#: parsing YAML costs ~6 s per MiB of keys here (16 MiB took 90 s), so 1 MiB bounds a hostile file to seconds.
MAX_METRIC_OPTION_BYTES = 1 * MIB
#: Reserved key of a metric's entry (either format): per-run resource overrides (not a metric option).
RESOURCES_KEY = "resources"
#: Reserved key of a caption metric's entry (either format): its caption file (:mod:`orchestrator.run.captions`).
CAPTIONS_KEY = "captions"
#: The keys of a pyiqa-format entry (``metric_opts`` marks one).
PYIQA_ENTRY_KEYS = ("metric_opts", "metric_mode", "lower_better", "score_range")
#: pyiqa's ``str_to_bool`` words (``benchmark_results.py``); 1 and 0 are numbers here.
TRUE_WORDS = frozenset({"true", "yes", "y", "t", "on"})
FALSE_WORDS = frozenset({"false", "no", "n", "f", "off"})
_INT = re.compile(r"[+-]?\d+")
_FLOAT = re.compile(r"[+-]?(\d+\.\d*|\.\d+|\d+)([eE][+-]?\d+)?")


class MetricOptionError(ValueError):
    """A ``--metric_opt`` file or ``--extra_metric_opts`` that cannot be used; one line naming where and what."""


@dataclass(frozen=True)
class MetricEntry:
    """One metric of the run as the options describe it: its output ``name``, the registered metric that
    ``builds`` it, our options for that metric (checked later against its factory), and what pyiqa's entry adds."""

    name: str
    builds: str
    options: dict[str, Any] = field(default_factory=dict)
    lower_better: bool | None = None
    #: Declared in a pyiqa entry (such entries join the run as in pyiqa).
    from_pyiqa: bool = False
    resources: Any = None
    #: The caption file of a caption metric (``captions:``), as written; read when the run is planned.
    captions: Any = None


def own_options(metric: str) -> frozenset[str] | None:
    """Our option names of registered ``metric`` (None: its factory takes any keyword)."""
    spec = get_spec(metric)
    params = inspect.signature(spec.factory).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return None
    return frozenset(p for p in params if p != "self") | frozenset(spec.options)


def _pyiqa_entry(name: str, entry: Mapping[str, Any], where: str) -> MetricEntry:
    unknown = [k for k in entry if k not in (*PYIQA_ENTRY_KEYS, RESOURCES_KEY, CAPTIONS_KEY)]
    if unknown:
        raise MetricOptionError(f"{where}: unknown key {unknown[0]!r} in a pyiqa entry (expected "
                                f"{', '.join(PYIQA_ENTRY_KEYS)})")
    metric_opts = entry["metric_opts"]
    if not isinstance(metric_opts, Mapping) or "type" not in metric_opts:
        raise MetricOptionError(f"{where}: metric_opts must be a mapping with a 'type' (a pyiqa metric class), "
                                f"got {metric_opts!r}")
    opts = dict(metric_opts)
    type_name = opts.pop("type")
    try:
        builds, options = translate(type_name, opts, own_options)
    except PyiqaTypeError as exc:
        raise MetricOptionError(f"{where}: metric_opts: {exc}") from None
    mode = entry.get("metric_mode")
    built_mode = get_spec(builds).mode
    if mode is not None and mode not in ("FR", "NR"):
        raise MetricOptionError(f"{where}: metric_mode must be FR or NR, got {mode!r}")
    if mode is not None and mode != built_mode:
        raise MetricOptionError(f"{where}: metric_mode is {mode} but type {type_name} builds {builds}, a "
                                f"{'full' if built_mode == 'FR' else 'no'}-reference metric (metric_mode {built_mode})")
    lower_better = entry.get("lower_better")
    if lower_better is not None and not isinstance(lower_better, bool):
        raise MetricOptionError(f"{where}: lower_better must be true or false, got {lower_better!r}")
    score_range = entry.get("score_range")
    if score_range is not None and not isinstance(score_range, str) and not (
            isinstance(score_range, (list, tuple)) and len(score_range) == 2
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in score_range)):
        raise MetricOptionError(f"{where}: score_range must be pyiqa's text ('0, 1') or [low, high], "
                                f"got {score_range!r}")
    return MetricEntry(name, builds, options, lower_better, True, entry.get(RESOURCES_KEY), entry.get(CAPTIONS_KEY))


def load_metric_entries(path: Path | None) -> tuple[dict[str, MetricEntry], list[str], set[str]]:
    """The entries of a ``--metric_opt`` file (either format), one line per entry that cannot be used, and the
    names of those entries."""
    if path is None:
        return {}, [], set()
    document = load_yaml_mapping(path, "metric option file", MAX_METRIC_OPTION_BYTES, MetricOptionError,
                                 shape="a mapping of metric names to option mappings")
    entries: dict[str, MetricEntry] = {}
    problems: list[str] = []
    refused: set[str] = set()
    for name, opts in document.items():
        opts = {} if opts is None else opts
        where = f"{path}: metric {name!r}"
        if not isinstance(opts, Mapping):
            problems.append(f"{where}: must map to a mapping of options, got {opts!r}")
            refused.add(name)
            continue
        try:
            if "metric_opts" in opts:
                entries[name] = _pyiqa_entry(name, opts, where)
            else:
                options = {k: v for k, v in opts.items() if k not in (RESOURCES_KEY, CAPTIONS_KEY)}
                entries[name] = MetricEntry(name, name, options, resources=opts.get(RESOURCES_KEY),
                                            captions=opts.get(CAPTIONS_KEY))
        except (MetricOptionError, UnknownMetricError) as exc:
            problems.append(str(exc))
            refused.add(name)
    return entries, problems, refused


def parse_value(text: str) -> Any:
    """A ``--extra_metric_opts`` value: pyiqa's boolean words, else an integer, a float or the text itself."""
    word = text.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    if _INT.fullmatch(text.strip()):
        return int(text)
    if _FLOAT.fullmatch(text.strip()):
        return float(text)
    return text


def parse_extra_options(items: Sequence[str] | None) -> dict[str, Any]:
    """``KEY=VALUE`` items → {KEY: value}; an item that is not one ``KEY=VALUE`` (which pyiqa skips silently) is
    refused in one line."""
    extra: dict[str, Any] = {}
    for item in items or ():
        key, sep, value = item.partition("=")
        if not sep or not key.strip() or "=" in value:
            raise MetricOptionError(f"--extra_metric_opts: {item!r} is not KEY=VALUE (pyiqa would ignore it)")
        extra[key.strip()] = parse_value(value)
    return extra


def with_extra_options(entry: MetricEntry, extra: Mapping[str, Any], where: str | None = None) -> MetricEntry:
    """``entry`` with ``--extra_metric_opts`` applied (they win over the file's options; our option names or
    pyiqa's); ``MetricOptionError`` names the metric and the option it cannot take, after ``where`` (default: the
    flag and the metric)."""
    if not extra:
        return entry
    form = pyiqa_form(entry.builds)
    where = where or f"--extra_metric_opts: metric {entry.name!r}"
    if form is None:  # a metric pyiqa has no type for: the extra options are ours
        known = own_options(entry.builds)
        unknown = [k for k in extra if known is not None and k not in known]
        if unknown:
            raise MetricOptionError(f"{where} has no option {unknown[0]!r} (its options: "
                                    f"{', '.join(sorted(known or ())) or 'none'})")
        return replace(entry, options={**entry.options, **extra})
    type_name, selecting = form
    try:
        builds, ours = translate(type_name, {**selecting, **extra}, own_options, default=entry.builds)
    except PyiqaTypeError as exc:
        raise MetricOptionError(f"{where}: {exc}") from None
    return replace(entry, builds=builds, options={**entry.options, **ours})
