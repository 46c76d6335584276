"""Paired statistics over seeds for the recovery experiment (recovery.py): t-intervals,
equivalence (TOST) and the ratio of two paired means with Fieller's interval.

Every pre-training seed gives one value per arm; arms are compared seed by seed
(paired), with Student's t for n − 1 degrees of freedom (scipy.stats).

Does not handle: unpaired samples, multiple-comparison corrections.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np


def t_quantile_975(dof: int) -> float:
    """The 0.975 quantile of Student's t with ``dof`` degrees of freedom (scipy.stats)."""
    from scipy.stats import t

    return float(t.ppf(0.975, dof))


def paired_difference(a: list[float], b: list[float]) -> dict[str, float]:
    """Mean of a − b over paired seeds, its sample std, and the 95% t-interval of the mean.

    Example:
        >>> d = paired_difference([0.8, 0.7, 0.9], [0.5, 0.5, 0.6])
        >>> round(d["mean"], 3), round(d["ci95"][0], 3), round(d["ci95"][1], 3)
        (0.267, 0.123, 0.41)
    """
    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n = diff.size
    mean = float(diff.mean())
    std = float(diff.std(ddof=1)) if n > 1 else 0.0
    half = t_quantile_975(n - 1) * std / math.sqrt(n) if n > 1 else math.inf
    return {"mean": mean, "std": std, "ci95": [mean - half, mean + half], "n": n}


def format_ci(d: dict) -> str:
    """A ``paired_difference`` as the reports print it: the mean, then the 95% interval.

    Example:
        >>> format_ci(paired_difference([0.8, 0.7, 0.9], [0.5, 0.5, 0.6]))
        '+0.267 [+0.123, +0.410]'
    """
    return f"{d['mean']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]"


def tost(a: list[float], b: list[float], margin: float) -> dict[str, Any]:
    """Paired two one-sided t-tests (TOST) of equivalence: is |mean(a − b)| < ``margin``?

    H0: the true mean difference is ≤ −margin or ≥ +margin. p = the larger of the two
    one-sided p-values; equivalence is shown at the 5% level when p < 0.05, the same as
    the 90% t-interval lying inside (−margin, +margin).
    """
    from scipy.stats import t

    diff = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    n, mean = diff.size, float(diff.mean())
    if n < 2:
        return {"margin": margin, "mean": mean, "p": 1.0, "equivalent": False, "n": n}  # one seed tests nothing
    se = float(diff.std(ddof=1)) / math.sqrt(n)
    if se == 0.0:
        p = 0.0 if abs(mean) < margin else 1.0
    else:
        p_low = float(t.sf((mean + margin) / se, n - 1))  # H0: mean ≤ −margin
        p_high = float(t.cdf((mean - margin) / se, n - 1))  # H0: mean ≥ +margin
        p = max(p_low, p_high)
    return {"margin": margin, "mean": mean, "p": p, "equivalent": bool(p < 0.05), "n": n}


def fieller_ratio(num: list[float], den: list[float]) -> dict[str, Any]:
    """Ratio of the means of paired ``num`` and ``den`` with Fieller's 95% interval.

    The bounds are the ρ where the t-statistic of mean(num) − ρ·mean(den) equals the 0.975
    t-quantile: (ā − ρb̄)² = t²(v_aa − 2ρ v_ab + ρ² v_bb), with v the (co)variances of the
    means. When b̄ is not significantly away from 0 the interval is unbounded (``None``).
    """
    a, b = np.asarray(num, dtype=np.float64), np.asarray(den, dtype=np.float64)
    n = a.size
    ma, mb = float(a.mean()), float(b.mean())
    if n < 2:
        return {"ratio": ma / mb if mb != 0 else math.nan, "ci95": None, "n": n}
    cov = np.cov(a, b, ddof=1) / n
    q = t_quantile_975(n - 1) ** 2
    qa, qb, qc = mb * mb - q * cov[1, 1], -2 * (ma * mb - q * cov[0, 1]), ma * ma - q * cov[0, 0]
    ratio = ma / mb if mb != 0 else math.nan
    disc = qb * qb - 4 * qa * qc
    if qa <= 0 or disc < 0:
        return {"ratio": ratio, "ci95": None, "n": n}
    roots = sorted(((-qb - math.sqrt(disc)) / (2 * qa), (-qb + math.sqrt(disc)) / (2 * qa)))
    return {"ratio": ratio, "ci95": roots, "n": n}


def recovery_share(probe_dense: list[float], probe_sparse: list[float], acc_dense: list[float], acc_sparse: list[float]) -> dict[str, Any]:
    """The share of the probe gap gone after fine-tuning: 1 − (acc gap)/(probe gap), with the
    gaps dense − sparse paired by seed; 95% interval from Fieller's theorem (:func:`fieller_ratio`)."""
    kept = fieller_ratio(np.subtract(acc_dense, acc_sparse).tolist(), np.subtract(probe_dense, probe_sparse).tolist())
    ci = None if kept["ci95"] is None else [1 - kept["ci95"][1], 1 - kept["ci95"][0]]
    return {"share": 1 - kept["ratio"], "ci95": ci, "gap_kept_ratio": kept, "n": kept["n"]}
