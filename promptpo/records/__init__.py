"""The one reader of run folders (``RunFolder``), where they are (``listing``), and what every view shows of a
run (``facts``): best by the rank key, env steps to target, curves from 0, calls, seed and method.

Arrows run one way: ``folder`` reads files, ``facts`` and ``recover`` derive from what it reads, and ``run``
puts them together (the summary with recovery, the facts, the best to pick)."""

from promptpo.records.facts import Facts, Method, best_of, criterion_of, facts_of, rank_key
from promptpo.records.folder import POLICY_KIND, PROGRAM_KINDS, score_text
from promptpo.records.listing import expand, newest_first, run_folders
from promptpo.records.run import Pick, RunFolder, open_runs
from promptpo.records.text import best_scored, best_text, calls_text, final_text, headline, number, status_text

__all__ = ["POLICY_KIND", "PROGRAM_KINDS", "Facts", "Method", "Pick", "RunFolder", "best_of", "criterion_of", "expand", "facts_of",
           "newest_first", "open_runs", "rank_key", "run_folders", "score_text", "best_scored", "best_text", "calls_text", "final_text",
           "headline", "number", "status_text"]
