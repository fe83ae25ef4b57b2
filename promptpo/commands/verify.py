"""Commands that take a run's program out of its folder: verify (on episodes the run never saw) and export."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from promptpo.commands.common import OUT, SeedBars, console, eval_text, setup_logging
from promptpo.commands.runs import _folder


@click.command()
@click.argument("run")
@click.argument("candidate", required=False)
@click.option("--episodes", type=int, default=None,
              help="Fresh episodes (default: 100; Meta-World: one per goal of a fresh set of 50).")
@click.option("--seeds", type=int, default=5, show_default=True,
              help="Schedule runs: fresh training seeds, one run folder each (laid out like a PPO baseline's).")
@click.option("--first-seed", type=int, default=None,
              help="Schedule runs: the first fresh seed (default: the one after the run's).")
@click.option("--sandbox", default="process", show_default=True, help="Isolation backend: process or docker.")
@click.option("--full-episodes", is_flag=True, help="Run the fresh episodes to their end even where the run ended "
              "them at their first success (returns are then not compared with the recorded ones).")
@OUT
def verify(run: str, candidate: str | None, episodes: int | None, seeds: int, first_seed: int | None, sandbox: str,
           full_episodes: bool, out: Path) -> None:
    """Re-run CANDIDATE (default: the best) in the sandbox on episodes the run never saw."""
    setup_logging(False)
    from promptpo.errors import ConfigError
    from promptpo.records import headline
    from promptpo.policy.verify import interval_text
    from promptpo.policy.verify import verify as run_verify

    if episodes is not None and episodes < 1:
        raise ConfigError(f"--episodes must be at least 1 (got {episodes})")
    folder = _folder(run, out)
    if folder.kind == "schedule":  # re-train with the schedule on fresh seeds
        _verify_schedule(folder, candidate, episodes, seeds, first_seed, sandbox)
        return
    from promptpo.finetune.policy import is_finetuned

    if is_finetuned(folder):  # the result (base + learner) on fresh episodes
        _verify_finetuned(folder, episodes or 10, first_seed, sandbox)
        return
    candidate = _chosen(folder, candidate, "verify")
    result = run_verify(folder, candidate, episodes, sandbox, full_episodes)
    rec, ver = result.recorded, result.verified

    def line(s) -> str:
        if s.mean_return is None:
            return "no completed episode"
        text = f"mean return {s.mean_return:.2f} ± {s.std_return:.2f} over {s.episodes} episodes"
        text += f", success rate {s.success_rate:.2f}" if s.success_rate is not None else ""
        return text + interval_text(s)

    print(f"candidate {result.candidate} of {result.run} on {result.env}")
    print("episodes: " + ("ended at their first success (as in the run)" if result.end_at_success else
                          "ran all their steps"))
    print(f"recorded: {line(rec)}")
    print(f"verified: {line(ver)}")
    verdict = headline({"verdict": result.verdict, "gap": result.gap, "outcome": result.outcome})
    print(verdict)
    print(f"recorded in {result.file}")
    _into_library(folder, result.candidate, verdict)


def _verify_finetuned(folder, episodes: int, first_seed: int | None, sandbox: str) -> None:
    from promptpo.finetune.policy import judged_of, replay, seed_of, write_verification
    from promptpo.text import visible

    judged = judged_of(folder)
    seed = first_seed if first_seed is not None else seed_of(folder) + 1
    result = replay(folder, episodes, seed, sandbox)
    kept = judged.get("result", "finetuned")
    recorded = judged.get("finetuned_return") if kept == "finetuned" else judged.get("base_return")
    print(visible(f"{folder.name}: {folder.meta.get('method')} on {folder.meta.get('env')} (the result kept: {kept})"))
    if recorded is not None:
        print(f"judged:   mean return {recorded:.2f} over {judged.get('episodes')} fresh episodes")
    print(f"verified: mean return {result['mean_return']:.2f} ± {result['std_return']:.2f} over {episodes} episodes "
          f"of seed {seed}" + (f", success rate {result['success_rate']:.2f}" if "success_rate" in result else ""))
    print(f"recorded in {write_verification(folder, result)}")


def _into_library(folder, candidate: str, verdict: str) -> None:
    """The verdict into the library entries holding this program (`library list` shows it)."""
    from promptpo.policy.library import default_root, record_verification

    try:
        names = record_verification(default_root(), folder.path, candidate, verdict)
    except OSError as err:
        print(f"could not record the verification in the library at {default_root()}: {err}", file=sys.stderr)
        return
    for name in names:
        print(f"and in library entry {name}")



def _chosen(folder, candidate: str | None, verb: str) -> str:
    """The candidate to ``verb``: the one named, else the run's best; where the cascade stopped every candidate,
    the best stopped one, said in one line (verify, play and export said "has no scored candidate")."""
    pick = folder.pick(candidate, verb)
    if pick.note:
        print(f"note: {pick.note}")
    return pick.record["id"]


def _verify_schedule(folder, candidate: str | None, episodes: int | None, seeds: int, first_seed: int | None,
                     sandbox: str) -> None:
    from promptpo.errors import ConfigError
    from promptpo.schedule.retrain import retrain
    from promptpo.records import headline

    if episodes is not None:
        raise ConfigError("--episodes is for policy runs", "a schedule run is verified on fresh seeds: use --seeds N")
    config = folder.meta.get("config", {})
    err = console(stderr=True)
    steps = config.get("steps")
    with SeedBars(err, steps if isinstance(steps, int) else None) as bars:
        shown: dict = {}

        def point(seed: int, p) -> None:
            if seed not in shown:
                shown[seed] = bars.bar(f"fresh seed {seed}")
            shown[seed](p.env_steps, eval_text(p.mean_return))

        checked = retrain(folder, candidate, seeds, first_seed, sandbox, point)
    print(f"schedule {checked['candidate']} of {checked['run']} on {checked['env']}, judged on its "
          f"{checked['judged_on']}")
    print(f"recorded: {checked['recorded']}; final return {checked['recorded_final_return']}")
    print(f"fresh seeds {checked['seeds']}: {[None if v is None else round(v, 1) for v in checked['verified']]}; "
          f"final returns {[None if v is None else round(v, 1) for v in checked['verified_final_returns']]}")
    print(headline(checked))
    print(f"recorded in {checked['file']}; one run folder per fresh seed (compare them with "
          f"`promptpo baseline ppo {checked['env']} --first-seed {checked['seeds'][0]} --seeds {len(checked['seeds'])}`):")
    for name in checked["folders"]:
        print(f"  {folder.path.parent / name}")

@click.command()
@click.argument("run")
@click.argument("candidate", required=False)
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Policy file to write.")
@click.option("--allow-findings", is_flag=True, help="Export even code the gate refuses (read it first).")
@OUT
def export(run: str, candidate: str | None, output: Path, allow_findings: bool, out: Path) -> None:
    """Write CANDIDATE (default: the best) as a standalone file whose header says what it is and how
    to run it sandboxed. Code the gate refuses is not exported unless --allow-findings."""
    from promptpo.views.export import export as write_policy

    folder = _folder(run, out)
    print(f"wrote {write_policy(folder, _chosen(folder, candidate, 'export'), output, allow_findings)}")
