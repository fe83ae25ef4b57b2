"""`promptpo play`: run a recorded policy in the sandbox on the real environment, optionally on video."""

from __future__ import annotations

from pathlib import Path

import click

from promptpo.commands.common import OUT, console, setup_logging


@click.command()
@click.argument("run")
@click.argument("candidate", required=False)
@click.option("--episodes", type=int, default=3, show_default=True, help="Episodes to play.")
@click.option("--seed", type=int, default=None,
              help="Seed of the episodes (default: fresh ones, from the stream `verify` uses).")
@click.option("--video", type=click.Path(path_type=Path), default=None, help="Write the episodes to a .gif or .mp4.")
@click.option("--sandbox", default="process", show_default=True, help="Isolation backend: process or docker.")
@click.option("--full-episodes", is_flag=True, help="Run the episodes to their end even where the run ended them at "
              "their first success (Meta-World), as `verify --full-episodes`.")
@OUT
def play(run: str, candidate: str | None, episodes: int, seed: int | None, video: Path | None, sandbox: str,
         full_episodes: bool, out: Path) -> None:
    """Run CANDIDATE (default: the best) of RUN in the sandbox and print each episode's return and success."""
    from rich.table import Table

    from promptpo.records import RunFolder
    from promptpo.policy.play import play as run_play
    from promptpo.text import shown

    from promptpo.commands.verify import _chosen

    setup_logging(False)
    screen = console()
    folder = RunFolder.find(run, out)
    from promptpo.finetune.policy import is_finetuned

    if is_finetuned(folder):
        _play_finetuned(folder, episodes, seed, video, sandbox)
        return
    candidate = _chosen(folder, candidate, "play")
    with console(stderr=True).status("playing in the sandbox..."):
        played = run_play(folder, candidate, episodes, seed, video, sandbox, full_episodes)
    ev = played.evaluation
    screen.print("episodes: " + ("ended at their first success, as in the run (--full-episodes runs them to their end)"
                                 if played.end_at_success else "ran to their end (--full-episodes)" if full_episodes
                                 else "ran to their end, as in the run"), markup=False)
    table = Table(title=f"{played.candidate} on {played.env}")
    for name in ("episode", "seed", "return", "steps", "success"):
        table.add_column(name, justify="right")
    for e in ev.episodes:
        table.add_row(str(e.index), str(e.seed), f"{e.episode_return:.2f}", str(e.length),
                      "-" if e.success is None else ("yes" if e.success else "no"))
    screen.print(table)
    screen.print(shown(f"gate: {played.gate}"))
    if not ev.ok:
        screen.print(shown(f"the policy stopped: {ev.outcome}: {ev.problem}"))
    summary = f"mean return {ev.mean_return:.2f}" if ev.mean_return is not None else "no episode completed"
    if ev.success_rate is not None:
        summary += f", success rate {ev.success_rate:.2f}"
    screen.print(summary, highlight=False)
    if played.video is not None:
        print(f"wrote {played.video} ({played.frames} frames: {played.kept})")


def _play_finetuned(folder, episodes: int, seed: int | None, video: Path | None, sandbox: str) -> None:
    """A fine-tuned run's result (base sandboxed, learner here) on fresh episodes."""
    from rich.table import Table

    from promptpo.errors import ConfigError
    from promptpo.finetune.policy import replay, seed_of
    from promptpo.policy.play import VIDEO_SUFFIXES
    from promptpo.text import shown

    if episodes < 1:
        raise ConfigError(f"--episodes must be at least 1 (got {episodes})")
    if video is not None and video.suffix.lower() not in VIDEO_SUFFIXES:
        raise ConfigError(f"cannot write a video to {video}", "use a .gif or .mp4 path")
    seed = seed if seed is not None else seed_of(folder) + 1
    with console(stderr=True).status("playing (the base in the sandbox)..."):
        result = replay(folder, episodes, seed, sandbox, video)
    table = Table(title=shown(f"{folder.name} ({folder.meta.get('method')}) on {folder.meta.get('env')}"))
    for name in ("episode", "seed", "return", "steps", "success"):
        table.add_column(name, justify="right")
    successes = result.get("successes") or [None] * episodes
    for i, (ret, steps, s, success) in enumerate(zip(result["returns"], result["lengths"], result["episode_seeds"],
                                                      successes)):
        table.add_row(str(i), str(s), f"{ret:.2f}", str(steps), "-" if success is None else ("yes" if success else "no"))
    screen = console()
    screen.print(table)
    screen.print(f"mean return {result['mean_return']:.2f}", highlight=False)
    if "video" in result:
        print(f"wrote {result['video']}")
