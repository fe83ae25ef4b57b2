"""What the model is told about earlier candidates: scores, episodes, digests, errors.

Numbers are turned into short lines here; the templates in prompts/ only lay them out.
"""

from __future__ import annotations

from promptpo.prompting import Recap
from promptpo.text import clean
from promptpo.candidate import Candidate
from promptpo.policy.digest import EpisodeDigest, Track
from promptpo.envspec import EnvSpec
from promptpo.policy.evaluation import EpisodeResult, Evaluation

MAX_TRACEBACK = 3000
MAX_OUTPUT = 1500
MAX_CODE = 30_000
"""Characters of a candidate's code a prompt shows (a real policy is far shorter; a hostile answer need not be)."""


def score_line(evaluation: Evaluation | None, has_success: bool) -> str:
    if evaluation is None or evaluation.mean_return is None:
        return "no score"
    text = f"mean return {evaluation.mean_return:.2f} ± {evaluation.std_return:.2f} over {len(evaluation.returns)} episodes"
    if has_success and evaluation.success_rate is not None:
        text += f", success rate {evaluation.success_rate:.2f}"
        if evaluation.success_rate > 0:
            text += f", first success after {evaluation.mean_steps_to_success:.0f} steps on average"
    if not evaluation.complete:
        text += f" (stopped after {evaluation.stage.episodes} of {evaluation.stage.of} episodes)"
    return text


def stage_line(evaluation: Evaluation | None) -> str:
    """How a cascade's first stage went, or ''."""
    if evaluation is None or evaluation.stage is None:
        return ""
    stage = evaluation.stage
    verdict = (f"it went on to all {stage.of} episodes" if stage.passed else
               f"it was not evaluated on the other {stage.of - stage.episodes} episodes and cannot be the best")
    return f"First stage ({stage.episodes} of {stage.of} episodes): {stage.reason}; {verdict}."


def episode_line(spec: EnvSpec, ep: EpisodeResult) -> str:
    """One episode for the prompt: its index, not its seed (a program that knew the seed could replay the
    environment's own random numbers: promptpo.seeds)."""
    extras = ", ".join(f"{k} {v}" for k, v in ep.extras.items())
    text = f"episode {ep.index}{f' ({extras})' if extras else ''}: return {ep.episode_return:.2f}, {ep.length} steps"
    if ep.ended_at_success:
        return text + f", succeeded at step {ep.success_step} (the episode ended there)"
    text += f", {ep.ending}"
    if ep.terminated and spec.ended_by is not None:
        why = spec.ended_by({name: t.end for name, t in ep.digest.fields.items()})
        text += f" ({why})" if why else ""
    if spec.has_success and ep.completed:
        text += f", success at step {ep.success_step}" if ep.success else ", no success"
    return text


def _track(name: str, t: Track) -> str:
    text = f"{name} {_fmt(t.start)} -> {_fmt(t.end)}"
    if t.min is not None and t.min != t.max:
        text += f" (min {_fmt(t.min)} at step {t.min_step}, max {_fmt(t.max)} at step {t.max_step})"
    return text


def _fmt(value) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(f"{v:.3g}" for v in value) + "]"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def digest_lines(spec: EnvSpec, ep: EpisodeResult) -> list[str]:
    d: EpisodeDigest = ep.digest
    lines = [f"episode {ep.index}:"]
    if d.derived:
        lines.append("  key quantities: " + "; ".join(_track(k, t) for k, t in d.derived.items()))
        for name, t in d.derived.items():
            if t.min is not None and 0 < t.min_step < ep.length and t.end > 1.5 * t.min + 1e-3:
                lines.append(f"  {name} was smallest ({_fmt(t.min)}) at step {t.min_step}, then grew to {_fmt(t.end)}")
    if d.fields:
        lines.append("  observation: " + "; ".join(_track(k, t) for k, t in d.fields.items()))
    lines.append(f"  reward: first {d.reward_first}, last {d.reward_last}, max {d.reward_max} at step {d.reward_max_step}")
    if d.info:
        lines.append("  the env's own per-step terms (info): " + "; ".join(t.text(k) for k, t in d.info.items()))
    if d.action_counts:
        names = spec.action.meanings
        counts = ", ".join(f"{names[a] if a < len(names) else a}: {n}" for a, n in sorted(d.action_counts.items()))
        lines.append(f"  actions taken: {counts}")
    elif d.action_mean:
        lines.append(f"  actions: mean {_fmt(d.action_mean)}, std {_fmt(d.action_std)}, "
                     f"min {_fmt(d.action_min)}, max {_fmt(d.action_max)}")
        if d.clipped_steps:
            lines.append(f"  {d.clipped_steps} of {ep.length} actions were outside the bounds and got clipped")
    return lines


MAX_DIGESTS = 6
"""Episodes whose digest a candidate's feedback shows."""


def notable_episodes(evaluation: Evaluation) -> list[EpisodeResult]:
    """Where to look for what went wrong: every failed episode (the worst first, at most ``MAX_DIGESTS - 1``)
    and the best one; where the env defines no success, the worst and the best."""
    eps = [e for e in evaluation.episodes if e.length > 0]
    if not eps:
        return []
    key = lambda e: ((e.success is not False), e.episode_return)  # noqa: E731
    ordered = sorted(eps, key=key)
    failed = [e for e in ordered if e.success is False][:MAX_DIGESTS - 1] or ordered[:1]
    best = ordered[-1]
    return failed + ([best] if all(best is not e for e in failed) else [])


def build(spec: EnvSpec, candidate: Candidate, labels: list[str] | None = None) -> Recap:
    ev = candidate.evaluation
    fb = Recap(id=candidate.id, parent=candidate.parent, kind=candidate.kind, outcome=str(candidate.outcome),
                  score=score_line(ev, spec.has_success) if candidate.scored else f"no score ({candidate.outcome})",
                  code=clean(candidate.code, MAX_CODE), error=clean(candidate.error, 3000), labels=list(labels or []),
                  findings=[str(f) for f in candidate.extracted.findings],
                  tuned=tuned_lines(candidate.tuned or []),
                  answer=clean(candidate.answer, MAX_CODE), analysis=clean(candidate.analysis))
    if ev is not None:
        fb.episodes = [episode_line(spec, e) for e in ev.episodes if e.length > 0]
        fb.stage = stage_line(ev)
        notable = notable_episodes(ev)
        for ep in notable:
            fb.digest += digest_lines(spec, ep)
        shown, failed = sum(e.success is False for e in notable), sum(e.success is False for e in ev.episodes)
        fb.digest_of = ((f"all {failed} failed episodes" if shown == failed > 1 else "its failed episode"
                         if shown == failed else f"the {shown} worst of {failed} failed episodes")
                        + (", worst first, and the best" if len(notable) > shown else ", worst first")
                        if spec.has_success and shown else f"the worst and the best of {len(ev.episodes)} episodes"
                        if len(notable) > 1 else "its one episode")
        if ev.fault is not None:
            where = ""
            if ev.fault.episode is not None:
                where = f" (episode {ev.fault.episode}, step {ev.fault.step})"
            fb.error = ev.fault.message + where
            fb.traceback = ev.fault.traceback[-MAX_TRACEBACK:]
        if ev.output:
            fb.output = head_and_tail(ev.output, MAX_OUTPUT)
        describe_notes(fb, ev.notes)
    return fb


MAX_NOTES = 10
"""Episode notes of a feedback function one candidate shows."""


def describe_notes(fb: Recap, notes: list) -> None:
    """The notes of the feedback function that worked, and why any tried before it failed."""
    def whose(n) -> str:
        return ("this program's own Feedback class" if n.source is None
                else f"the Feedback class of {n.source}, the last one that worked")

    worked = next((n for n in notes if n.ok), None)
    if worked is not None:
        fb.notes_of = whose(worked)
        fb.notes = [f"episode {episode}: {text}" for episode, text in worked.lines[:MAX_NOTES]]
        if len(worked.lines) > MAX_NOTES:
            fb.notes.append(f"(and {len(worked.lines) - MAX_NOTES} more episodes not shown)")
        fb.notes += [f"(episode {episode}: its arrays stop at step {step}, the most the host keeps for feedback)"
                     for episode, step in worked.cut[:MAX_NOTES]]
    failed = [n for n in notes if not n.ok]
    if failed and failed[0].by_host:
        fb.notes_problem = (f"promptpo could not run your feedback function on this candidate (a problem on its own "
                            f"side, not in your code: {clean(failed[0].error, 300)}).")
    elif failed:
        n = failed[0]
        then = f"; {whose(worked)} was used instead" if worked is not None else "; no notes for this candidate"
        fb.notes_problem = f"Your feedback function failed: {whose(n)}: {clean(n.error, 1000)}{then}."
        fb.notes_traceback = head_and_tail(clean(n.traceback) + ("\n" + n.output if n.output else ""), MAX_TRACEBACK)


def head_and_tail(text: str, limit: int) -> str:
    """``text`` cut to about ``limit`` characters by leaving out its middle: the start of an episode's output and
    its end, where failures show, both stay."""
    if len(text) <= limit:
        return text
    half = limit // 2
    return f"{text[:half]}\n... ({len(text) - 2 * half:,} characters in the middle left out) ...\n{text[-half:]}"


MAX_TUNED_SHOWN = 12


def tuned_lines(changes: list[dict]) -> list[str]:
    """'line 12: 0.5 -> 9.7' per changed constant, the largest changes first, at most ``MAX_TUNED_SHOWN`` (a
    long list would crowd out code and episodes the prompt promised to keep)."""
    def size(t: dict) -> float:
        try:
            old, new = abs(float(t["old"])), abs(float(t["new"]))
        except ValueError:
            return 0.0
        return max(old, new) / max(min(old, new), 1e-9)

    ordered = sorted(changes, key=size, reverse=True)
    shown = [f"{t.get('name') or 'line ' + str(t['line'])}: {t['old']} -> {t['new']}"
             for t in ordered[:MAX_TUNED_SHOWN]]
    if len(ordered) > MAX_TUNED_SHOWN:
        shown.append(f"and {len(ordered) - MAX_TUNED_SHOWN} smaller changes (the code shows every value)")
    return shown
