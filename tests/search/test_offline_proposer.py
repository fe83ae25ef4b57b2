"""promptpo.search.offline in-process: the programs the offline proposer writes and the order it learns in.
(tests/search/test_offline.py runs it through the CLI.)"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from promptpo import gate
from promptpo.candidate import fitness_of, sample_key
from promptpo.envs import load_spec
from promptpo.envspec import ArraySpec, Feature, ObsField, ProgramTemplate
from promptpo.errors import ConfigError
from promptpo.extract import extract
from promptpo.llm.base import GenParams, Message, Request
from promptpo.search.offline import (
    MAX_FEATURES, LinearProgram, OfflineProposer, TemplateProgram, cma_population, features_for,
)


def run(code: str) -> dict:
    """The program's namespace, once the gate has let it through."""
    assert gate.check(code) == [], gate.verdict(gate.check(code))
    scope: dict = {}
    exec(code, scope)  # noqa: S102 - a program the gate accepted, written by the proposer under test
    return scope


def request(call: int = 1) -> Request:
    return Request((Message("user", "(offline)"),), GenParams(), call_index=call)


@pytest.fixture(scope="module")
def cartpole():
    return load_spec("gymnasium/CartPole-v1")


@pytest.fixture(scope="module")
def pendulum():
    return load_spec("gymnasium/Pendulum-v1")


@pytest.mark.parametrize("n, population", [(1, 4), (2, 6), (3, 7), (10, 10), (100, 17)])
def test_cma_population_is_4_plus_3_ln_n(n, population):
    assert cma_population(n) == population


def test_features_are_the_named_observation_elements(cartpole):
    assert features_for(cartpole) == [Feature("cart_position", "obs[0]"), Feature("cart_velocity", "obs[1]"),
                                      Feature("pole_angle", "obs[2]"), Feature("pole_angular_velocity", "obs[3]")]


def test_a_slice_is_one_feature_per_element_and_fields_left_out_of_digests_are_skipped(cartpole):
    spec = dataclasses.replace(cartpole, obs_arrays=[ArraySpec("obs", "float64", (6,))], observation=[
        ObsField("hand", "obs[1:4]", "hand position"), ObsField("old_hand", "obs[4:6]", "last frame", digest=False),
        ObsField("gap", "obs[0]", "gap")])
    assert [(f.name, f.expression) for f in features_for(spec)] == [
        ("hand[0]", "obs[1]"), ("hand[1]", "obs[2]"), ("hand[2]", "obs[3]"), ("gap", "obs[0]")]


def test_the_spec_s_own_features_win(cartpole):
    own = (Feature("angle_x10", "obs[2]", 10.0),)
    spec = dataclasses.replace(cartpole, offline_features=own, obs_arrays=[ArraySpec("image", "uint8", (7, 7, 3))])
    assert features_for(spec) == list(own)


@pytest.mark.parametrize("arrays", [[ArraySpec("image", "uint8", (7, 7))], [ArraySpec("obs", "float64", (2, 2))],
                                    [ArraySpec("obs", "float64", (4,)), ArraySpec("goal", "float64", (2,))]])
def test_observations_other_than_one_flat_box_have_no_feature_map(cartpole, arrays):
    with pytest.raises(ConfigError) as caught:
        features_for(dataclasses.replace(cartpole, obs_arrays=arrays))
    assert caught.value.message == "the offline proposer has no feature map for gymnasium/CartPole-v1"
    assert "use an LLM with --model" in caught.value.hint


@pytest.mark.parametrize("size", [0, MAX_FEATURES + 1])
def test_too_few_or_too_many_features_are_a_config_error(cartpole, size):
    fields = [ObsField("all", f"obs[0:{size}]", "everything")] if size else [ObsField("x", "obs[0]", "x", digest=False)]
    spec = dataclasses.replace(cartpole, observation=fields, obs_arrays=[ArraySpec("obs", "float64", (max(size, 1),))])
    with pytest.raises(ConfigError, match=f"needs 1 to {MAX_FEATURES} named observation features for gymnasium/"):
        features_for(spec)


def test_a_discrete_action_is_the_argmax_of_one_affine_score_per_action(cartpole):
    program = LinearProgram(cartpole)
    assert (program.outputs, program.size) == (2, 10)
    params = np.array([0, 0, 0, 0, 1, 2, 3, 4, 0, 0.5])  # W rows, then B: score 0 is 0, score 1 is obs @ [1 2 3 4] + 0.5
    code = program.render(params, "a test")
    assert "offline proposer (CMA-ES, no LLM): a test." in code and "# pole_angle" in code
    act = run(code)["act"]
    assert act(np.array([0.0, 0.0, 0.0, 0.0])) == 1 and act(np.array([-1.0, 0.0, 0.0, 0.0])) == 0
    assert isinstance(act(np.zeros(4)), int)


def test_a_box_action_is_clipped_to_the_bounds_and_shaped(pendulum):
    program = LinearProgram(pendulum)
    assert (program.outputs, program.size) == (1, 4)
    act = run(program.render(np.array([10.0, 0.0, 0.0, 0.25]), "box"))["act"]
    assert act(np.array([1.0, 0.0, 0.0])).tolist() == [2.0]  # 10.25 clipped to high
    assert act(np.array([-1.0, 0.0, 0.0])).tolist() == [-2.0]
    assert act(np.array([0.0, 0.0, 0.0])).tolist() == [0.25] and act(np.zeros(3)).shape == (1,)


def test_a_feature_s_scale_multiplies_it_in_the_program(pendulum):
    spec = dataclasses.replace(pendulum, offline_features=(Feature("speed", "obs[2]", 0.125),))
    code = LinearProgram(spec).render(np.array([1.0, 0.0]), "scaled")
    assert "obs[2] * 0.125,  # speed" in code
    assert run(code)["act"](np.array([0.0, 0.0, 8.0])).tolist() == [1.0]


def test_a_template_s_constants_are_start_plus_scale_times_z():
    template = ProgramTemplate('"""{note}"""\n\nGAIN = {GAIN}\nOFFSET = {OFFSET}\n\n\ndef act(obs):\n'
                               '    return GAIN * obs[0] + OFFSET\n', (("GAIN", 1.0, 10.0), ("OFFSET", 0.5, 0.1)))
    program = TemplateProgram(template)
    assert program.size == 2
    code = program.render(np.array([0.25, -2.0]), "generation 3")
    assert code.startswith('"""generation 3"""') and "GAIN = 3.5\n" in code and "OFFSET = 0.3\n" in code
    assert run(code)["act"]([2.0]) == pytest.approx(7.3)


def test_the_meta_world_template_renders_a_program_the_gate_accepts():
    spec = load_spec("metaworld/reach")
    program = TemplateProgram(spec.offline_template)
    code = program.render(np.linspace(-1, 1, program.size), "generation 0, sample 1 of 9")
    assert "generation 0, sample 1 of 9" in code
    assert gate.check(code) == []
    assert extract(f"```python\n{code}```\n").ok


def test_an_unbound_proposer_is_a_config_error():
    with pytest.raises(ConfigError, match="the offline proposer was not bound to an environment"):
        OfflineProposer().complete(request())


def test_the_proposer_is_declared_no_model_and_asked_in_order():
    proposer = OfflineProposer()
    assert not proposer.uses_prompts and not proposer.concurrent and proposer.label == "offline (CMA-ES)"
    assert proposer.header() == "" and repr(proposer) == "OfflineProposer(generation=-1)"


def test_the_population_is_the_larger_of_candidates_and_cma_s_default(cartpole):
    small, large = OfflineProposer(), OfflineProposer()
    small.bind(cartpole, seed=0, popsize=2)
    large.bind(cartpole, seed=0, popsize=12)
    assert small.popsize == 10 and large.popsize == 12
    assert small.header() == ("10 candidates a round, one CMA-ES generation (CMA-ES's default population for 10 "
                              "parameters; --candidates 2 is raised to it)")
    assert large.header() == "12 candidates a round, one CMA-ES generation (--candidates)"


def test_a_spec_template_is_searched_before_the_affine_map(cartpole):
    template = ProgramTemplate('"""{note}"""\n\n\ndef act(obs):\n    return int(obs[2] > {T})\n', (("T", 0.0, 0.1),))
    proposer = OfflineProposer()
    proposer.bind(dataclasses.replace(cartpole, offline_template=template), seed=0, popsize=1)
    assert isinstance(proposer.program, TemplateProgram) and proposer.popsize == cma_population(1)
    given = ProgramTemplate('"""{note}"""\n\n\ndef act(obs):\n    return {A}\n', (("A", 0.0, 1.0), ("B", 0.0, 1.0)))
    proposer.bind(cartpole, seed=0, popsize=1, template=given)  # a schedule's template wins over the spec's
    assert proposer.program.template is given


def test_each_call_is_the_next_sample_of_the_generation_as_a_program(cartpole):
    proposer = OfflineProposer()
    proposer.bind(cartpole, seed=3, popsize=2)
    answers = [proposer.complete(request(k)) for k in range(1, 11)]
    assert proposer.generation == 0
    assert [f"generation 0, sample {k} of 10" in a.text for k, a in zip(range(1, 11), answers)] == [True] * 10
    assert all(a.model == "offline (CMA-ES)" for a in answers)
    for answer in answers:
        extracted = extract(answer.text)
        assert extracted.ok, extracted.message
        run(extracted.code)
    assert len({a.text.split("W = ")[1] for a in answers}) == 10  # ten different samples
    assert "generation 1, sample 1 of 10" in proposer.complete(request(11)).text


def test_the_next_generation_learns_from_the_observed_keys_in_the_order_asked_unscored_last(cartpole, monkeypatch):
    proposer = OfflineProposer()
    proposer.bind(cartpole, seed=0, popsize=2)
    for k in range(10):
        proposer.complete(request(k + 1))
    asked = list(proposer.asked)
    told = []
    monkeypatch.setattr(proposer.strategy, "tell", lambda solutions, fitness: told.append((solutions, fitness)))
    keys = [(1, 0.0, 0.0, 5.0), (1, 0.0, 0.0, 9.0), sample_key(None), (1, 0.0, 0.0, 5.0)]
    for key in keys:
        proposer.observe(key)
    proposer.complete(request(11))
    ((solutions, fitness),) = told
    assert all(a is s for a, s in zip(asked, solutions)) and len(solutions) == 10
    assert fitness == fitness_of(keys + [sample_key(None)] * 6)
    assert fitness[:4] == [1.0, 0.0, 2.0, 1.0] and fitness[4:] == [2.0] * 6  # 9 best; unscored last, tied
    assert proposer.scores == [] and proposer.generation == 1 and len(proposer.pending) == 9


def test_the_same_seed_proposes_the_same_programs(cartpole):
    def first_three(seed: int) -> list[str]:
        proposer = OfflineProposer()
        proposer.bind(cartpole, seed=seed, popsize=2)
        return [proposer.complete(request(k)).text for k in (1, 2, 3)]

    assert first_three(5) == first_three(5) != first_three(6)
