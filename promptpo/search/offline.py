"""The offline proposer (``--model offline``): no LLM, CMA-ES over the constants of a program
whose structure comes from the environment spec.

Each candidate is an ordinary, auditable Python program: the spec's own program template with
named constants (Meta-World), or named features read from the observation followed by an affine
map to the action (clipped to the bounds) or to one score per discrete action (argmax). CMA-ES (the ``cma`` package) searches the weights; one round is one
CMA-ES generation, and every sample goes through the same sandbox, evaluation and records as
an LLM's answer.
"""

from __future__ import annotations

import logging
import numpy as np

from promptpo.candidate import fitness_of, sample_key
from promptpo.envspec import EnvSpec, Feature, ProgramTemplate
from promptpo.errors import ConfigError
from promptpo.llm.base import Backend, Completion, Request

log = logging.getLogger(__name__)

MAX_FEATURES = 24


def cma_population(dimensions: int) -> int:
    """CMA-ES's default population for a search over ``dimensions`` parameters: 4 + 3 ln n."""
    return 4 + int(3 * np.log(dimensions))


def features_for(spec: EnvSpec) -> list[Feature]:
    if spec.offline_features:
        return list(spec.offline_features)
    if len(spec.obs_arrays) != 1 or spec.obs_arrays[0].name != "obs" or len(spec.obs_arrays[0].shape) != 1:
        raise ConfigError(f"the offline proposer has no feature map for {spec.id}",
                          "it handles flat Box observations (and Meta-World); use an LLM with --model")
    found = []
    for field in spec.observation:
        if not field.digest:
            continue
        index = field.index
        if ":" in index:  # a slice: one feature per element
            start, stop = (int(v) for v in index[index.index("[") + 1:index.index("]")].split(":"))
            found += [Feature(f"{field.name}[{i - start}]", f"obs[{i}]") for i in range(start, stop)]
        else:
            found.append(Feature(field.name, index))
    if not found or len(found) > MAX_FEATURES:
        raise ConfigError(f"the offline proposer needs 1 to {MAX_FEATURES} named observation features for {spec.id}",
                          "use an LLM with --model")
    return found


class LinearProgram:
    """The program template: parameters -> source code."""

    def __init__(self, spec: EnvSpec):
        self.spec = spec
        self.features = features_for(spec)
        action = spec.action
        self.outputs = action.n if action.kind == "discrete" else int(np.prod(action.shape))
        self.size = self.outputs * (len(self.features) + 1)

    def render(self, params: np.ndarray, note: str) -> str:
        weights = params[: self.outputs * len(self.features)].reshape(self.outputs, len(self.features))
        bias = params[self.outputs * len(self.features):]
        rows = ",\n".join("    [" + ", ".join(f"{w:.4g}" for w in row) + "]" for row in weights)
        feats = ",\n".join(f"        {f.expression}{'' if f.scale == 1 else f' * {f.scale:g}'},  # {f.name}"
                           for f in self.features)
        head = (f'"""Affine policy from the promptpo offline proposer (CMA-ES, no LLM): {note}.\n\n'
                f'Features: {", ".join(f.name for f in self.features)}."""\n\nimport numpy as np\n\n'
                f"W = np.array([\n{rows},\n])\nB = np.array([{', '.join(f'{b:.4g}' for b in bias)}])\n\n\n"
                f"def features(obs):\n    return np.array([\n{feats}\n    ])\n\n\n")
        action = self.spec.action
        if action.kind == "discrete":
            body = "def act(obs):\n    scores = W @ features(obs) + B\n    return int(np.argmax(scores))\n"
        else:
            body = (f"LOW = np.array({list(action.low)})\nHIGH = np.array({list(action.high)})\n\n\n"
                    f"def act(obs):\n    return np.clip(W @ features(obs) + B, LOW, HIGH).reshape({action.shape})\n")
        return head + body


class TemplateProgram:
    """A program template (from the spec, or a schedule's) whose named constants are searched."""

    def __init__(self, template: ProgramTemplate):
        self.template = template
        self.size = len(self.template.constants)

    def render(self, params: np.ndarray, note: str) -> str:
        values = {name: f"{start + scale * z:.4g}" for (name, start, scale), z in zip(self.template.constants, params)}
        return self.template.source.format(note=note, **values)


class OfflineProposer(Backend):
    """Answers each 'call' with the next CMA-ES sample rendered as a program; learns from scores. It stands where a
    model backend stands (the engine's Backend seam) but is no model: chosen by promptpo.search.make_proposer, not
    by the llm package's registry."""

    name = "offline"
    uses_prompts = False
    concurrent = False  # the samples are handed out in the order they are asked for

    def __init__(self) -> None:
        super().__init__("offline")
        self.program: LinearProgram | TemplateProgram | None = None
        self.strategy = None
        self.pending: list[np.ndarray] = []
        self.asked: list[np.ndarray] = []
        self.scores: list[tuple] = []
        self.generation = -1
        self.requested = self.default = 0
        """The population --candidates asked for, and CMA-ES's own for the program (set by bind)."""

    @property
    def label(self) -> str:
        return "offline (CMA-ES)"

    def bind(self, spec: EnvSpec, seed: int, popsize: int, template: ProgramTemplate | None = None) -> None:
        """Search ``template`` (default: the spec's template, else an affine map over its features)."""
        import cma

        template = template or spec.offline_template
        self.program = TemplateProgram(template) if template else LinearProgram(spec)
        self.requested, self.default = popsize, cma_population(self.program.size)
        self.strategy = cma.CMAEvolutionStrategy(np.zeros(self.program.size), 0.5,
                                                 {"popsize": max(self.default, popsize), "seed": seed + 1, "verbose": -9})

    @property
    def popsize(self) -> int:
        return self.strategy.popsize

    def header(self) -> str:
        """The population a round samples, said in the run's header: --candidates, or CMA-ES's default population
        for the program's parameters (4 + 3 ln n) when that is larger."""
        if self.strategy is None:
            return ""
        why = (f"CMA-ES's default population for {self.program.size} parameters; --candidates {self.requested} is "
               "raised to it" if self.requested < self.default else "--candidates")
        return f"{self.popsize} candidates a round, one CMA-ES generation ({why})"

    def complete(self, request: Request) -> Completion:
        if self.strategy is None:
            raise ConfigError("the offline proposer was not bound to an environment")
        if not self.pending:
            self._next_generation()
        params = self.pending.pop(0)
        sample = self.popsize - len(self.pending)
        code = self.program.render(params, f"generation {self.generation}, sample {sample} of {self.popsize}")
        return Completion(text=f"```python\n{code}```\n", model=self.label)

    def _next_generation(self) -> None:
        if self.asked:
            keys = self.scores + [sample_key(None)] * (len(self.asked) - len(self.scores))  # unscored rank last
            self.strategy.tell(self.asked, fitness_of(keys))
        self.asked = self.strategy.ask()
        self.pending = list(self.asked)
        self.scores = []
        self.generation += 1

    def observe(self, key: tuple) -> None:
        """How the sample just evaluated ranks (promptpo.candidate.sample_key)."""
        self.scores.append(key)

    def __repr__(self) -> str:
        return f"OfflineProposer(generation={self.generation})"
