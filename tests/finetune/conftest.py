"""The fine-tuning tests' base run (a module's own, so modules stay independent)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import scripted

import promptpo
from finetune.swing import PENDULUM, SWING


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """A promptpo run on Pendulum whose one program is the base."""
    out = tmp_path_factory.mktemp("finetune") / "runs"
    model = scripted(out.parent / "answers.jsonl", f"Pump, then hold.\n```python\n{SWING}```")
    result = promptpo.optimize(PENDULUM, model, rounds=1, candidates=1, episodes=2, out=out, add_to_library=False)
    return Path(result.run_dir)
