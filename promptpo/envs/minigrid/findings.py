"""Everything a MiniGrid spec states about the installed environment beyond its docstring: the parts put
together, and the docstring's action table corrected where it calls an acting action unused."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from promptpo.envs.minigrid.actions import action_effects, effect_text
from promptpo.envs.minigrid.endings import endings, trials_text
from promptpo.envs.minigrid.layout import SEEDS, Start, layout_facts, layouts
from promptpo.envs.minigrid.mission import join_words
from promptpo.envs.minigrid.rules import pays, step_rules, success_text

ROW = re.compile(r"^(\s*\|\s*(\d+)\s*\|\s*(\w+)\s*\|)([^|]*)(\|\s*)$")


def correct_table(doc: str, acting: set[int]) -> str:
    """The docstring with "Unused" replaced, in the action table rows of actions that have an effect."""
    lines = []
    for line in doc.splitlines():
        m = ROW.match(line)
        if m and int(m.group(2)) in acting and "unused" in m.group(4).lower():
            line = f"{m.group(1)}{' acts (measured; corrected) '.ljust(len(m.group(4)))}{m.group(5)}"
        lines.append(line)
    return "\n".join(lines)


@dataclass
class Findings:
    success: str
    facts: list[str]
    acting: set[int]
    """Actions with a measured effect (or every action, when the environment could not be measured)."""


def study(env: Any, gym_id: str, names: tuple[str, ...]) -> Findings:
    """Everything a MiniGrid spec states about ``env`` beyond its docstring (see the module docstring)."""
    u = env.unwrapped
    rules = step_rules(type(u))
    attrs = sorted({a for r in rules for a in r.attrs})
    facts = [registration(gym_id)] if registration(gym_id) else []
    seeds = f"seeds {SEEDS[0]}-{SEEDS[-1]}"
    try:
        found, start = layouts(env, attrs)
    except Exception as err:  # noqa: BLE001 - e.g. a package that ships without the files an env reads
        reason = (f"no file {os.path.basename(err.filename)}" if isinstance(err, OSError) and err.filename
                  else str(err)[:200])
        facts.append(f"Resetting this environment fails with the installed minigrid ({type(err).__name__}: "
                     f"{reason}): it cannot be run as installed, and nothing else was measured.")
        success = [r for r in rules if pays(r, env)]
        return Findings(success_text(success, {}, seeds), facts, set(range(len(names))))
    seeds = f"seeds {found[0].seed}-{found[-1].seed}" if len(found) > 1 else f"seed {found[0].seed}"
    kinds = {o.type for lay in found for _, o in lay.objects}
    kinds |= {o.contains.type for lay in found for _, o in lay.objects if getattr(o, "contains", None) is not None}
    kinds |= {"locked door" for lay in found for _, o in lay.objects if o.type == "door" and o.is_locked}
    kinds |= {("full box" if o.contains is not None else "empty box") for lay in found for _, o in lay.objects
              if o.type == "box"}
    live = [r for r in rules if not r.types or set(r.types) & kinds]
    dead = sorted({t for r in rules if r not in live for t in r.types})
    success = [r for r in live if pays(r, env)]
    described = {a: [lay.attrs.get(a, "absent") for lay in found] for a in attrs}
    facts.append(f"The layouts below were measured on resets with {seeds}; the scored episodes use other seeds "
                 "(kept from the policy), so where a layout varies with the seed theirs differ.")
    facts += layout_facts(found, seeds, kinds)
    if dead:
        owners = join_words(sorted({f"{r.owner}.step" for r in rules if r not in live}), "and")
        facts.append(f"The rules of {owners} for {join_words(dead, 'and')} cells cannot apply here: measured, no "
                     f"{join_words(dead)} is in the grid at any reset ({seeds}).")
    facts += [f"The episode also ends without success {r.text()}" + (f", with reward `{r.reward}`." if r.reward
              else ", with the reward left as it was (0 unless a rule above paid one).")
              for r in live if r not in success]
    try:
        more, acting = stepped(start, names, kinds, found[0].mission, attrs)
    except Exception as err:  # noqa: BLE001 - a minigrid whose internals moved: say so rather than fail the spec
        facts.append(f"Measuring the actions failed ({type(err).__name__}: {str(err)[:200]}); what each action does "
                     "is in the step source below.")
        more, acting = [], set(range(len(names)))
    return Findings(success_text(success, described, seeds), facts + more, acting)


def stepped(start: Start, names: tuple[str, ...], kinds: set[str], mission: str,
            attrs: list[str]) -> tuple[list[str], set[int]]:
    """The facts measured by stepping the env (what each action does, which steps end the episode) and the
    actions that have an effect."""
    facts = []
    effects, moved = action_effects(start, names, kinds, mission, attrs)
    acting = {i for i, cases in effects.items() if any(o.effect for _, o in cases)}
    facts.append("What each action does, measured on this environment by stepping it from prepared states (the "
                 "agent placed facing each kind of object the grid holds, made in a colour the mission does not "
                 "name); 'nothing changes' means the step only counts towards the step limit:")
    facts += [f"{i} = {names[i]}: {effect_text(effects[i])}" for i in sorted(effects)]
    if moved:
        facts.append(f"Objects elsewhere in the grid also change during a step, whatever the action (measured: "
                     f"{join_words(sorted(moved))} moved).")
    trials = endings(start, names, attrs)
    where = f"measured one step from next to each object of seed {SEEDS[0]}'s layout"
    if any(t.outcome.reward > 0 for t in trials):
        facts.append(f"Steps that succeeded ({where}): {trials_text(trials, True)}.")
    if any(t.outcome.reward <= 0 for t in trials):
        facts.append(f"Steps that ended the episode without success ({where}): {trials_text(trials, False)}.")
    return facts, acting


def registration(gym_id: str) -> str:
    import gymnasium as gym

    spec = gym.spec(gym_id)
    base = gym_id.rsplit("-v", 1)[0]
    newer = sorted(k for k in gym.registry if k.startswith(base + "-v") and k != gym_id)
    if not spec.kwargs and not newer:
        return ""
    return (f"Registered as {gym_id}" + (f" with {spec.kwargs}" if spec.kwargs else "")
            + (f"; also registered: {', '.join(newer)} (not the one run here)" if newer else "") + ".")
