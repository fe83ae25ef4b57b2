"""A library of solved tasks: the best program of runs that reached their target, shown as worked examples.

An entry is a folder a person can read and edit: ``entry.json`` (env id, family, title, a summary of the spec,
score, verification, where it came from) and ``policy.py`` (the program). The library lives in
``$PROMPTPO_LIBRARY``, else ``$XDG_DATA_HOME/promptpo/library`` (``~/.local/share/promptpo/library``), or
wherever ``--library`` says. A new run is shown the ``--examples K`` entries closest to its task: entries of
the same kind of environment first (``promptpo.envs.kind``: Meta-World, MiniGrid, Gymnasium's MuJoCo, Box2D,
classic control, ...), then by a transparent text similarity (the word overlap of the tasks' descriptions,
observation fields and actions); an entry of another kind only when that overlap is at least MIN_OVERLAP (a
LunarLander run was shown a Meta-World program at 0.098), and never its own env id unless asked
(``--examples-same-task``). The entries shown are copied
into the run's run.json, so a resumed run sees the same ones whatever the library holds by then.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

from promptpo.envspec import EnvSpec
from promptpo.errors import ConfigError
from promptpo.outcome import RunStatus

LIBRARY_ENV = "PROMPTPO_LIBRARY"
SUMMARY_CHARS = 600
CODE_CHARS = 6000
"""Characters of an entry's program a prompt shows (a policy is far shorter)."""
WORD = re.compile(r"[a-z][a-z0-9]+")
MIN_OVERLAP = 0.2
"""The word overlap an entry of another kind of environment needs to be shown (measured on the shipped specs:
related tasks of one kind overlap 0.18-0.57, tasks of different kinds at most 0.18)."""


def default_root() -> Path:
    if os.environ.get(LIBRARY_ENV):
        return Path(os.environ[LIBRARY_ENV]).expanduser()
    data = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data) / "promptpo" / "library"


@dataclass
class Entry:
    name: str
    env: str
    family: str
    title: str
    summary: str
    """The task as the spec describes it: description, observation fields and action (shortened)."""
    score: str
    success_rate: float | None
    mean_return: float | None
    verification: str | None
    run: str
    seed: int | None
    model: str | None
    added: str
    code: str = ""
    missed: str | None = None
    """How the run missed its target, for an entry added with --force (None: it reached it, or had none)."""

    def score_text(self) -> str:
        """The best's score as the other views round it ('81.55'), or what the entry recorded."""
        try:
            return f"{float(self.score):.2f}"
        except ValueError:
            return self.score or "no score"

    def record(self) -> dict:
        data = asdict(self)
        data.pop("code")
        return data


def spec_summary(spec: EnvSpec) -> str:
    fields = ", ".join(f.name for f in spec.observation)
    text = f"{spec.title}. {spec.description.strip()} Observation: {fields}. Action: {spec.action.describe()}"
    text = re.sub(r"\s+", " ", text)
    return text if len(text) <= SUMMARY_CHARS else text[:SUMMARY_CHARS].rsplit(" ", 1)[0] + " [...]"


def entries(root: Path) -> list[Entry]:
    found = []
    for folder in sorted(root.iterdir()) if root.is_dir() else []:
        meta, code = folder / "entry.json", folder / "policy.py"
        if not (meta.is_file() and code.is_file()):
            continue
        try:
            data = json.loads(meta.read_text(encoding="utf-8"))
            found.append(Entry(**{**data, "name": folder.name, "code": code.read_text(encoding="utf-8")}))
        except (json.JSONDecodeError, TypeError):
            continue  # a hand-edited entry that no longer parses is skipped, not fatal
    return found


def missed(meta: dict, summary: dict) -> str | None:
    """How a run missed its target ('budget_exhausted: ...'), or None when it reached it or had none."""
    if meta.get("target") is None or summary.get("status") == RunStatus.TARGET_REACHED:
        return None
    return f"{summary.get('status', 'unknown')}: {summary.get('reason') or 'no reason recorded'}"


def add(run_dir: Path, root: Path, force: bool = False) -> Entry:
    """Store the best program of a finished policy run; an error says why a run cannot be added. A run that
    missed its target is refused unless ``force``: later runs are shown entries as solved examples."""
    from promptpo.envs import load_spec
    from promptpo.errors import RunStoreError
    from promptpo.records import RunFolder, headline

    try:
        run = RunFolder(run_dir)  # a lost summary.json is rebuilt from the other records
    except RunStoreError as err:
        raise ConfigError(f"{run_dir} is not a run folder ({err.message})",
                          "give a folder under runs/ (see `promptpo runs`)") from None
    meta, summary = run.meta, run.summary
    best = run.facts.best if run.has_programs else None
    if best is None or not run.has_code(best):
        raise ConfigError(f"{run_dir.name} has no best program to add", "add a run that scored a candidate")
    short = missed(meta, summary)
    if short is not None and not force:
        raise ConfigError(f"run {run_dir.name} did not reach its target {meta['target']} ({short})",
                          "later runs are shown library entries as solved examples: add it anyway with --force")
    spec = load_spec(meta["env"])
    record = run.candidate(best)
    evaluation = record.get("evaluation") or {}
    returns = [e["episode_return"] for e in evaluation.get("episodes", []) if e.get("length")]
    successes = [e["success"] for e in evaluation.get("episodes", []) if e.get("success") is not None]
    try:
        check = run.verification(best)
    except RunStoreError:
        check = None  # a verification record that is not JSON: the entry says it is not verified
    verified = headline(check) if check else None
    entry = Entry(name=f"{spec.id.replace('/', '-')}-{run_dir.name[-4:]}", env=spec.id, family=spec.family,
                  title=spec.title, summary=spec_summary(spec), score=str(summary.get("best_score", "")),
                  success_rate=sum(successes) / len(successes) if successes else None,
                  mean_return=sum(returns) / len(returns) if returns else None, verification=verified,
                  run=run_dir.name, seed=meta.get("config", {}).get("seed"), model=meta.get("model"),
                  added=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                  code=run.code(best),
                  missed=short)
    folder = root / entry.name
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "policy.py").write_text(entry.code, encoding="utf-8")
    (folder / "entry.json").write_text(json.dumps(entry.record(), indent=2) + "\n", encoding="utf-8")
    return entry


def record_verification(root: Path, run_dir: Path, candidate_id: str, verdict: str) -> list[str]:
    """Write ``verdict`` (records.headline's line) into the entries holding that candidate's program of that run
    (`library list` said "verified -" after a successful verify); the names of the entries updated."""
    from promptpo.records import RunFolder

    code = RunFolder(run_dir).code(candidate_id)
    updated = []
    for entry in entries(root):
        if entry.run == run_dir.name and entry.code == code:
            path = root / entry.name / "entry.json"
            data = json.loads(path.read_text(encoding="utf-8"))
            data["verification"] = verdict
            path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
            updated.append(entry.name)
    return updated


def remove(root: Path, name: str) -> None:
    folder = root / name
    if not (folder / "entry.json").is_file() or folder.resolve().parent != root.resolve():
        raise ConfigError(f"no library entry named {name!r} in {root}", "see `promptpo library list`")
    shutil.rmtree(folder)


def words(text: str) -> set[str]:
    return set(WORD.findall(text.lower()))


def overlap(entry: Entry, spec: EnvSpec) -> float:
    """The word overlap (Jaccard) of the two tasks' summaries, in [0, 1]."""
    mine, theirs = words(spec_summary(spec)), words(entry.summary)
    return len(mine & theirs) / len(mine | theirs) if mine | theirs else 0.0


def choose(root: Path, spec: EnvSpec, k: int | None, same_task: bool = False) -> list[dict]:
    """The entries a new run on ``spec`` is shown (``k`` None: 2 when the library has any that qualify), same
    kind first, then most overlap, as the plain records run.json keeps."""
    from promptpo.envs import kind

    mine = kind(spec.id)
    scored = [(kind(e.env) == mine, overlap(e, spec), e) for e in entries(root) if same_task or e.env != spec.id]
    pool = [s for s in scored if s[0] or s[1] >= MIN_OVERLAP]
    wanted = 2 if k is None else k
    ranked = sorted(pool, key=lambda s: (not s[0], -s[1], s[2].name))[:max(0, wanted)]
    return [{**e.record(), "code": e.code[:CODE_CHARS], "same_kind": same, "relevance": round(score, 2)}
            for same, score, e in ranked]


def for_run(config, spec: EnvSpec) -> list[dict]:
    """What a run with ``config`` (an OptimizeConfig) on ``spec`` is shown, from its library."""
    root = Path(config.library).expanduser() if config.library else default_root()
    return choose(root, spec, config.examples, config.examples_same_task)
