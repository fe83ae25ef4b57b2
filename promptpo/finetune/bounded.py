"""Where checkpoints written before promptpo.finetune.networks existed find their ramped policy (SB3 pickles the
policy class by reference)."""

from promptpo.finetune.networks import BoundedActor, BoundedTD3Policy

__all__ = ["BoundedActor", "BoundedTD3Policy"]
