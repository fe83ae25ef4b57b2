"""The HyperScore as a learned signal: its beta, gamma, kappa fitted to predict how trials end.

``HyperScore(V) = 100 * (1 + sigmoid(beta * ln V + gamma) ** kappa)`` (promptpo.stats.hyperscore) of a
return normalised into (0, 1]. SAM-HRL-HS fits the three parameters by Bayesian optimization with a
Gaussian process so that the HyperScore of a trial's early evaluation correlates best with its final
return. A rank correlation cannot be fitted this way: every increasing transform of V ranks trials the
same, so Spearman's rho is the same for every (beta > 0, kappa > 0). What is fitted here is Pearson's
r between the early HyperScore and the final return (the transform's shape matters to it); Spearman's
rho is recorded beside it. The optimizer is Optuna's Gaussian-process sampler.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

from promptpo.stats import HYPERSCORE_BETA, HYPERSCORE_GAMMA, HYPERSCORE_KAPPA, hyperscore

BOUNDS = {"beta": (0.1, 10.0), "gamma": (-5.0, 5.0), "kappa": (0.2, 5.0)}
FIT_TRIALS = 30
"""Evaluations of the correlation the Gaussian-process search spends on one fit."""


def normalized(mean_return: float, floor: float, target: float) -> float:
    """A return as V in (0, 1]: 0 at the env's worst return, 1 at its target (capped)."""
    span = target - floor
    v = (mean_return - floor) / span if span > 0 else 1.0
    return min(1.0, max(1e-6, v))


@dataclass
class Fit:
    beta: float = HYPERSCORE_BETA
    gamma: float = HYPERSCORE_GAMMA
    kappa: float = HYPERSCORE_KAPPA
    pearson: float | None = None
    """Pearson's r of the early HyperScore with the final return at these parameters (what the fit maximises)."""
    spearman: float | None = None
    """Spearman's rho of the same: the same for any increasing transform, so not what the fit changes."""
    trials: int = 0
    """Trials the fit was made on (0: the defaults, nothing fitted yet)."""

    def score(self, v: float) -> float:
        return hyperscore(v, self.beta, self.gamma, self.kappa)

    def to_json(self) -> dict:
        return asdict(self)


def _pearson(xs: list[float], ys: list[float]) -> float:
    import warnings

    from scipy.stats import pearsonr

    if len(set(xs)) < 2 or len(set(ys)) < 2:
        return -1.0
    with warnings.catch_warnings():  # near-constant scores (a saturated sigmoid) are a bad fit, not an alarm
        warnings.simplefilter("ignore")
        r = float(pearsonr(xs, ys).statistic)
    return r if math.isfinite(r) else -1.0


def fit(early: list[float], final: list[float], seed: int = 0, trials: int = FIT_TRIALS) -> Fit:
    """beta, gamma, kappa maximising Pearson's r between HyperScore(early V) and the final return."""
    import optuna
    from scipy.stats import spearmanr

    optuna.logging.set_verbosity(optuna.logging.ERROR)  # (its note that greenlet would make it faster)

    def objective(trial) -> float:
        p = {name: trial.suggest_float(name, low, high) for name, (low, high) in BOUNDS.items()}
        return _pearson([hyperscore(v, **p) for v in early], final)

    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.GPSampler(seed=seed))
    study.enqueue_trial({"beta": HYPERSCORE_BETA, "gamma": HYPERSCORE_GAMMA, "kappa": HYPERSCORE_KAPPA})
    study.optimize(objective, n_trials=trials)
    best = study.best_params
    rho = spearmanr(early, final).statistic if len(set(early)) > 1 and len(set(final)) > 1 else float("nan")
    return Fit(best["beta"], best["gamma"], best["kappa"], round(study.best_value, 4),
               None if not math.isfinite(rho) else round(float(rho), 4), len(early))
