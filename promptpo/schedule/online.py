"""Online mode (`promptpo schedule --online`): one PPO training; every ``interval`` env steps the model
answers with new hyperparameter values as JSON, which are validated, clipped to the bounds and applied.

The one run that is not round-based: it replaces the engine's rounds with its training, and asks
through its RunContext, so the engine keeps its calls, budgets, records and resume the same as everywhere
(the training's env steps are counted as spent outside an evaluation).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from promptpo.candidate import Candidate
from promptpo.engine.context import RunContext
from promptpo.extract import MAX_ANSWER_CHARS, fenced_blocks, json_value
from promptpo.prompting import Prompt, render
from promptpo.schedule.task import ScheduleTask, bounds_text
from promptpo.schedule.steering import apply, training_metrics, validate

def parse_decision(text: str) -> tuple[Any, str | None]:
    """The JSON object in an online answer (its first json or untagged fenced block holding one, else the text from
    its first ``{`` to its last ``}``), or (None, why it is unusable). Linear in the answer's length."""
    fenced = [body.strip() for lang, body in fenced_blocks(text[:MAX_ANSWER_CHARS]) if lang in ("json", "")]
    body = next((b for b in fenced if b.startswith("{") and b.endswith("}")), None)
    if body is None:
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end < start:
            return None, "the answer holds no JSON object"
        body = text[start:end + 1]
    return json_value(body)


class OnlineTask(ScheduleTask):
    name = "online"

    def drive(self, run: RunContext) -> None:
        from stable_baselines3.common.callbacks import BaseCallback

        run.check_budgets(llm=False)  # the one training must fit the env-step budget
        task, trainer, config = self, self.trainer(), self.config
        self.decisions: list[dict] = []
        self.curve = trainer.curve  # grows as training evaluates: the history shows what followed each decision
        self.decide(run, trainer.model, 0.0)  # the model has its say before the first step, too

        class Online(BaseCallback):
            def __init__(self) -> None:
                super().__init__()
                self.next = config.interval

            def _on_step(self) -> bool:
                if self.num_timesteps >= self.next:
                    self.next += config.interval
                    task.decide(run, self.model, min(1.0, self.num_timesteps / config.steps))
                return True

        progress = run.progress_reporter("training")
        try:
            trainer.learn(config.steps, config.grid(self.hp), callbacks=(Online(),),
                          on_steps=lambda n: progress(n),
                          on_point=lambda p, _: progress(p.env_steps, f"eval return {p.mean_return:.1f}"))
        finally:
            trainer.close()
            run.spent(int(trainer.model.num_timesteps))
            self.curve = trainer.curve
            run.write_text("curve.jsonl", "".join(json.dumps(asdict(p)) + "\n" for p in self.curve))

    def decide(self, run: RunContext, model: Any, progress: float) -> None:
        metrics = training_metrics(model, progress)
        history = self.history(int(model.num_timesteps))
        user = render("online.j2", **self.context(), history=history or ["(no decision yet)"], metrics=metrics,
                      metrics_json=json.dumps(metrics, indent=1), interval=self.config.interval,
                      bounds=bounds_text())
        run.in_flight(int(model.num_timesteps))
        completion, _, answered = run.ask(Prompt("online", self.prompts.messages(user, system="online_system")), 0)
        decision, problem = parse_decision(completion.text)
        if problem is None and not isinstance(decision, dict):
            problem = "the answer is not a JSON object"
        applied, refused = validate(decision, clip=True) if problem is None else ({}, [problem])
        apply(model, applied)
        note = (f"set {applied}" if applied else "kept the current values") + (f" ({'; '.join(refused)})" if refused else "")
        record = {"env_steps": int(model.num_timesteps), "progress": round(progress, 4), "answer": decision,
                  "applied": applied, "refused": refused, "note": note}
        self.decisions.append(record)
        if not answered:  # a resumed run replays decisions it already logged
            run.event("online_decision", **record)

    def history(self, now: int, last: int = 10) -> list[str]:
        """The latest decisions, each with the evaluation returns measured after it (until the next one)."""
        marks = [d["env_steps"] for d in self.decisions] + [now + 1]
        lines = []
        for i, d in enumerate(self.decisions):
            seen = [p for p in self.curve if marks[i] <= p.env_steps < marks[i + 1]]
            after = ("; evaluations since: " + ", ".join(f"{p.env_steps} steps: return {p.mean_return:.1f}"
                                                         for p in seen)) if seen else "; no evaluation since"
            lines.append(f"at {d['env_steps']} steps: {d['note']}{after}")
        return lines[-last:]

    def planned_steps(self) -> int | None:
        return self.config.steps

    def reached(self, best: Candidate | None) -> bool:
        return False

    def summary_fields(self, best: Candidate | None) -> dict:
        last = self.curve[-1] if self.curve else None
        return {"method": self.method, "seed": self.config.seed,
                "best_score": last.mean_return if last else None,
                "best_success_rate": last.success_rate if last else None,
                "final_return": last.mean_return if last else None,
                "final_success_rate": last.success_rate if last else None}
