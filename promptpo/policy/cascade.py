"""Cascade evaluation: score a candidate on a small first stage of its episodes, and spend the rest
only when that stage leaves it able to beat the best so far.

The rule (one for LLM answers, offline-proposer samples and tuned constants alike):

* success-rate runs: before anything has succeeded, a first stage without a single success stops
  the candidate. Once a best exists with success rate p, the candidate stops when a stage at least
  this bad would happen less than ``ALPHA`` of the time to a policy as good as the best (binomial
  tail: P(X <= successes | stage episodes, p) < ALPHA).
* return runs: the candidate stops when its stage's mean return is more than ``Z`` standard errors
  below the best's mean return (the spread per episode taken from the best's episodes, else the
  stage's). With nothing scored yet every candidate goes on.

A stopped candidate keeps its first-stage episodes as its evaluation, is fed back as stopped, and
never becomes the best: only a full evaluation can.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from promptpo.envspec import Episode
from promptpo.policy.evaluate import Evaluator
from promptpo.policy.evaluation import Evaluation, Stage
from promptpo.isolation.base import Limits
from promptpo.policy.trajectory import Keeper

ALPHA = 0.16
"""How unlikely a first stage must be for a policy as good as the best before a candidate stops
(about one standard error, one-sided)."""
Z = 1.0
"""Return runs: standard errors below the best's mean return that stop a candidate."""
NOTHING_BEFORE = " and the run had no success as its wave began"
"""Why a first stage without success stops a candidate before the run has a best. The cascade compares with the
run's best as the candidate's wave began (promptpo.engine.wave): a wave-mate's success, found alongside, is not
known to it. Records from before this wording say "and no candidate has succeeded yet" (which a wave-mate's
success made look false) or "and no candidate recorded before its round had succeeded" (a round has several
waves where --concurrency is below --candidates, and its repairs are waves of their own)."""


def decide(stage: Evaluation, best: Evaluation | None, by_success: bool) -> tuple[bool, str]:
    """Whether a candidate goes on after its first stage, and why, in one sentence."""
    k = len(stage.returns)
    if by_success and stage.success_rate is not None:
        wins = round(stage.success_rate * k)
        seen = f"{wins}/{k} successes in the first {k} episodes"
        if best is None or best.success_rate is None:
            if wins == 0:
                return False, f"{seen}{NOTHING_BEFORE}"
            return True, f"{seen}: the first success of the run"
        p = best.success_rate
        tail = _binomial_cdf(wins, k, p)
        if tail < ALPHA:
            return False, (f"{seen}: a policy as good as the best (success rate {p:.2f}) would do this badly "
                           f"only {tail:.0%} of the time")
        return True, f"{seen}: not clearly below the best (success rate {p:.2f})"
    mean = stage.mean_return
    seen = f"mean return {mean:.2f} over the first {k} episodes"
    if best is None or best.mean_return is None:
        return True, f"{seen}: no candidate has a score yet to compare it with"
    whose = "the best's" if best.std_return else "this stage's"
    spread = best.std_return if best.std_return else stage.std_return or 0.0
    bar = best.mean_return - Z * spread / math.sqrt(max(1, k))
    how = (f"the bar is the best's mean return {best.mean_return:.2f} minus {Z:g} standard error of a {k}-episode mean "
           f"({whose} spread per episode {spread:.2f} / sqrt({k}))")
    if mean < bar:
        return False, f"{seen} is below {bar:.2f}: {how}"
    return True, f"{seen} is not below {bar:.2f}: {how}"


def evaluate(evaluator: Evaluator, code: str, episodes: Sequence[Episode], first: int, best: Evaluation | None,
             by_success: bool, limits: Limits | None = None, keeper: Keeper | None = None) -> Evaluation:
    """``first`` episodes, then (if they pass) the rest; the result says how the first stage went.
    ``keeper``: keeps both stages' steps for a feedback function (promptpo.policy.trajectory)."""
    episodes = list(episodes)
    if first <= 0 or first >= len(episodes):
        return evaluator.evaluate(code, episodes, limits, keeper=keeper)
    stage = evaluator.evaluate(code, episodes[:first], limits, keeper=keeper)
    if not stage.ok:
        return stage  # a fault in the first stage is the outcome: repaired like any other
    passed, reason = decide(stage, best, by_success)
    stage.stage = Stage(first, len(episodes), passed, reason)
    if not passed:
        return stage
    rest = evaluator.evaluate(code, episodes[first:], limits, keeper=keeper)
    return Evaluation(rest.outcome, stage.episodes + rest.episodes, stage.env_steps + rest.env_steps,
                      stage.wall_time_s + rest.wall_time_s, rest.fault, stage.output + rest.output,
                      stage.output_bytes + rest.output_bytes, stage.stage)


def _binomial_cdf(wins: int, n: int, p: float) -> float:
    from scipy.stats import binom

    return float(binom.cdf(wins, n, p))
