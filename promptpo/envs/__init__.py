"""Finding the spec for an environment id: a spec file first, then the family's automatic builder."""

from __future__ import annotations

import difflib
import importlib.util
from pathlib import Path

from promptpo.envspec import EnvSpec
from promptpo.errors import ConfigError, EnvNotFoundError
from promptpo.resources import data_dir

FAMILIES = ("gymnasium", "metaworld", "minigrid")


def spec_files() -> dict[str, Path]:
    """promptpo id -> spec file, for every file shipped in envspecs/."""
    root = data_dir("envspecs")
    return {f"{path.parent.name}/{path.stem}": path
            for path in sorted(root.glob("*/*.py")) if not path.name.startswith("_")}


def load_spec(env_id: str) -> EnvSpec:
    family, _, name = env_id.partition("/")
    if family not in FAMILIES or not name:
        raise EnvNotFoundError(f"unknown environment id {env_id!r}", _suggest(env_id, with_families=True))
    path = spec_files().get(env_id)
    if path is not None:
        return _from_file(env_id, path)
    return _automatic(family, name, env_id)


def _from_file(env_id: str, path: Path) -> EnvSpec:
    module_spec = importlib.util.spec_from_file_location(f"promptpo_envspec_{env_id.replace('/', '_').replace('-', '_')}", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    spec: EnvSpec = module.SPEC
    spec.source = str(path)
    return spec


def _automatic(family: str, name: str, env_id: str) -> EnvSpec:
    if family == "metaworld":
        from promptpo.envs import metaworld

        if name in metaworld.known_tasks():
            return metaworld.metaworld_spec(f"{name}-v3")
        raise EnvNotFoundError(f"unknown Meta-World task {name!r}",
                               _closest(name, metaworld.known_tasks(), prefix="metaworld/"))
    if family == "minigrid":
        from promptpo.envs import minigrid

        if name in minigrid.known_tasks():
            return minigrid.minigrid_spec(name)
        raise EnvNotFoundError(f"unknown MiniGrid task {name!r}",
                               _closest(name, minigrid.known_tasks(), prefix="minigrid/"))
    import gymnasium as gym

    from promptpo.envs import gymnasium as gym_family

    if name not in gym.registry:
        raise EnvNotFoundError(f"unknown environment id {env_id!r}", _suggest(env_id))
    try:
        return gym_family.auto_spec(name)
    except gym.error.DependencyNotInstalled as err:
        raise ConfigError(f"{env_id} needs a package that is not installed: {str(err).splitlines()[0]}",
                          "install it (e.g. pip install 'gymnasium[box2d]') and try again") from None


def kind(env_id: str) -> str:
    """The kind of environment an id is, finer than its family: Gymnasium's by the package that implements it
    (``gymnasium/mujoco``, ``gymnasium/box2d``, ``gymnasium/classic_control``, ...), else the family."""
    family, _, name = env_id.partition("/")
    if family != "gymnasium":
        return family
    import gymnasium as gym

    try:
        entry = gym.spec(name).entry_point
    except gym.error.Error:
        return family
    module = entry.split(":", 1)[0] if isinstance(entry, str) else getattr(entry, "__module__", "")
    parts = module.split(".")
    return f"gymnasium/{parts[2]}" if parts[:2] == ["gymnasium", "envs"] and len(parts) > 2 else \
        f"gymnasium/{parts[0] or 'other'}"


def known_ids() -> list[str]:
    import gymnasium as gym

    return sorted(set(spec_files()) | {f"gymnasium/{k}" for k in gym.registry if "/" not in k})


def _closest(name: str, names: list[str], prefix: str) -> str:
    matches = difflib.get_close_matches(name, names, n=3, cutoff=0.5)
    if matches:
        return "did you mean " + " or ".join(prefix + m for m in matches) + "?"
    return f"run `promptpo envs` to list the ids ({len(names)} {prefix.rstrip('/')} tasks are installed)"


def _suggest(env_id: str, with_families: bool = False) -> str:
    candidates = known_ids()
    lowered = {c.lower(): c for c in candidates}
    matches = difflib.get_close_matches(env_id.lower(), list(lowered), n=3, cutoff=0.5)
    if not matches and "/" not in env_id:
        matches = [c for c in lowered if c.endswith("/" + env_id.lower())][:3]
    hint = "did you mean " + " or ".join(lowered[m] for m in matches) + "?" if matches else "run `promptpo envs` to list the ids"
    if with_families:
        hint += f" Ids look like FAMILY/NAME with FAMILY one of {', '.join(FAMILIES)}."
    return hint
