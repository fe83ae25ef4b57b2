"""Constant tuning's share of env steps (``--tune-share``): what is left of it, what one phase may spend, and what the
prompts say of both, with every evaluation at its worst case (every episode to its end), as a phase's checks count
it (promptpo.policy.tuning.tune)."""

from __future__ import annotations

import math
from typing import Protocol

from promptpo.engine.context import RunContext
from promptpo.policy.config import OptimizeConfig
from promptpo.search.offline import cma_population


class SharedTask(Protocol):
    """What the share needs of the task whose programs are tuned (promptpo.policy.tuning.TunedTask has it)."""

    config: OptimizeConfig

    def worst_case_steps(self) -> int: ...


MIN_DIMENSIONS = 2
"""The fewest dimensions a tuning phase searches: pycma needs two."""


def share_total(config, worst: int) -> float:
    """Env steps all tuning of a run of ``config`` may spend: ``tune_share`` of the env-step budget; without one, as
    many as make that share next to the most the model's candidates could spend (rounds x candidates x worst case)."""
    share = config.tune_share
    if share >= 1:
        return math.inf
    budget = config.budgets.max_env_steps
    planned = config.rounds * config.candidates * worst
    return share * budget if budget is not None else share / (1 - share) * planned


def share_left(run: RunContext, task: SharedTask) -> float:
    """Env steps tuning may still spend."""
    return share_total(task.config, task.worst_case_steps()) - run.state.tuning_env_steps


def generation_size(tune_evals: int, dimensions: int) -> int:
    """Samples in one CMA-ES generation of a tuning phase over ``dimensions`` parameters: CMA-ES's default
    population, but no more than --tune-evals (and at least two)."""
    return max(2, min(tune_evals, cma_population(dimensions)))


def allowance(left: float, phases: int, generation: float) -> float:
    """Env steps a phase may spend: what is left of tuning's share, spread evenly over the ``phases`` the run can
    still have (one after each round left), so the first phase does not spend the share of all, but never less than
    one CMA-ES ``generation`` (a phase that cannot finish one tells the search nothing: Hopper's phases of 3 samples
    of a generation of 10 changed nothing, while 85% of the budget went unused)."""
    return min(left, max(left / max(1, phases), generation))


def phase_allowance(run: RunContext, task: SharedTask, round_: int, generation: float = 0.0) -> float:
    """Env steps the phase after ``round_`` may spend (``allowance``)."""
    return allowance(share_left(run, task), task.config.rounds - round_, generation)


def worst_case_phases(tune_evals: int, left: float, worst: int, phases: int, dimensions: int) -> int:
    """Phases over ``dimensions`` constants that ``left`` env steps pay for when every evaluation costs ``worst``
    and every phase spends all it may (whole generations, at most ``tune_evals`` evaluations, within its
    ``allowance``), one after each of the ``phases`` rounds at most: the fewest the share guarantees."""
    size = generation_size(tune_evals, max(MIN_DIMENSIONS, dimensions))
    count = 0
    for phases_left in range(phases, 0, -1):
        if left < size * worst:
            break
        evaluations = min(int(allowance(left, phases_left, size * worst) // worst), tune_evals // size * size)
        left -= evaluations * worst
        count += 1
    return count


def share_text(config) -> str:
    """What --tune-share is a share of, in words (one meaning for the prompts, show and the README)."""
    of = "of --max-env-steps" if config.budgets.max_env_steps is not None else "of all the env steps the run spends"
    return f"{config.tune_share:.0%} {of}"


def fitting(tune_evals: int, left: float, worst: int, most: int) -> list[int]:
    """The numbers of constants, from the fewest up to ``most``, whose generation ``left`` env steps pay for at the
    worst case (a generation grows with the number of constants, so they run from the fewest without a gap)."""
    fits = []
    for dimensions in range(MIN_DIMENSIONS, most + 1):
        if generation_size(tune_evals, dimensions) * worst > left:
            break
        fits.append(dimensions)
    return fits


def affordable_text(tune_evals: int, left: float, worst: int) -> str:
    """Where what is left of tuning's share cannot pay for one generation over every number of constants: the most a
    program may declare to be tuned now, and why (real models declared 6–8 and were never tuned again, while the
    prompt said tuning would run)."""
    if math.isinf(left):
        return ""
    fits = fitting(tune_evals, left, worst, 64)
    if not fits or fits[-1] == 64:
        return ""  # every generation fits (or none does: then tuning does not run again, as said)
    most = fits[-1]
    more = generation_size(tune_evals, most + 1)
    return (f", and only if it declares at most {most} of them: with {left:,.0f} env steps left of tuning's share, "
            f"{most + 1} or more need a generation of {more} evaluations (up to {more * worst:,} env steps), which "
            "it cannot pay for")


LISTED_DIMENSIONS = 10
"""The most constants whose phase cost the prompts list (real models declared 2 to 13)."""


def cost_text(tune_evals: int, left: float, worst: int, phases: int) -> str:
    """What one phase costs by the number of constants it tunes, and how many phases what is left pays for at the
    worst case, from the fewest constants to the most it can afford (empty when the share has no end)."""
    if math.isinf(left):
        return ""
    fits = fitting(tune_evals, left, worst, LISTED_DIMENSIONS)
    if not fits:
        return ""
    sizes: dict[int, list[int]] = {}  # generation size -> the numbers of constants searched with it
    for dimensions in fits:
        sizes.setdefault(generation_size(tune_evals, dimensions), []).append(dimensions)
    first, *rest = [(f"{ds[0]}{'' if len(ds) == 1 else f'–{ds[-1]}'}", size) for size, ds in sizes.items()]
    head = f"A generation over {first[0]} constants is {first[1]} evaluations (up to {first[1] * worst:,} env steps)"
    costs = "; ".join([head] + [f"{d}: {n} ({n * worst:,})" for d, n in rest])
    fewest = worst_case_phases(tune_evals, left, worst, phases, MIN_DIMENSIONS)
    paid = f"{fewest} phase{'s' if fewest != 1 else ''} over {MIN_DIMENSIONS} constants"
    if fits[-1] != MIN_DIMENSIONS:
        paid += f" and {worst_case_phases(tune_evals, left, worst, phases, fits[-1])} over {fits[-1]}"
    return (f"A phase runs only if what is left of the share pays for one CMA-ES generation at its worst case "
            f"({worst:,} env steps an evaluation: every episode to its end), and spends up to an even part of what is "
            f"left, or one generation if that is more, in at most {tune_evals} evaluations (--tune-evals). {costs}. "
            f"So the {left:,.0f} env steps left pay for at least {paid}; evaluations whose episodes end early cost "
            "less and leave more for later phases.")


def tuning_costs(config, worst: int) -> dict[str, str]:
    """The first prompt's account of what tuning can pay for (the one later prompts' status gives after each round):
    the most constants a phase can tune, and the cost of a phase."""
    left = share_total(config, worst)
    return {"tune_limit": affordable_text(config.tune_evals, left, worst),
            "tune_cost": cost_text(config.tune_evals, left, worst, config.rounds)}
