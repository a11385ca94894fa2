"""Blind/Referenceless Image Spatial Quality Evaluator (BRISQUE).

Mittal, Moorthy & Bovik, "No-reference image quality assessment in the spatial domain", IEEE Trans. Image
Processing 21(12), 2012.

As in the authors' LIVE release (``brisquescore.m``, ``brisque_feature.m``, ``estimateggdparam.m``,
``estimateaggdparam.m``): MATLAB ``rgb2gray`` of the uint8 image as double grey levels 0..255; two scales (the
second is MATLAB ``imresize(·, 0.5)``, bicubic with anti-aliasing); MSCN coefficients ``(I - mu)/(sigma + 1)``
with ``filter2`` of the 7×7 Gaussian window (sigma 7/6), i.e. zero borders; per scale 18 features: the GGD fit
of the MSCN coefficients (shape, variance) and AGGD fits of their products with the four ``circshift``
neighbours [0 1; 1 0; 1 1; -1 1] (shape, mean, left and right variances). ``brisquescore.m`` writes the 36
features with ``%f`` (6 decimals), ``svm-scale -r allrange`` maps each to [-1, 1] and prints it with ``%g``
(6 significant digits), and ``svm-predict`` evaluates the LIVE-trained epsilon-SVR (``allmodel``, RBF kernel):
score = sum_i coef_i exp(-gamma |x - sv_i|²) - rho. Both text round trips are reproduced.

The model and ranges are the authors' (``metrics/data/brisque_live_allmodel.txt``: 774 support vectors,
rho -153.591; ``brisque_live_allrange.json``; see PROVENANCE.md). The ``brisque==0.2.0`` wheel's ``svm.txt`` and
``normalize.pickle`` that an earlier version used belong to a different training (770 support vectors, rho
-155.845, alpha ranges from a float-accumulated grid such as 9.999411), hence its large errors.

MATLAB ``filter2`` of a rank-1 window runs ``conv2(hcol, hrow, x)``; in flat 7×7 neighbourhoods the MSCN value
is a ±1e-13 rounding residue (or 0) whose sign moves pixels between the AGGD sides. These residues are
emulated by a fixed-order float64 separable filter (``metrics.functional.matlab_filter2``, factor = row sums of
``fspecial``'s window); MATLAB's own bits cannot be reproduced exactly, and this is what remains of the error.

Calibration (5 TID2013 images, ``official_scores.csv`` row ``brisque``, rtol 0.08): largest relative error
1.5e-2 (I08). Per image, ours / official: I03 94.6429 / 94.6421 (8.7e-6), I04 -0.107618 / -0.107618
(2.8e-6), I06 0.992862 / 0.992889 (2.7e-5), I08 5.43661 / 5.35827 (1.5e-2), I19 71.5683 / 72.2617 (9.6e-3). With the flat
residues set to exactly 0 instead, I08 is 10% off; images without flat regions (I04) agree to 6 digits.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from metrics.base import IQAMetric
from metrics.functional.input_checks import check_per_image, raise_if_constant
from metrics.functional.matlab_filter2 import filter2_separable, fspecial_gaussian, marginal
from metrics.functional.color import rgb2gray_uint8
from metrics.functional.imresize import imresize
from metrics.functional.nss import fit_aggd, fit_ggd, gamma_fn
from metrics.registry import DATA_DIR, Calibration, MetricSpec, Resources

MODEL_FILE = "brisque_live_allmodel.txt"
RANGE_FILE = "brisque_live_allrange.json"
SVM_PATH = DATA_DIR / MODEL_FILE
RANGE_PATH = DATA_DIR / RANGE_FILE
#: ``circshift`` shifts (rows, columns) of ``brisque_feature.m``.
SHIFTS = ((0, 1), (1, 0), (1, 1), (-1, 1))
N_FEATURES = 36
#: 1-D factor of ``fspecial('gaussian', 7, 7/6)`` (row sums of the MATLAB window).
WINDOW_FACTOR = marginal(fspecial_gaussian(7, 7.0 / 6.0))


def load_libsvm_model(path: Path) -> tuple[dict[str, str], np.ndarray, np.ndarray]:
    """Header, dual coefficients (S) and dense support vectors (S×36) of a libsvm text model."""
    header: dict[str, str] = {}
    coefs, vectors = [], []
    lines = path.read_text().splitlines()
    start = lines.index("SV") + 1
    for line in lines[: start - 1]:
        key, _, value = line.partition(" ")
        header[key] = value.strip()
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


def rbf_svr(x: torch.Tensor, support: torch.Tensor, coefs: torch.Tensor, gamma: float, rho: float) -> torch.Tensor:
    """A support-vector regression with an RBF kernel (libsvm's decision value): for each row of ``x`` (N×F),
    ``sum_i coefs_i exp(-gamma |x - support_i|²) - rho`` with ``support`` S×F and ``coefs`` S."""
    sq_dist = ((x[:, None, :] - support[None, :, :]) ** 2).sum(dim=2)
    return torch.exp(-gamma * sq_dist) @ coefs - rho


def mscn_filter2(image: torch.Tensor) -> torch.Tensor:
    """MSCN coefficients of N×1×H×W float64 grey levels as ``brisque_feature.m`` computes them."""
    mu = filter2_separable(image, WINDOW_FACTOR, WINDOW_FACTOR)
    sigma = torch.sqrt(torch.abs(filter2_separable(image * image, WINDOW_FACTOR, WINDOW_FACTOR) - mu * mu))
    return (image - mu) / (sigma + 1.0)


def scale_features(structdis: torch.Tensor) -> torch.Tensor:
    """The 18 BRISQUE features of one scale: N×1×H×W MSCN → N×18."""
    n = structdis.shape[0]
    alpha0, sigma_sq = fit_ggd(structdis.flatten(1))
    products = torch.stack([(structdis * torch.roll(structdis, s, dims=(2, 3))).flatten(1) for s in SHIFTS])
    alpha, left, right = (t.reshape(len(SHIFTS), n) for t in fit_aggd(products.flatten(0, 1)))
    const = torch.sqrt(gamma_fn(1 / alpha)) / torch.sqrt(gamma_fn(3 / alpha))
    mean = (right - left) * (gamma_fn(2 / alpha) / gamma_fn(1 / alpha)) * const
    features = [alpha0, sigma_sq]
    for k in range(len(SHIFTS)):
        features += [alpha[k], mean[k], left[k] ** 2, right[k] ** 2]
    return torch.stack(features, dim=1)


def round_significant(x: torch.Tensor, digits: int = 6) -> torch.Tensor:
    """C's ``%g`` (``digits`` significant digits), as ``svm-scale`` writes its output."""
    flat = x.detach().cpu().reshape(-1).tolist()
    rounded = [float(f"{v:.{digits}g}") for v in flat]
    return torch.tensor(rounded, dtype=x.dtype, device=x.device).reshape(x.shape)


def round_decimals(x: torch.Tensor, decimals: int = 6) -> torch.Tensor:
    """C's ``%f`` (``decimals`` digits after the point), as ``brisquescore.m`` writes the features."""
    flat = x.detach().cpu().reshape(-1).tolist()
    rounded = [float(f"{v:.{decimals}f}") for v in flat]
    return torch.tensor(rounded, dtype=x.dtype, device=x.device).reshape(x.shape)


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
        per_scale = [scale_features(mscn_filter2(image))]
        per_scale.append(scale_features(mscn_filter2(imresize(image, scale=0.5))))
        return torch.cat(per_scale, dim=1)

    def scale(self, features: torch.Tensor) -> torch.Tensor:
        """``svm-scale``: map each feature's [min, max] to [lower, upper] (N×36)."""
        if self.emulate_text_io:
            features = round_decimals(features)
        span = self.feat_max - self.feat_min
        scaled = self.lower + (self.upper - self.lower) * (features - self.feat_min) / span
        scaled = torch.where(features == self.feat_min, self.lower, scaled)
        scaled = torch.where(features == self.feat_max, self.upper, scaled)
        if self.emulate_text_io:
            scaled = round_significant(scaled)
        return scaled

    def predict(self, scaled: torch.Tensor) -> torch.Tensor:
        """The epsilon-SVR's value for each row of ``scaled`` (N×36)."""
        return rbf_svr(scaled, self.support, self.coefs, self.gamma, self.rho)

    def score(self, dist: torch.Tensor, ref: torch.Tensor | None = None) -> torch.Tensor:
        return self.predict(self.scale(self.features(dist))).float()


SPECS = (
    MetricSpec(
        version="2",  # faster paths: scores moved by <= 2.3e-6 relative (niqe 5.1e-4) on 1080x800 images
        name="brisque",
        mode="NR",
        lower_better=True,
        score_range=(-float("inf"), float("inf")),
        paper=(
            "Mittal, Moorthy & Bovik, No-reference image quality assessment in the spatial domain, "
            "IEEE Trans. Image Processing 21(12), 2012"
        ),
        calibration=Calibration.CALIBRATED,
        calibration_detail="authors' LIVE release; max rel. error 1.5e-2, I08; rtol 0.08",
        factory=BRISQUE,
        options={"emulate_text_io": True},
        resources=Resources(num_cpus=1, num_gpus=0.05, memory_mb=400),
        calibration_key="brisque",
        parameter_files=(MODEL_FILE, RANGE_FILE),
    ),
)
