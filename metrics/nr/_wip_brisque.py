"""Blind/Referenceless Image Spatial Quality Evaluator (BRISQUE).

Mittal, Moorthy & Bovik, "No-reference image quality assessment in the spatial domain", IEEE Trans. Image
Processing 21(12), 2012.

As in the authors' release (``brisque_feature.m``, ``brisquequality.m``): MATLAB ``rgb2gray`` of the uint8
image; two scales (the second is MATLAB ``imresize(·, 0.5)``, bicubic with anti-aliasing); MSCN coefficients
with a 7×7 Gaussian window (sigma 7/6) and zero borders (``filter2(·, 'same')``); per scale 18 features: a GGD
fit of the MSCN coefficients (shape, variance) and AGGD fits of their products with the four neighbours
(``circshift``, so wrapping around the image: shape, mean, left and right variances). The 36 features are
written with ``%f`` (6 decimals), mapped to [-1, 1] with the LIVE feature ranges (``svm-scale -r allrange``,
whose output keeps 6 significant digits) and fed to the LIVE-trained epsilon-SVR with an RBF kernel
(``allmodel``): score = sum_i coef_i exp(-gamma |x - sv_i|²) - rho. The model and ranges ship in
``metrics/data`` (``brisque_live_svm.txt``, ``brisque_live_range.json``; see PROVENANCE.md), read without
pickle.

Calibration (5 TID2013 images, ``official_scores.csv`` row ``brisque``): NOT YET
calibrated, hence the ``_wip_`` name. Measured: I03 94.95 (official 94.64, 0.3%), I04 -8.92 (-0.108), I06 12.82
(0.993), I08 16.75 (5.36), I19 75.16 (72.26, 4.0%). The shared steps (uint8 rgb2gray, MSCN, AGGD fits,
imresize) reproduce the official NIQE on I04 to 9 digits, so the gap most likely lies in the feature ranges of
brisque==0.2.0's normalize.pickle, which do not look like the authors' ``allrange`` the SVR was trained with.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from metrics.base import IQAMetric
from metrics.functional.input_checks import check_per_image, raise_if_constant
from metrics.functional.matlab_gray import rgb2gray_uint8
from metrics.functional.matlab_imresize import imresize
from metrics.functional.nss import fit_aggd, fit_ggd, gamma_fn, mscn
from metrics.registry import MetricSpec, Resources

DATA = Path(__file__).resolve().parent.parent / "data"
SVM_PATH = DATA / "brisque_live_svm.txt"
RANGE_PATH = DATA / "brisque_live_range.json"
#: ``circshift`` shifts (rows, columns) of ``brisque_feature.m``.
SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))
N_FEATURES = 36


def load_libsvm_model(path: Path) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """Header, dual coefficients (S) and dense support vectors (S×36) of a libsvm text model."""
    header: dict[str, str] = {}
    coefs, vectors = [], []
    lines = path.read_text().splitlines()
    start = lines.index("SV") + 1
    for line in lines[: start - 1]:
        key, _, value = line.partition(" ")
        header[key] = value
    for line in lines[start:]:
        if not line.strip():
            continue
        fields = line.split()
        row = np.zeros(N_FEATURES)
        for item in fields[1:]:
            index, value = item.split(":")
            row[int(index) - 1] = float(value)
        coefs.append(float(fields[0]))
        vectors.append(row)
    if header.get("svm_type") != "epsilon_svr" or header.get("kernel_type") != "rbf":
        raise ValueError(f"{path}: expected an epsilon-SVR with an RBF kernel, got {header}")
    if len(vectors) != int(header["total_sv"]):
        raise ValueError(f"{path}: {len(vectors)} support vectors, header says {header['total_sv']}")
    return header, np.array(coefs), np.stack(vectors)


def scale_features(structdis: torch.Tensor) -> torch.Tensor:
    """The 18 BRISQUE features of one scale: N×1×H×W MSCN → N×18."""
    n = structdis.shape[0]
    flat = structdis.flatten(1)
    alpha0, sigma_sq = fit_ggd(flat)
    products = torch.stack([(structdis * torch.roll(structdis, s, dims=(2, 3))).flatten(1) for s in SHIFTS])
    alpha, left, right = (t.reshape(len(SHIFTS), n) for t in fit_aggd(products.flatten(0, 1)))
    const = torch.sqrt(gamma_fn(1 / alpha)) / torch.sqrt(gamma_fn(3 / alpha))
    mean = (right - left) * (gamma_fn(2 / alpha) / gamma_fn(1 / alpha)) * const
    features = [alpha0, sigma_sq]
    for k in range(len(SHIFTS)):
        features += [alpha[k], mean[k], left[k] ** 2, right[k] ** 2]
    return torch.stack(features, dim=1)


def round_significant(x: np.ndarray, digits: int = 6) -> np.ndarray:
    """C's ``%g`` (``digits`` significant digits), as ``svm-scale`` writes its output."""
    return np.array([float(f"{v:.{digits}g}") for v in x.reshape(-1)]).reshape(x.shape)


class BRISQUE(IQAMetric):
    min_size = 16

    def __init__(self, emulate_text_io: bool = True) -> None:
        super().__init__()
        self.emulate_text_io = emulate_text_io
        header, coefs, vectors = load_libsvm_model(SVM_PATH)
        self.gamma = float(header["gamma"])
        self.rho = float(header["rho"])
        ranges = json.loads(RANGE_PATH.read_text())
        self.lower, self.upper = float(ranges["lower"]), float(ranges["upper"])
        self.register_buffer("coefs", torch.from_numpy(coefs), persistent=False)
        self.register_buffer("support", torch.from_numpy(vectors), persistent=False)
        self.register_buffer("feat_min", torch.tensor(ranges["min"], dtype=torch.float64), persistent=False)
        self.register_buffer("feat_max", torch.tensor(ranges["max"], dtype=torch.float64), persistent=False)

    def _check(self, x: torch.Tensor, what: str) -> None:
        check_per_image(x, self._name(), what)
        super()._check(x, what)

    def features(self, dist: torch.Tensor) -> torch.Tensor:
        """The 36 raw BRISQUE features (N×36, float64)."""
        image = rgb2gray_uint8(dist)
        raise_if_constant(image, self._name())
        per_scale = []
        for scale in (1, 2):
            structdis, _ = mscn(image, "zeros")
            per_scale.append(scale_features(structdis))
            if scale == 1:
                image = imresize(image, 0.5)
        return torch.cat(per_scale, dim=1)

    def scale(self, features: torch.Tensor) -> torch.Tensor:
        """``svm-scale``: map each feature's [min, max] to [lower, upper] (N×36)."""
        if self.emulate_text_io:  # brisquequality.m writes the features with '%f'
            features = torch.round(features * 1e6) / 1e6
        span = self.feat_max - self.feat_min
        scaled = self.lower + (self.upper - self.lower) * (features - self.feat_min) / span
        scaled = torch.where(features == self.feat_min, self.lower, scaled)
        scaled = torch.where(features == self.feat_max, self.upper, scaled)
        if self.emulate_text_io:
            scaled = torch.from_numpy(round_significant(scaled.cpu().numpy())).to(scaled.device)
        return scaled

    def predict(self, scaled: torch.Tensor) -> torch.Tensor:
        """The epsilon-SVR's value for each row of ``scaled`` (N×36)."""
        sq_dist = ((scaled[:, None, :] - self.support[None, :, :]) ** 2).sum(dim=2)
        return torch.exp(-self.gamma * sq_dist) @ self.coefs - self.rho

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        return self.predict(self.scale(self.features(dist))).float()


SPECS = (
    MetricSpec(
        name="brisque",
        mode="NR",
        lower_better=True,
        score_range=(-float("inf"), float("inf")),
        paper=(
            "Mittal, Moorthy & Bovik, No-reference image quality assessment in the spatial domain, "
            "IEEE Trans. Image Processing 21(12), 2012"
        ),
        calibration="not calibrated (up to ~12 points off; see module docstring)",
        factory=BRISQUE,
        options={"emulate_text_io": True},
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=400),
        calibration_key="brisque",
    ),
)
