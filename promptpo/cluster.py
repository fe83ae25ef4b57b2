"""Ray, when one machine is not enough: PPO seeds and a run's evaluations as Ray tasks.

``connect(address)`` joins the cluster at ``address`` (``--address``, else ``$RAY_ADDRESS``), or starts
a local Ray when neither is given. Each task does its work on the node that runs it — a candidate is
sandboxed there (the process sandbox, or Docker where the node has it), a PPO seed trains there — and
what it made comes back to the driver: an evaluation as its result, a run folder packed as .tar.gz. So
nodes need promptpo (with the same simulators) installed and no shared filesystem. Bench jobs use the
same connection (promptpo.bench.runner).
"""

from __future__ import annotations

import os
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

from promptpo.errors import ConfigError


def connect(address: str | None = None):
    """The ray module, initialised once per process."""
    try:
        import ray
    except ImportError:
        raise ConfigError("--executor ray needs Ray", "pip install 'promptpo[tuning]' (or ray) first") from None
    if not ray.is_initialized():
        ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, include_dashboard=False,
                 log_to_driver=False, configure_logging=False)
    return ray


# -- a run's evaluations ---------------------------------------------------------------------------
@cache
def _task_on_node(config_json: str):
    """The policy task a node evaluates with (made once per Ray worker process and config)."""
    import json

    from promptpo.config import OptimizeConfig
    from promptpo.envs import load_spec
    from promptpo.isolation import make_sandbox
    from promptpo.tasks.policy import PolicyTask

    config = OptimizeConfig.from_record(json.loads(config_json), Path(tempfile.gettempdir()))
    config.workers, config.executor = 1, "local"
    return PolicyTask(config, load_spec(config.env), make_sandbox(config.sandbox))


def _evaluate_on_node(config_json: str, code: str, limits: Any, best: Any):
    return _task_on_node(config_json).evaluate(code, limits, None, best)


class RayEvaluations:
    """Evaluations sent as Ray tasks, as many in flight as the engine's --workers allows."""

    def __init__(self, config, address: str | None):
        import json

        self.ray = connect(address)
        self.remote = self.ray.remote(num_cpus=1, max_retries=1)(_evaluate_on_node)
        self.config_json = json.dumps(config.public())
        self.slots = int(self.ray.cluster_resources().get("CPU", 1))

    def evaluate(self, code: str, limits: Any, best: Any):
        return self.ray.get(self.remote.remote(self.config_json, code, limits, best))


# -- PPO seeds -------------------------------------------------------------------------------------
def _train_on_node(config: Any, seed: int) -> tuple[str, bytes]:
    import dataclasses

    from promptpo.baselines.ppo import train
    from promptpo.bench.jobs import pack

    with tempfile.TemporaryDirectory(prefix="promptpo-ppo-") as scratch:
        folder = train(dataclasses.replace(config, out=Path(scratch)), seed)
        return folder.name, pack(folder)


def train_seeds(config: Any, seeds: list[int], address: str | None, on_done=None) -> list[Path]:
    """Each seed a Ray task; its run folder unpacked into ``config.out`` as it comes back."""
    from promptpo.bench.jobs import unpack

    ray = connect(address)
    remote = ray.remote(num_cpus=1, max_retries=0)(_train_on_node)
    pending = {remote.remote(config, seed): seed for seed in seeds}
    folders: dict[int, Path] = {}
    while pending:
        ready, _ = ray.wait(list(pending), num_returns=1, timeout=1.0)
        for ref in ready:
            seed = pending.pop(ref)
            name, packed = ray.get(ref)
            folders[seed] = Path(config.out) / name
            unpack(packed, folders[seed])
            if on_done is not None:
                on_done(seed)
    return [folders[s] for s in seeds]
