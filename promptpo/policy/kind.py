"""The policy kind (`promptpo optimize`) as the registry of kinds knows it (promptpo.engine.kinds): its config and
task, run folders named by their env alone, the library's examples fixed when a run starts, and the library joined
by a run that reaches its target."""

from __future__ import annotations

import logging
from pathlib import Path

from promptpo.engine.kinds import Kind
from promptpo.engine.launch import RunResult
from promptpo.envspec import EnvSpec
from promptpo.errors import ConfigError
from promptpo.llm.base import Backend
from promptpo.policy import library
from promptpo.policy.config import OptimizeConfig
from promptpo.policy.task import PolicyTask
from promptpo.outcome import RunStatus

log = logging.getLogger(__name__)


class PolicyKind(Kind):
    config = OptimizeConfig
    task = PolicyTask

    def folder_label(self, spec: EnvSpec) -> str:
        return spec.id

    def starting(self, config: OptimizeConfig, spec: EnvSpec, backend: Backend) -> None:
        """The library entries the first prompt shows, copied into the config (so a resumed run shows the same)."""
        if backend.uses_prompts:  # the offline proposer reads no prompt
            config.shown_examples = library.for_run(config, spec)

    def finished(self, config: OptimizeConfig, result: RunResult) -> RunResult:
        """A run that reached its target adds its best program to the library (unless --no-library), new or
        resumed alike; the run is recorded either way."""
        if not (config.add_to_library and result.status == RunStatus.TARGET_REACHED):
            return result
        root = Path(config.library).expanduser() if config.library else library.default_root()
        try:
            result.library_entry = library.add(result.run_dir, root).name
        except (OSError, ConfigError) as err:
            log.warning("could not add the run to the library at %s: %s", root, err)
        return result
