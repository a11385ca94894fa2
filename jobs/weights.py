"""``iqabench weights``: pre-fetch the weight files of deep metrics (``download``) and show the cache (``list``).

``download`` is for clusters whose workers have no internet access: run it once where there is, with the same
cache settings (``--cache`` / ``$IQABENCH_WEIGHTS_CACHE``, ``$TORCH_HOME`` for torchvision backbones) the
workers use.
"""

from __future__ import annotations

import argparse
import sys

from jobs.entry import standalone

HELP = "download or list the weight files of the deep metrics"


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    download = sub.add_parser("download", help="fetch and verify every weight file the metrics need")
    download.add_argument("metrics", nargs="+", metavar="METRIC")
    listing = sub.add_parser("list", help="show which weight files of the registered metrics are cached")
    for p in (download, listing):
        p.add_argument("--cache", help="weights cache folder (default: $IQABENCH_WEIGHTS_CACHE or the HF cache)")
        p.add_argument("--repo", help="model repo id (default: $IQABENCH_WEIGHTS_REPO or chaofengc/IQA-PyTorch-Weights)")
        p.add_argument("--revision", help="repo revision (default: $IQABENCH_WEIGHTS_REVISION or main)")


def _where(args: argparse.Namespace) -> dict[str, str | None]:
    return {"repo_id": args.repo, "revision": args.revision, "cache_dir": args.cache}


def run_download(args: argparse.Namespace) -> int:
    import metrics
    from metrics.deep import weights

    for name in args.metrics:
        metrics.get_spec(name)  # unknown names fail before anything is fetched
    failures = 0
    for name in args.metrics:
        files = weights.weight_files(name)
        if not files:
            print(f"{name}: no weight files needed")
        for wf in files:
            try:
                path = weights.fetch(wf, **_where(args))
                sha, matches = weights.verify(wf, path, repo_id=args.repo, cache_dir=args.cache)
            except (weights.WeightsMissingError, weights.WeightIntegrityError) as exc:
                failures += 1
                print(f"{name}: FAILED {wf.filename}: {exc}", file=sys.stderr)
                continue
            status = "verified" if matches else "sha256 does NOT match the published prefix"
            print(f"{name}: {wf.filename}  sha256 {sha}  ({status})  {path}")
    return 1 if failures else 0


def run_list(args: argparse.Namespace) -> int:
    import metrics
    from metrics.deep import weights

    rows = []
    for name in metrics.available():
        for wf in weights.weight_files(name):
            path = weights.cached_path(wf, **_where(args))
            size = f"{path.stat().st_size / 2**20:.1f} MB" if path else "-"
            rows.append((name, wf.filename, "cached" if path else "missing", size, str(path or "")))
    if not rows:
        print("no registered metric needs weight files")
        return 0
    header = ("metric", "file", "state", "size", "path")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, tuple("-" * w for w in widths), *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip())
    print(f"\nrecord of sha256: {weights.record_path(args.cache)}")
    return 0


def run(args: argparse.Namespace) -> int:
    return run_download(args) if args.action == "download" else run_list(args)


if __name__ == "__main__":
    sys.exit(standalone("python -m jobs.weights", HELP, configure, run))
