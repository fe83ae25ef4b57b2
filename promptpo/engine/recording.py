"""The engine's records of candidates: saved to the run folder when they finish, taken into the run in slot order.

A candidate is *saved* the moment it is finished (its answer read and its evaluation done, in whichever thread
did it): candidates/<id>.{py,json}, the counters (env steps, episodes, candidates), the best and best.py, and
summary.json. So Ctrl-C, SIGTERM or a kill loses no finished evaluation, and every view of the folder sees it at
once. It is *taken in* — history (what the next prompts see), its ``candidate`` event, what a proposer or a
mixture learns from it, the task kind's ``recorded`` hook — in the main thread, in slot order, when its wave
ends. Ids are given in slot order when calls are sent, and the best is the first (by round and index) of the
highest rank key whatever finished first, so the run folder never depends on which evaluation ended first.
"""

from __future__ import annotations

from promptpo.candidate import Candidate, CandidateKind, candidate_id, sample_key
from promptpo.records.liveness import this_process
from promptpo.engine.wave import Pending
from promptpo.extract import Extracted, analysis
from promptpo.outcome import Outcome

KINDS = {"first": CandidateKind.INITIAL, "refine": CandidateKind.REFINE, "repair": CandidateKind.REPAIR,
         "proposal": CandidateKind.OFFLINE}
"""Prompt kind -> the kind of candidate its answer becomes."""
ANSWER_SHOWN = 3000
"""Characters of an answer without a readable program that its repair prompt shows."""
SAMPLES = "tuning"
"""Folder of the run holding each tuning sample's evaluation (tuning/<evaluation key>.json)."""


def first_of_best(candidate: Candidate, best: Candidate | None) -> bool:
    """Whether ``candidate`` is the run's best next to ``best``: a higher rank key, or the same one and made
    earlier (the best a run that recorded one candidate at a time would have kept)."""
    if not candidate.complete:
        return False
    if best is None:
        return True
    mine, theirs = candidate.rank_key(), best.rank_key()
    return mine > theirs or (mine == theirs and (candidate.round, candidate.index) < (best.round, best.index))


class Recording:
    """Mixed into the Engine: reads ``task``, ``config``, ``store``, ``state``, ``backend``, ``replay`` and
    ``lock``; keeps ``history``."""

    def _init_recording(self) -> None:
        self.history: list[Candidate] = []
        self._next_index: dict[int, int] = {}
        self.saving = True
        """False once the run is stopping: evaluations still in flight are not saved (resume redoes them)."""
        self.taken_best: Candidate | None = None
        """The best among candidates taken in so far (what a candidate event's ``best`` compares with)."""
        self.untaken_steps, self.untaken_episodes = 0, 0
        """Env steps and episodes of candidates saved but not taken in yet."""

    def new_slot(self, round_: int) -> tuple[str, int]:
        """The id and index of the next candidate of ``round_``."""
        index = self._next_index.get(round_, 0)
        self._next_index[round_] = index + 1
        return candidate_id(round_, index), index

    @property
    def steps_taken(self) -> int:
        """Env steps spent up to the candidates taken in so far (in slot order), tuning included."""
        return self.state.env_steps - self.untaken_steps

    # -- a wave's slots ------------------------------------------------------------------
    def save_slot(self, pending: Pending) -> Candidate | None:
        """Save a finished slot's candidate (any thread; once). Nothing once the run is stopping."""
        with self.lock:
            if not self.saving or pending.candidate is not None:
                return pending.candidate
            self.release(pending)
            if pending.completion is None:
                return None
            prompt = pending.prompt
            extracted = pending.extracted or self.read(pending)
            candidate = Candidate(pending.id, pending.round_, pending.index, KINDS[prompt.kind], prompt.parent,
                                  pending.call, extracted)
            if candidate.outcome in (Outcome.NO_CODE, Outcome.BAD_EDIT):
                candidate.answer = pending.completion.text[:ANSWER_SHOWN]
            elif self.uses_prompts:
                candidate.analysis = analysis(pending.completion.text)
            candidate.evaluation = pending.result  # None: a budget, or the run's target, stopped its evaluation
            if pending.result is None and pending.stop is not None:
                candidate.skipped = pending.stop.reason
            self.save(candidate)  # first: a write that fails (disk full) counts nothing; it is tried again
            pending.candidate = candidate  # saved: from here on it is counted once, whatever fails next
            if pending.result is not None:
                self._count(pending.result)
                self.untaken_steps += pending.result.env_steps
                self.untaken_episodes += pending.result.episodes_run
            self.count_saved(candidate)
            return candidate

    def stop_saving(self) -> None:
        """The run is stopping (Ctrl-C, SIGTERM, a fault): what is still evaluating is not saved."""
        with self.lock:
            self.saving = False

    def take_in_slot(self, pending: Pending) -> Candidate | None:
        """Take a saved slot into the run (main thread, slot order; once); None when it made no candidate."""
        self.release(pending)
        if pending.candidate is None or pending.taken:
            return pending.candidate
        pending.taken = True
        result = pending.candidate.evaluation
        if result is not None:
            with self.lock:
                self.untaken_steps -= result.env_steps
                self.untaken_episodes -= result.episodes_run
        self.take_in(pending.candidate)
        return pending.candidate

    # -- one candidate -------------------------------------------------------------------
    def record(self, candidate: Candidate) -> None:
        """Save and take in a candidate made outside a wave (a tuned one)."""
        with self.lock:
            self.save(candidate)
            self.count_saved(candidate)
        self.take_in(candidate)

    def save(self, candidate: Candidate) -> None:
        """candidates/<id>.{py,json} (callers hold the lock); nothing is counted until it is written."""
        self.store.record_candidate(candidate.id, candidate.code, {
            "id": candidate.id, "round": candidate.round, "index": candidate.index, "kind": candidate.kind,
            "parent": candidate.parent, "llm_call": candidate.llm_call, "outcome": candidate.outcome,
            "entry_point": candidate.extracted.entry, "answer_form": candidate.extracted.form,
            "edit_blocks": candidate.extracted.edits, "analysis": candidate.analysis, "error": candidate.error,
            "static_findings": candidate.extracted.findings, "env_steps": candidate.env_steps,
            **self.task.record_fields(candidate)})

    def count_saved(self, candidate: Candidate) -> None:
        """A candidate whose record is written: counted, the best and best.py, and summary.json (callers hold the
        lock and counted its steps)."""
        result = candidate.evaluation
        self.state.candidates += 1
        if first_of_best(candidate, self.state.best):
            self.state.best = candidate
            self.store.write_text("best.py", self.task.best_file(candidate, self.store.root.name))
        self.write_summary()
        self.tell("candidate", f"{candidate.id}: {self.task.score_line(result)}" if candidate.scored
                  else f"{candidate.id}: {candidate.outcome} — {candidate.error.partition(chr(10))[0][:120]}")

    def take_in(self, candidate: Candidate) -> None:
        """History, the candidate's event (one a resumed run replays is not logged twice), what the proposer
        or a mixture learns from it, and the task kind's hook."""
        replayed = self.replay is not None and candidate.id in self.replay.logged
        self.history.append(candidate)
        result = candidate.evaluation
        if candidate.kind == CandidateKind.OFFLINE:  # the proposer learns from every sample
            self.backend.observe(sample_key(result))
        improved = first_of_best(candidate, self.taken_best)
        if improved:
            self.taken_best = candidate
        brought = None
        if self.backend.credited and candidate.llm_call is not None:  # what a mixture's bandit learns from
            brought = self.improved(candidate, improved)
            self.backend.credit(candidate.llm_call, brought)
        if not replayed:
            self.store.event("candidate", id=candidate.id, parent=candidate.parent, kind=candidate.kind,
                             outcome=candidate.outcome, error=candidate.error, env_steps=candidate.env_steps,
                             mean_return=None if result is None else result.mean_return,
                             success_rate=None if result is None else result.success_rate, best=improved,
                             **({} if brought is None else {"improved": brought}),
                             total_env_steps=self.steps_taken,
                             total_episodes=self.state.episodes - self.untaken_episodes)
            if candidate.outcome.is_limit:
                self.store.event("limit_hit", id=candidate.id, outcome=candidate.outcome, message=candidate.error)
        self.task.recorded(self, candidate)

    def save_sample(self, code: str, result) -> None:
        """A tuning sample's evaluation: it makes no candidate (unless it is the phase's winner), but it finished,
        so it is kept (tuning/<key>.json, the same fields as a candidate's record) and resume does not run it
        again."""
        key = self.task.evaluation_key(code)
        sample = Candidate("sample", self.state.round, -1, CandidateKind.TUNED, None, None, Extracted(code, Outcome.OK),
                           result)
        self.store.write_record(f"{SAMPLES}/{key}.json", {"key": key, "outcome": sample.outcome,
                                                          "env_steps": result.env_steps,
                                                          **self.task.record_fields(sample)})

    def improved(self, candidate: Candidate, best_now: bool) -> bool:
        """Whether a candidate brought something: it beat its parent, or (without one) became the best."""
        parent = next((c for c in self.history if c.id == candidate.parent and c.scored), None)
        if parent is None or not candidate.complete:
            return best_now
        return candidate.rank_key() > parent.rank_key()

    # -- the summary ---------------------------------------------------------------------
    def summary(self) -> dict:
        s, best = self.state, self.state.best
        return {
            "run_id": self.store.root.name, "env": self.task.env_id, "model": self.backend.label,
            "status": s.status, "reason": s.reason, "best_candidate": best.id if best else None,
            "target": self.task.target.describe() if self.task.target else None,
            "target_reached": self.task.reached(best),
            "rounds_started": s.round + 1 if s.candidates else 0, "candidates": s.candidates,
            "proposals": s.requests, "env_steps": s.env_steps, "tuning_env_steps": s.tuning_env_steps,
            "tuning_evaluations": s.tuning_evaluations, "episodes": s.episodes, "llm_calls": s.llm_calls,
            "llm_calls_unanswered": s.llm_sent - s.llm_calls,
            "prompt_tokens": s.prompt_tokens, "completion_tokens": s.completion_tokens,
            "tokens_estimated": s.tokens_estimated, "cost_usd": round(s.cost_usd, 6) if s.cost_known else None,
            "wall_time_s": round(s.elapsed, 2),
            **(this_process() if s.status == "running" else {}),  # gone once the run records its end
            **({} if (models := self.backend.summary()) is None else {"models": models}),
            **self.task.summary_fields(best),  # last: a kind may say more precisely what a field means for it
        }

    def write_summary(self) -> None:
        with self.lock:
            self.store.write_json("summary.json", self.summary())
