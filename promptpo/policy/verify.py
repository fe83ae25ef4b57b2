"""`promptpo verify`: re-run a candidate in the sandbox on episodes its run never saw.

Gymnasium and MiniGrid: fresh seeds from a stream the run does not use (and none of the run's
own). Meta-World: a fresh set of 50 goal variations (MT1 draws them from the seed), one episode
each. The verified score is tested against the recorded one on what the run optimised (its success
rate where its target is one, else its mean return), one-sided: only a significantly worse score
says the policy was lucky or overfit to its evaluation episodes.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
import warnings
from datetime import datetime

import numpy as np

from promptpo.envs import load_spec
from promptpo.policy.config import OptimizeConfig
from promptpo.envspec import Episode, judged_by_success
from promptpo.policy.evaluate import Evaluator
from promptpo.policy.evaluation import Evaluation, Fault
from promptpo.policy.pool import EnvPool
from promptpo.outcome import Outcome
from promptpo.text import clean
from promptpo.isolation import make_sandbox
from promptpo.isolation.base import Limits
from promptpo.records import RunFolder
from promptpo.policy.task import run_target
from promptpo.stats import mean_ci, proportion_ci
from promptpo.engine.store import RunStore

SEED_OFFSET = 1_000_003
"""Verification episodes come from the run seed plus this: a seed stream no run evaluates with."""


@dataclass
class Score:
    episodes: int
    mean_return: float | None
    std_return: float | None
    success_rate: float | None
    return_ci95: tuple[float, float] | None
    success_ci95: tuple[float, float] | None


@dataclass
class Verification:
    run: str
    candidate: str
    env: str
    seed: int
    outcome: str
    recorded: Score
    verified: Score
    gap: bool
    verdict: str
    env_steps: int
    wall_time_s: float
    sandbox: str
    end_at_success: bool = False
    """Whether the fresh episodes ended at their first success (as the run's did, unless --full-episodes)."""
    judged_on: str = "mean_return"
    """What the verdict tests: the run's own metric (success_rate where its target is one, else mean_return)."""
    test: str = ""
    p_value: float | None = None
    file: str = ""
    episodes: list[dict] = field(default_factory=list)
    """One row per fresh episode (seed, goal variation, return, success, steps, how it ended), so a failed goal
    can be found and replayed."""


def score_of(returns: list[float], successes: list[bool | None]) -> Score:
    flags = [float(s) for s in successes if s is not None]
    return Score(len(returns), float(np.mean(returns)) if returns else None,
                 float(np.std(returns)) if returns else None, float(np.mean(flags)) if flags else None,
                 mean_ci(returns), proportion_ci(int(sum(flags)), len(flags)) if flags else None)


def plan(run: RunFolder, episodes: int) -> tuple[int, list[Episode]]:
    """Fresh episodes: drawn from the run seed plus an offset and the run's episode secret (promptpo.seeds), so a
    policy cannot draw them either, and none of the run's own."""
    spec = load_spec(run.meta["env"])
    seed = int(run.meta.get("seed", 0)) + SEED_OFFSET
    secret = (run.meta.get("config") or {}).get("episode_secret")
    if spec.family == "metaworld":
        return seed, spec.episodes(seed, episodes, secret)
    seen = {e["seed"] for e in run.meta.get("episodes", [])}
    fresh = [e for e in spec.episodes(seed, episodes + len(seen), secret) if e.seed not in seen][:episodes]
    return seed, [Episode(i, e.seed, e.extras) for i, e in enumerate(fresh)]


def verify(run: RunFolder, candidate_id: str | None, episodes: int | None, sandbox: str = "process",
           full_episodes: bool = False) -> Verification:
    """Episodes end as the run's did (at their first success where it ended them there) unless ``full_episodes``.
    The verdict tests the run's own metric (``judge``)."""
    record = run.candidate(candidate_id)
    run_ended = bool(run.meta.get("end_at_success", False))
    end_at_success = run_ended and not full_episodes
    spec = load_spec(run.meta["env"])
    count = episodes or (50 if spec.family == "metaworld" else 100)
    seed, fresh = plan(run, count)
    limits = Limits.from_record(run.meta.get("config", {}).get("limits"))
    description = sandbox
    try:  # a verification always ends with a record, however the candidate or the sandbox fails
        with make_sandbox(sandbox) as box:
            description = box.describe()
            pool = EnvPool(spec, seed)
            try:
                salt = f"{run.meta.get('config', {}).get('salt', '')}:verify:{seed}"
                evaluator = Evaluator(spec, box, limits, pool, salt=salt, end_at_success=end_at_success)
                result = in_batches(evaluator, run.code(record["id"]), fresh)
            finally:
                pool.close()
    except Exception as err:  # noqa: BLE001 - recorded as what it is
        result = Evaluation(Outcome.SANDBOX_ERROR, [], 0, 0.0, Fault(Outcome.SANDBOX_ERROR, clean(err, 500)))
    recorded_eps = [e for e in (record.get("evaluation") or {}).get("episodes", []) if e.get("completed")]
    recorded = score_of([e["episode_return"] for e in recorded_eps], [e.get("success") for e in recorded_eps])
    done = [e for e in result.episodes if e.completed]
    verified = score_of([e.episode_return for e in done], [e.success for e in done])
    config = OptimizeConfig.from_record({"env": run.meta["env"], **run.meta.get("config", {})}, run.path.parent)
    by_success = judged_by_success(spec, run_target(config, spec))  # what the run optimised
    if by_success:
        values = ([float(bool(e.get("success"))) for e in recorded_eps], [float(bool(e.success)) for e in done])
    else:
        values = ([e["episode_return"] for e in recorded_eps], [e.episode_return for e in done])
    gap, verdict, test, p_value = judge(result.outcome, by_success, *values)
    verification = Verification(run.path.name, record["id"], spec.id, seed, str(result.outcome), recorded, verified,
                                gap, verdict, result.env_steps, round(result.wall_time_s, 2), description,
                                end_at_success, "success_rate" if by_success else "mean_return", test, p_value,
                                episodes=[episode_row(e) for e in result.episodes])
    store = RunStore(run.path)
    name = f"verifications/{record['id']}-{datetime.now():%Y%m%d-%H%M%S}.json"
    verification.file = name
    store.write_json(name, asdict(verification))
    store.event("verification", candidate=record["id"], episodes=verified.episodes, mean_return=verified.mean_return,
                success_rate=verified.success_rate, gap=gap, file=name)
    return verification


BATCH = 10
"""Fresh episodes per worker: a candidate that fails late (or a limit that fires) keeps the batches it finished."""


def in_batches(evaluator: Evaluator, code: str, episodes: list[Episode]) -> Evaluation:
    """The episodes in lock-step batches of ``BATCH``, each in a fresh worker with its own limits, up to the first
    batch that fails; one Evaluation of everything run."""
    parts: list[Evaluation] = []
    for start in range(0, len(episodes), BATCH):
        parts.append(evaluator.evaluate(code, episodes[start:start + BATCH]))
        if not parts[-1].ok:
            break
    last = parts[-1]
    return Evaluation(last.outcome, [e for p in parts for e in p.episodes], sum(p.env_steps for p in parts),
                      sum(p.wall_time_s for p in parts), last.fault, last.output, last.output_bytes)


def episode_row(e) -> dict:
    return {"index": e.index, "seed": e.seed, **e.extras, "return": e.episode_return, "success": e.success,
            "steps": e.length, "success_step": e.success_step, "ending": e.ending}


ALPHA = 0.05
"""Level of the one-sided tests that call a verified score worse (or better) than the recorded one."""


def judge(outcome: str, by_success: bool, recorded_values: list[float],
          verified_values: list[float]) -> tuple[bool, str, str, float | None]:
    """Judge what the run optimised — its success rate where its target is one (the return is then only
    information), its mean return otherwise — with a one-sided test at ``ALPHA``: a gap ("lucky or
    overfit") only when the verified score is significantly worse; significantly better is said as such.
    ``*_values`` are per-episode success flags (0/1) or returns. Returns (gap, verdict, test, p)."""
    if outcome != "ok":
        kept = (f"; the {len(verified_values)} episodes it finished first are kept in the file"
                if verified_values else "")
        return True, f"the candidate did not run cleanly on the fresh episodes ({outcome}){kept}", "", None
    what = "success rate" if by_success else "mean return"
    if len(recorded_values) < 2 or len(verified_values) < 2:
        return False, f"too few episodes to test the {what}", "", None
    if by_success:
        test, worse, better = "one-sided Fisher exact test", *_fisher(recorded_values, verified_values)
    else:
        test, worse, better = "one-sided Welch t-test", *_welch(recorded_values, verified_values)
    was, now = f"{np.mean(recorded_values):.2f}", f"{np.mean(verified_values):.2f}"
    if worse < ALPHA:
        return True, (f"verified {what} {now} is significantly below the recorded {was} ({test}, p={worse:.3g}): "
                      "lucky or overfit to its evaluation episodes"), test, worse
    if better < ALPHA:
        return False, f"verified {what} {now} is significantly above the recorded {was} ({test}, p={better:.3g})", \
            test, better
    return False, (f"verified {what} {now} is not significantly different from the recorded {was} "
                   f"({test}, p={worse:.3g} for worse)"), test, worse


def interval_text(score: dict | Score) -> str:
    """A score's 95% intervals as words: Student-t for the mean return (the interval the Welch test inverts;
    wide, as it should be, at small n), Clopper-Pearson for a success rate."""
    s = score if isinstance(score, dict) else asdict(score)
    parts = []
    if s.get("return_ci95"):
        low, high = s["return_ci95"]
        parts.append(f"95% interval of the mean {low:.2f} to {high:.2f}")
    elif s.get("episodes", 0) and s.get("mean_return") is not None:
        parts.append("too few episodes for an interval")
    if s.get("success_ci95"):
        low, high = s["success_ci95"]
        parts.append(f"of the success rate {low:.2f} to {high:.2f}")
    return f" ({'; '.join(parts)})" if parts else ""


def _fisher(recorded: list[float], verified: list[float]) -> tuple[float, float]:
    """p-values that the verified success rate is lower, and higher, than the recorded one."""
    from scipy.stats import fisher_exact

    table = [[int(sum(verified)), len(verified) - int(sum(verified))],
             [int(sum(recorded)), len(recorded) - int(sum(recorded))]]
    return (float(fisher_exact(table, alternative="less").pvalue),
            float(fisher_exact(table, alternative="greater").pvalue))


def _welch(recorded: list[float], verified: list[float]) -> tuple[float, float]:
    from scipy.stats import ttest_ind

    if np.std(recorded) == 0 and np.std(verified) == 0:  # no spread: the test is undefined; equal means are no gap
        diff = float(np.mean(verified) - np.mean(recorded))
        return (0.0 if diff < 0 else 1.0), (0.0 if diff > 0 else 1.0)
    with warnings.catch_warnings():  # one side without spread (e.g. 500 every episode) is a valid case
        warnings.simplefilter("ignore", RuntimeWarning)
        return (float(ttest_ind(verified, recorded, equal_var=False, alternative="less").pvalue),
                float(ttest_ind(verified, recorded, equal_var=False, alternative="greater").pvalue))
