"""Calibration facts: the tolerance a metric must meet against its official implementation's values.

|ours - official| <= atol + rtol * |official| on every calibration image, with atol = 0.01, rtol = 0.01,
except the metrics listed in ``RTOL_EXCEPTIONS`` (the loosest tolerances that the best known Python port meets,
as stated with the calibration data).
"""

from __future__ import annotations

import math

ATOL = 0.01
RTOL = 0.01
RTOL_EXCEPTIONS: dict[str, float] = {
    "brisque": 0.08,
    "niqe": 0.06,
    "niqe_matlab": 0.06,
    "ilniqe": 0.04,
    "pi": 0.03,
    "ckdn": 0.03,
    "musiq": 0.03,
    "musiq-ava": 0.03,
    "musiq-paq2piq": 0.03,
    "musiq-spaq": 0.03,
    "laion_aes": 0.02,
}
#: The five TID2013 calibration images (file names in the official table).
CALIBRATION_IMAGES = ("I03.bmp", "I04.bmp", "I06.bmp", "I08.bmp", "I19.bmp")


def rtol_for(calibration_key: str) -> float:
    return RTOL_EXCEPTIONS.get(calibration_key, RTOL)


def allowed_error(official: float, calibration_key: str) -> float:
    return ATOL + rtol_for(calibration_key) * abs(official)


def relative_error(ours: float, official: float) -> float:
    if official == 0:
        return 0.0 if ours == 0 else math.inf
    return abs(ours - official) / abs(official)


def passes(ours: float, official: float, calibration_key: str) -> bool:
    return math.isfinite(ours) and abs(ours - official) <= allowed_error(official, calibration_key)
