"""The fake hub of the dataset tests, serving model repos (``/<owner>/<repo>/resolve/<revision>/<path>``)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1] / "datasets"))

from fakehub import FakeHub  # noqa: E402


def FakeModelHub() -> FakeHub:  # noqa: N802 - reads like the class it builds
    return FakeHub(kind="model")
