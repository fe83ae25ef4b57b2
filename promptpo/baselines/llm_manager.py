"""``--manager llm``: an LLM backend plays the hierarchical search's manager (promptpo.baselines.hrl).

Each activation it is shown the workers, the regions, the trials so far with their HyperScores, and
answers with a JSON choice ``{"worker": ..., "region": ...}``. Every call is recorded in the run
folder's llm/ like a policy run's (prompt, answer, tokens); an answer that names no known worker and
region is recorded too (a ``manager_fallback`` event saying why) and the learned manager's choice is
used instead.
"""

from __future__ import annotations

import re

from promptpo.baselines.hrl import WORKERS, State
from promptpo.baselines.regions import Region
from promptpo.baselines.hyperparams import Hyperparams
from promptpo.engine.store import RunStore
from promptpo.llm.base import FREE_BACKENDS, Backend, GenParams, Message, Request
from promptpo.extract import json_value
from promptpo.prompting import render
from promptpo.text import clean

TRIALS_SHOWN = 40
JSON_OBJECT = re.compile(r"\{[^{}]*\}")


def parse(text: str, regions: int) -> tuple[int, int] | str:
    """(worker index, region index) from an answer, or why it is unusable."""
    for match in reversed(JSON_OBJECT.findall(text[:20_000])):
        choice, problem = json_value(match)
        if problem is not None or not isinstance(choice, dict):
            continue
        worker, region = choice.get("worker"), choice.get("region")
        if worker not in WORKERS:
            return f"worker {clean(worker, 40)!r} is not one of {', '.join(WORKERS)}"
        if type(region) is not int or not 0 <= region < regions:
            return f"region {clean(region, 40)!r} is not an index from 0 to {regions - 1}"
        return WORKERS.index(worker), region
    return "the answer holds no JSON object"


class LLMManager:
    """Called like the hrl search's ``chooser``: (state, fallback choice) -> (worker, region, who)."""

    def __init__(self, backend: Backend, params: GenParams, config, record, hp: Hyperparams, regions: list[Region]):
        self.backend, self.params, self.config, self.record = backend, params, config, record
        self.hp, self.regions = hp, regions
        self.calls = 0
        self.usage = {"llm_calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "cost_usd": 0.0}
        """What its calls took, for the run's summary (as a policy run counts them)."""
        (record.store.root / "llm").mkdir(exist_ok=True)

    def prompt(self, state: State) -> str:
        fit = (f"beta {state.fit.beta:.3g}, gamma {state.fit.gamma:.3g}, kappa {state.fit.kappa:.3g}, fitted on "
               f"{state.fit.trials} trials" if state.fit.trials else "default beta, gamma, kappa until enough trials "
               "have run to fit them")
        trials = [{**t.__dict__, "params_text": ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}"
                                                          for k, v in t.params.items())}
                  for t in state.trials[-TRIALS_SHOWN:]]
        return render("hrl_manager.j2", env=self.record.spec.id, per_activation=self.config.trials_per_activation,
                      trial_steps=self.config.search.trial_steps, spent=self.record.spent,
                      budget=self.config.search.steps,
                      regions=[(r.index, r.describe(self.hp)) for r in self.regions], fit=fit, trials=trials,
                      shown_all=len(trials) == len(state.trials))

    def _count(self, completion) -> None:
        u = self.usage
        u["llm_calls"] += 1
        u["prompt_tokens"] += completion.prompt_tokens
        u["completion_tokens"] += completion.completion_tokens
        if completion.cost_usd is not None and u["cost_usd"] is not None:
            u["cost_usd"] = round(u["cost_usd"] + completion.cost_usd, 6)
        elif completion.cost_usd is None and self.backend.name not in FREE_BACKENDS:
            u["cost_usd"] = None  # a paid backend that did not say what a call cost: unknown, not 0

    def __call__(self, state: State, fallback: tuple[int, int]) -> tuple[int, int, str]:
        store: RunStore = self.record.store
        self.calls += 1
        messages = (Message("user", self.prompt(state)),)
        path = store.record_prompt(self.calls, "manager", [{"role": m.role, "content": m.content} for m in messages])
        request = Request(messages, self.params, self.calls, path, store.response_path(self.calls))
        completion = self.backend.complete(request)
        completion.text = clean(completion.text)
        store.record_response(self.calls, completion, {"call": self.calls, "prompt": "manager"})
        store.event("llm_response", call=self.calls, prompt_tokens=completion.prompt_tokens,
                    completion_tokens=completion.completion_tokens, cost_usd=completion.cost_usd)
        self._count(completion)
        choice = parse(completion.text, len(self.regions))
        if isinstance(choice, str):
            store.event("manager_fallback", call=self.calls, reason=choice, answer=completion.text[:300],
                        worker=WORKERS[fallback[0]], region=fallback[1])
            return fallback[0], fallback[1], "fallback"
        return choice[0], choice[1], "llm"
