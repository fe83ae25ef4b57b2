"""Moved to promptpo.records (the one reader of a run folder); kept so that older imports keep working."""

from promptpo.records.folder import Pick, RunFolder, score_text

__all__ = ["Pick", "RunFolder", "score_text"]
