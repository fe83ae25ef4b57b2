"""Baselines promptpo is compared against (PPO with Stable-Baselines3)."""

from __future__ import annotations

from promptpo.errors import ConfigError


def check_installed(search: str | None = None) -> None:
    """PPO needs the ``baselines`` extra; the Optuna and PBT searches also the ``tuning`` extra."""
    try:
        import stable_baselines3  # noqa: F401
        import torch  # noqa: F401
    except ImportError:
        raise ConfigError("PPO baselines need Stable-Baselines3 and PyTorch",
                          "pip install 'promptpo[baselines]' (for the CPU build, pip install torch first)") from None
    try:
        if search == "optuna":
            import optuna  # noqa: F401
        elif search == "pbt":
            import ray.tune  # noqa: F401
        elif search == "finetune":
            import sb3_contrib  # noqa: F401
            search = "fine-tuning (TQC, ARS)"
    except ImportError:
        if search == "fine-tuning (TQC, ARS)":
            raise ConfigError("fine-tuning needs sb3-contrib", "pip install 'promptpo[baselines]'") from None
        raise ConfigError(f"the {search} baseline needs its library", "pip install 'promptpo[tuning]'") from None
