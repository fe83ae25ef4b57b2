"""`promptpo prompt ENV`: the round-0 prompt exactly as a run would send it, its size, and what a run costs."""

from __future__ import annotations

import click

from promptpo.commands.common import setup_logging

ANSWER_TOKENS = 1500
"""Output tokens assumed per answer for the cost estimate (a plan and a program of ~100-200 lines)."""


@click.command("prompt")
@click.argument("env")
@click.option("--candidate", type=int, default=1, show_default=True, help="Which candidate of round 0 (1, 2, ...).")
@click.option("--show-spec", is_flag=True, help="Print only the environment section (what the spec builder made).")
def prompt(env: str, candidate: int, show_spec: bool, **options) -> None:
    """Print the round-0 prompt for ENV as `optimize ENV` with the same options would send it (the library's
    examples included: the first --model prices the estimate), with its token count and, for a priced --model,
    the estimated cost of a run. Nothing is sent."""
    setup_logging(False)
    from promptpo.commands.options import run_config
    from promptpo.policy.config import OptimizeConfig
    from promptpo.envs import load_spec
    from promptpo.errors import ConfigError
    from promptpo.policy.library import for_run
    from promptpo.llm import tokens
    from promptpo.prompting import render
    from promptpo.policy.task import policy_prompts

    config = run_config(OptimizeConfig, env, options).validate()
    if not 1 <= candidate <= config.candidates:
        raise ConfigError(f"--candidate must be between 1 and --candidates ({config.candidates}), got {candidate}")
    model = config.model.split(",")[0].rsplit("@", 1)[0] if config.model else None
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
    size = tokens.count_messages(messages)
    chars = sum(len(m.content) for m in messages)
    err = click.get_text_stream("stderr")
    click.echo(f"# {chars:,} characters, {size:,} prompt tokens ({tokens.method()})", file=err)
    click.echo("# " + estimate(model, size, config), file=err)


def _run_options() -> None:
    """`prompt` takes every option of `optimize`: each one that shapes the first prompt (--episodes, --cascade,
    --target, --edit, budgets, --tune-constants, --act-timeout, ...) changes it as in a run (it took only a few,
    so a run with --episodes 10 was shown a prompt promising 5)."""
    from promptpo.commands.optimize import optimize

    own = {p.name for p in prompt.params}
    prompt.params.extend(p for p in optimize.params if p.name not in own)


_run_options()


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
