"""Maximum-likelihood fit of a two-parameter Weibull distribution (MATLAB ``wblfit``), batched over rows.

For positive samples ``x_1..x_M`` the likelihood equations give the shape ``k`` as the root of

    f(k) = sum(x^k ln x) / sum(x^k) - mean(ln x) - 1/k

and then the scale ``lambda = mean(x^k)^(1/k)``. The root is found by Newton's method from
``k0 = 1.2 / std(ln x)`` (``f'(k) = var_w(ln x) + 1/k²`` with the x^k-weighted variance, so f is increasing and
the root unique), iterated per row until the step is below ``rtol·k`` (to convergence, as ``wblfit`` solves the
equation to working precision; pyiqa 0.1.16 stops when the largest step of the whole batch is below 1e-2).
Powers are taken relative to each row's largest sample (the equations are scale-free), so ``x^k`` cannot
overflow.
"""

from __future__ import annotations

import torch

#: Newton stops for a row when |step| <= RTOL·k.
RTOL = 1e-12
MAX_ITERATIONS = 100


def fit_weibull(samples: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Weibull (scale, shape) of every row of ``samples`` (R×M, positive; float64 recommended). A row with a
    zero, a negative value or no spread has no fit: NaN (or an infinite shape), as the equations give."""
    log_x = samples.log()
    top = log_x.amax(dim=1, keepdim=True)
    relative = log_x - top  # ln(x / max x) <= 0
    mean_log = relative.mean(dim=1, keepdim=True)
    shape = 1.2 / log_x.std(dim=1, keepdim=True)
    active = torch.arange(samples.shape[0], device=samples.device)
    u, u_sq = relative, relative * relative
    for _ in range(MAX_ITERATIONS):
        k = shape[active]
        weights = torch.mul(u, k).exp_()  # (x / max x)^k
        total = weights.sum(dim=1, keepdim=True)
        first = _row_dot(weights, u) / total
        second = _row_dot(weights, u_sq) / total
        value = first - mean_log[active] - 1.0 / k
        slope = second - first * first + 1.0 / (k * k)
        step = value / slope
        shape[active] = k - step
        # NaN steps (rows without a fit) stop too: "not above the tolerance"
        going_on = (step.abs() > RTOL * k.abs()).flatten()
        if not going_on.any():
            break
        if not going_on.all():
            active, u, u_sq = active[going_on], u[going_on], u_sq[going_on]
    scale = torch.exp(top.flatten()) * torch.mul(relative, shape).exp_().mean(dim=1) ** (1.0 / shape.flatten())
    return scale, shape.flatten()


def _row_dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """R×M, R×M → R×1: the dot product of each pair of rows (no R×M temporary)."""
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).reshape(-1, 1)
