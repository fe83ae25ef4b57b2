"""Baselines promptpo is compared against (PPO with Stable-Baselines3)."""

from __future__ import annotations

from promptpo.errors import ConfigError


def check_installed() -> None:
    try:
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise ConfigError("PPO baselines need Stable-Baselines3 and PyTorch",
                          "pip install 'promptpo[baselines]' (for the CPU build, pip install torch first)") from None
