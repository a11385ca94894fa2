"""The training losses the listed pyiqa option files use, written from their definitions.

* ``MSELoss`` / ``L1Loss``: mean squared / absolute error between predicted scores and MOS.
* ``PLCCLoss``: ``(1 - PLCC(pred, mos)) / 2`` over the batch (0 when perfectly linearly related, 1 when
  perfectly anti-related); a batch of one sample has no correlation and falls back to the L1 error, as pyiqa does.
* ``EMDLoss`` (NIMA, Talebi & Milanfar 2018, eq. 1): ``(mean_k |CDF_pred(k) - CDF_target(k)|^r)^(1/r)`` per image
  between two score distributions (``r = 2``), averaged over the batch.
* ``RankLoss`` (Li, Jiang & Jiang, "Norm-in-Norm Loss...", monotonicity term): the mean over pairs of
  ``relu((p_i - p_j) · sign(m_j - m_i))``, divided by ``1 + max`` of those terms; L1 for a single sample.

Every loss is multiplied by ``loss_weight`` (default 1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def plcc_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pred, target = pred.flatten(), target.flatten()
    if pred.numel() < 2:
        return F.l1_loss(pred, target)
    centred_pred, centred_target = pred - pred.mean(), target - target.mean()
    plcc = (F.normalize(centred_pred, dim=0) * F.normalize(centred_target, dim=0)).sum()
    return (1 - plcc) / 2


def emd_loss(pred: torch.Tensor, target: torch.Tensor, r: float = 2.0) -> torch.Tensor:
    """``pred``, ``target``: (N, bins) probability distributions."""
    distance = (torch.cumsum(pred, dim=-1) - torch.cumsum(target, dim=-1)).abs() ** r
    return (distance.mean(dim=-1) ** (1.0 / r)).mean()


def rank_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    pred, target = pred.reshape(-1, 1), target.reshape(-1, 1)
    if pred.shape[0] < 2:
        return F.l1_loss(pred, target)
    terms = F.relu((pred - pred.t()) * torch.sign(target.t() - target))
    return terms.mean() / (1 + terms.detach().max())


def _pointwise(fn: Callable[..., torch.Tensor]) -> LossFn:
    return lambda pred, target: fn(pred.flatten(), target.flatten())


#: pyiqa loss type → (function, the options it takes besides ``loss_weight``, whether it compares distributions).
LOSSES: dict[str, tuple[Callable[..., torch.Tensor], frozenset[str], bool]] = {
    "MSELoss": (_pointwise(F.mse_loss), frozenset({"reduction"}), False),
    "L1Loss": (_pointwise(F.l1_loss), frozenset({"reduction"}), False),
    "PLCCLoss": (plcc_loss, frozenset(), False),
    "RankLoss": (rank_loss, frozenset({"detach"}), False),
    "EMDLoss": (emd_loss, frozenset({"r", "reduction"}), True),
}


def loss_problems(options: Any, where: str, predicts_distribution: bool | None) -> list[str]:
    """Why the loss entry ``options`` (``{type, loss_weight, ...}``) cannot be used with the network (whose output
    is a distribution or not; None: not known), one line each."""
    if not isinstance(options, dict):
        return [f"{where}: must be a mapping with a 'type', got {options!r}"]
    kind = options.get("type")
    if kind not in LOSSES:
        return [f"{where}.type: unknown loss {kind!r} (known: {', '.join(LOSSES)})"]
    _, accepted, on_distributions = LOSSES[kind]
    problems = [f"{where}.{key}: not an option of {kind} (accepted: loss_weight"
                f"{', ' + ', '.join(sorted(accepted)) if accepted else ''})"
                for key in sorted(set(options) - {"type", "loss_weight"} - accepted)]
    weight = options.get("loss_weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
        problems.append(f"{where}.loss_weight: must be a positive number, got {weight!r}")
    if options.get("reduction", "mean") != "mean":
        problems.append(f"{where}.reduction: only 'mean' is supported, got {options['reduction']!r}")
    r = options.get("r", 2)
    if isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0:
        problems.append(f"{where}.r: must be a positive number, got {r!r}")
    if predicts_distribution is not None and on_distributions != predicts_distribution:
        needs = "a score distribution (NIMA)" if on_distributions else "a scalar score"
        problems.append(f"{where}.type: {kind} needs a network that predicts {needs}, this one does not")
    return problems


def build_loss(options: dict[str, Any]) -> LossFn:
    """The loss function of a validated entry, weighted."""
    fn, _, _ = LOSSES[options["type"]]
    weight = float(options.get("loss_weight", 1.0))
    if options["type"] == "EMDLoss":
        r = float(options.get("r", 2))
        return lambda pred, target: weight * emd_loss(pred, target, r)
    return lambda pred, target: weight * fn(pred, target)
