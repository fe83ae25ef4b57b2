"""A run folder as every view opens it: the raw reader (promptpo.records.folder) with what its records mean.

Every view opens run folders through ``RunFolder`` and nothing else, so every view tolerates the same things:
what the raw reader reads around, and a summary.json that is missing or corrupt (rebuilt from the events,
candidates and calls by promptpo.records.recover, and marked ``recovered``). What the records say — the best,
steps to target, calls, seeds — is derived once, in promptpo.records.facts (``RunFolder.facts``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from promptpo.errors import RunStoreError
from promptpo.records.facts import Facts, facts_of
from promptpo.records.folder import Folder, score_text
from promptpo.records.recover import rebuild

log = logging.getLogger(__name__)

TRAINED = {"ppo": "a PPO baseline", "optuna": "an Optuna search over PPO's hyperparameters",
           "pbt": "a population-based training of PPO", "hrl": "a SAM-HRL-HS search over PPO's hyperparameters",
           "online": "an online-steered PPO training", "schedule-verify": "a schedule's re-training on a fresh seed",
           "finetune": "an RL residual fine-tuned on a program", "td3": "a TD3 baseline", "sac": "a SAC baseline",
           "tqc": "a TQC baseline"}
"""What a run folder of each training kind is (said when it is asked for a program)."""


@dataclass(frozen=True)
class Pick:
    """The candidate a command works on, and a line to tell the user when it is not the obvious one."""

    record: dict
    note: str = ""


class RunFolder(Folder):
    @cached_property
    def _summary(self) -> tuple[dict, str]:
        summary, why = self.stored_summary()
        return (summary, "") if summary is not None else (rebuild(self), why)

    @property
    def summary(self) -> dict:
        """summary.json, or (when it is missing or corrupt) what the events, candidates and calls say."""
        return self._summary[0]

    @property
    def recovered(self) -> str:
        """Why the summary was rebuilt from the other records, or ''."""
        return self._summary[1]

    @cached_property
    def facts(self) -> Facts:
        """What the records say (promptpo.records.facts.Facts): best, steps to target, calls, seed, method."""
        try:
            return facts_of(self, self.summary, self.recovered)
        except (TypeError, ValueError, OverflowError) as err:  # a record that is JSON but not what it should be
            raise RunStoreError(f"{self.path}: a record in it holds a value of the wrong type ({err})",
                                "the run folder is corrupt") from None

    def candidate(self, candidate_id: str | None = None) -> dict:
        """A candidate by id; by default the run's best (``pick``: say its note where it is not obvious)."""
        if candidate_id is None:
            picked = self.pick(None, "use")
            if picked.note:
                log.warning(picked.note)
            return picked.record
        return super().candidate(candidate_id)

    def pick(self, candidate_id: str | None, verb: str) -> Pick:
        """The candidate named, or the run's best (by the engine's rank key); with none fully evaluated, the best
        of those a cascade stopped early, saying so. A training's folder holds no program: the error says what
        the folder is and what to run instead of ``verb``."""
        if not self.has_programs:
            what = TRAINED.get(self.kind, f"a {self.kind} run")
            model = " (its trained network is model.zip, a Stable-Baselines3 model)" if (
                self.path / "model.zip").is_file() else ""
            raise RunStoreError(f"run {self.name} is {what}{model}: it holds no program to {verb}",
                                f"`promptpo show {self.name}` shows its learning curve; give a promptpo run to {verb}")
        if candidate_id is not None:
            return Pick(self.candidate(candidate_id))
        facts = self.facts
        if facts.best is not None:
            return Pick(self.candidate(facts.best))
        if facts.best_stopped is not None:
            record = self.candidate(facts.best_stopped)
            return Pick(record, f"run {self.name} has no fully evaluated candidate: {record['id']} is the best of "
                                f"those the cascade stopped early ({score_text(record)})")
        outcomes = ", ".join(sorted({str(r.get("outcome")) for r in self.candidates})) or "no candidates"
        raise RunStoreError(f"run {self.name} has no candidate that was scored ({outcomes})",
                            "name one explicitly, or see `promptpo audit` for why none ran")


def open_runs(paths: list[Path], read: Callable[[RunFolder], object] | None = None
              ) -> tuple[list[RunFolder], dict[Path, RunStoreError]]:
    """Each folder of ``paths`` opened (and ``read``: what the caller derives of it, such as its facts), in their
    order, and apart, each that could not be, with why: one unreadable folder never hides the others. The callers word
    why."""
    runs: list[RunFolder] = []
    unreadable: dict[Path, RunStoreError] = {}
    for path in paths:
        try:
            run = RunFolder(path)
            if read is not None:
                read(run)
        except RunStoreError as err:
            unreadable[path] = err
            continue
        runs.append(run)
    return runs, unreadable
