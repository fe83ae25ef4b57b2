"""`promptpo prompt ENV`: the round-0 prompt exactly as a run would send it, its size, and what a run costs."""

from __future__ import annotations

import click

from promptpo.commands.common import setup_logging

ANSWER_TOKENS = 1500
"""Output tokens assumed per answer for the cost estimate (a plan and a program of ~100-200 lines)."""


@click.command("prompt")
@click.argument("env")
@click.option("--model", default=None, help="Price the estimate for this model (litellm's price table).")
@click.option("--candidate", type=int, default=1, show_default=True, help="Which candidate of round 0 (1, 2, ...).")
@click.option("--rounds", type=int, default=10, show_default=True, help="Rounds of the run to estimate.")
@click.option("--candidates", type=int, default=4, show_default=True, help="Candidates per round of that run.")
@click.option("--show-spec", is_flag=True, help="Print only the environment section (what the spec builder made).")
@click.option("--examples", type=int, default=None, help="Library examples, as `optimize --examples` (default: 2 "
              "when the library has entries that qualify; 0: none).")
@click.option("--examples-same-task", is_flag=True, help="Let the examples include entries of this env id.")
@click.option("--library", default=None, help="Library folder, as `optimize --library`.")
def prompt(env: str, model: str | None, candidate: int, rounds: int, candidates: int, show_spec: bool,
           examples: int | None, examples_same_task: bool, library: str | None) -> None:
    """Print the round-0 prompt for ENV as it would be sent (the library's examples included), with its token
    count and, for a priced --model, the estimated cost of a run. Nothing is sent."""
    setup_logging(False)
    from promptpo.config import OptimizeConfig
    from promptpo.envs import load_spec
    from promptpo.errors import ConfigError
    from promptpo.llm import tokens
    from promptpo.prompting import render
    from promptpo.tasks.policy import policy_prompts

    if not 1 <= candidate <= candidates:
        raise ConfigError(f"--candidate must be between 1 and --candidates ({candidates}), got {candidate}")
    from promptpo.library import for_run

    config = OptimizeConfig(env=env, model=model, rounds=rounds, candidates=candidates, examples=examples,
                            examples_same_task=examples_same_task, library=library).validate()
    spec = load_spec(env)
    config.shown_examples = for_run(config, spec)
    book = policy_prompts(config, spec)
    if show_spec:
        text = render("_spec.j2", **book.context)
        click.echo(text)
        click.echo(f"# {len(text):,} characters, {tokens.count(text):,} tokens ({tokens.method()})", err=True)
        return
    messages = book.first(candidate - 1).messages
    for message in messages:
        click.echo(f"===== {message.role} =====")
        click.echo(message.content)
    size = sum(tokens.count(m.content) + tokens.MESSAGE_OVERHEAD for m in messages)
    chars = sum(len(m.content) for m in messages)
    err = click.get_text_stream("stderr")
    click.echo(f"# {chars:,} characters, {size:,} prompt tokens ({tokens.method()})", file=err)
    click.echo("# " + estimate(model, size, config), file=err)


def estimate(model: str | None, first_tokens: int, config) -> str:
    """The cost of a run: round 0 sends prompts like this one; refinements grow with the history up to the
    prompt budget. A range: every refinement as small as round 0's prompt, or as large as the budget."""
    calls = config.rounds * config.candidates
    low = calls * first_tokens
    high = config.candidates * first_tokens + (calls - config.candidates) * max(first_tokens, config.prompt_budget)
    shape = (f"{config.rounds} rounds x {config.candidates} candidates = {calls} calls, "
             f"{low:,}-{high:,} prompt tokens, ~{ANSWER_TOKENS:,} output tokens per answer assumed")
    if not model:
        return f"a run: {shape} (give --model to price it)"
    from promptpo.llm.provider import price

    name = model.split(":", 1)[1] if model.split(":", 1)[0] in ("openai", "anthropic") else model
    cheap, dear = price(name, low, calls * ANSWER_TOKENS), price(name, high, calls * ANSWER_TOKENS)
    if cheap is None or dear is None:
        return f"a run: {shape}; {model} is not in litellm's price table, so no cost estimate"
    return f"a run with {model}: ${cheap:.2f}-${dear:.2f} ({shape}; repairs not counted)"
