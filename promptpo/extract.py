"""From an LLM answer to checked code: take the code block, parse it, find the entry point,
and record static findings. Nothing here runs the code."""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass, field

from promptpo import gate
from promptpo.outcome import Outcome

ALLOWED_IMPORTS = frozenset(module.split(".")[0] for module in gate.ALLOWED_MODULES)
RISKY_CALLS = frozenset({"eval", "exec", "open", "__import__", "compile", "globals", "locals", "vars",
                         "getattr", "setattr", "delattr", "breakpoint", "input"})
LARGE_TABLE = 64
MUTABLE_FACTORIES = frozenset({"list", "dict", "set", "defaultdict", "deque", "zeros", "ones", "empty", "array",
                               "full", "Counter", "OrderedDict"})
MUTATING_METHODS = frozenset({"append", "extend", "insert", "pop", "popleft", "appendleft", "popitem", "clear",
                              "update", "setdefault", "add", "discard", "remove", "sort", "reverse", "fill", "put",
                              "resize", "itemset", "shuffle", "rotate", "__setitem__", "__delitem__"})
"""Calls on a container that change it in place: a module-level container a program changes is state shared by
every episode (one only read is a constant table)."""
FENCE = re.compile(r" {0,3}(`{3,})[ \t]*([\w+-]*)")
"""An opening fence at the start of a line, and its language tag."""
CLOSE = re.compile(r" {0,3}(`{3,})[ \t]*$")
MAX_ANSWER_CHARS = 400_000
"""Longer answers are not searched for code (no model writes a policy that long; a hostile one might)."""


@dataclass(frozen=True)
class Finding:
    kind: str
    """import, call, dunder, global_state, constants_table"""
    line: int
    detail: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.detail}"


@dataclass
class Extracted:
    code: str
    outcome: Outcome
    message: str = ""
    entry: str = ""
    """``Policy`` or ``act``."""
    findings: list[Finding] = field(default_factory=list)
    form: str = "program"
    """How the answer gave it: a whole ``program``, or ``edits`` to the program its prompt named (promptpo.edits)."""
    edits: int = 0
    """SEARCH/REPLACE blocks applied."""

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.OK


def fenced_blocks(answer: str) -> list[tuple[str, str]]:
    """(language tag, body) of each fenced block of ``answer``, in one pass over its lines. Fences count only at
    the start of a line (CommonMark: up to three spaces, then three or more backticks), so prose that mentions ```
    is not code: an opening fence's tag is the rest of its line; a closing fence is a line of at least as many backticks
    and nothing else. A block never closed runs to the end of the answer (a model that forgot the fence or ran
    out of tokens: a cut-off program is then a syntax error the repair prompt names, not "no code")."""
    blocks: list[tuple[str, str]] = []
    lines = answer.split("\n")
    i = 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        ticks, lang = len(opening.group(1)), opening.group(2).lower()
        body: list[str] = []
        i += 1
        while i < len(lines):
            closing = CLOSE.match(lines[i])
            if closing is not None and len(closing.group(1)) >= ticks:
                break
            body.append(lines[i])
            i += 1
        blocks.append((lang, "\n".join(body) + ("\n" if i < len(lines) else "")))
        i += 1
    return blocks


def code_blocks(answer: str) -> list[str]:
    """The fenced blocks of ``answer`` that hold Python: the ones tagged so, else the untagged ones."""
    blocks = fenced_blocks(answer)
    python = [body for lang, body in blocks if lang in ("python", "py", "python3")]
    return python or [body for lang, body in blocks if lang == ""]


ANALYSIS_CHARS = 1500
"""Characters of an answer's analysis a candidate keeps (its head; a longer one is marked cut)."""


def analysis(answer: str, limit: int = ANALYSIS_CHARS) -> str:
    """The prose an answer gives before its program: before its first code fence or edit block."""
    lines = answer[:MAX_ANSWER_CHARS].split("\n")
    end = next((i for i, line in enumerate(lines) if FENCE.match(line) or line.lstrip().startswith("<<<<<<<")),
               len(lines))
    text = "\n".join(lines[:end]).strip()
    return text if len(text) <= limit else text[:limit].rstrip() + " [... cut]"


def extract(answer: str, entry: str = "policy", gated: bool = True) -> Extracted:
    """``entry``: 'policy' (a Policy class or act function) or the name of a required function."""
    marker = "def act" if entry == "policy" else f"def {entry}"
    if len(answer) > MAX_ANSWER_CHARS:
        return Extracted("", Outcome.NO_CODE, f"the answer has {len(answer)} characters, more than the "
                         f"{MAX_ANSWER_CHARS} searched for code; answer with one short program")
    blocks = code_blocks(answer)
    if not blocks:
        stripped = answer.strip()
        if not stripped:
            return Extracted("", Outcome.NO_CODE, "the answer was empty")
        if _parses(stripped) and (marker in stripped or "class Policy" in stripped):
            blocks = [stripped]
        else:
            return Extracted("", Outcome.NO_CODE, "the answer has no ```python code block")
    # Prefer the last block that defines an entry point (answers often show a snippet first).
    chosen = next((b for b in reversed(blocks) if marker in b), blocks[-1])
    return check_program(chosen.strip("\n") + "\n", entry, gated)


def check_program(code: str, entry: str = "policy", gated: bool = True) -> Extracted:
    """Parse ``code`` as it is, find its entry point and pass it through the gate (``gated``)."""
    try:
        tree = gate.parse(code, filename="policy.py")
    except SyntaxError as err:
        line = (err.text or "").rstrip()
        return Extracted(code, Outcome.SYNTAX_ERROR, f"SyntaxError: {err.msg} (line {err.lineno}: {line.strip()[:200]!r})")
    except (RecursionError, MemoryError, ValueError) as err:
        return Extracted(code, Outcome.UNPARSEABLE, f"the code cannot be parsed ({type(err).__name__}: it nests "
                         "too deeply or is too large); write it as plain, shallow Python")
    found = entry_point(tree) if entry == "policy" else (
        entry if any(isinstance(n, ast.FunctionDef) and n.name == entry for n in tree.body) else None)
    if found is None:
        wanted = ("neither a Policy class with an act(self, obs) method nor an act(obs) function"
                  if entry == "policy" else f"no top-level {entry}() function")
        return Extracted(code, Outcome.NO_ENTRY_POINT, f"the code defines {wanted}", findings=findings(tree))
    refused = gate.check(code, tree) if gated else []
    if refused:
        return Extracted(code, Outcome.REFUSED, gate.repair_message(refused), entry=found, findings=findings(tree))
    return Extracted(code, Outcome.OK, entry=found, findings=findings(tree))


def python_tree(code: str) -> ast.Module | None:
    """``code`` parsed, or None when it does not parse for any reason: model-written code may nest deeper than the
    parser (or the AST's conversion, which depends on how deep the caller's stack already is) can go. Every parse
    of model text goes through here or check_program."""
    try:
        return gate.parse(code)
    except (SyntaxError, RecursionError, MemoryError, ValueError):
        return None


JSON_CHARS = 20_000
"""Longest JSON text of an answer that is parsed (a schedule decision or a manager's choice is a few lines)."""


def json_value(text: str) -> tuple[object, str | None]:
    """A JSON text of an answer: (value, None), or (None, why not). Bounded in size and depth."""
    if len(text) > JSON_CHARS:
        return None, f"the JSON has {len(text)} characters, more than the {JSON_CHARS} read"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as err:
        return None, f"the JSON does not parse ({err.msg})"
    except (RecursionError, MemoryError, ValueError):
        return None, "the JSON nests too deeply or is too large"


def _parses(text: str) -> bool:
    return python_tree(text) is not None


def entry_point(tree: ast.Module) -> str | None:
    """``Policy``: a class defining or inheriting act (``class Policy(Base)``), or an alias ``Policy = X``."""
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == "Policy":
            if node.bases or any(isinstance(f, ast.FunctionDef) and f.name == "act" for f in node.body):
                return "Policy"
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "Policy" for t in targets):
                return "Policy"
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "act":
            return "act"
    return None


def findings(tree: ast.Module) -> list[Finding]:
    """Static observations an auditor wants to see; they do not stop the candidate."""
    found: list[Finding] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] not in ALLOWED_IMPORTS:
                    found.append(Finding("import", node.lineno, f"imports {alias.name} (outside the allowed set)"))
        elif isinstance(node, ast.ImportFrom):
            module = (node.module or "").split(".")[0]
            if node.level or module not in ALLOWED_IMPORTS:
                found.append(Finding("import", node.lineno, f"imports from {node.module or '.'} (outside the allowed set)"))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in RISKY_CALLS \
                and not _plain_lookup(node):
            found.append(Finding("call", node.lineno, f"calls {node.func.id}()"))
        elif isinstance(node, ast.Attribute) and node.attr.startswith("__") and node.attr.endswith("__"):
            found.append(Finding("dunder", node.lineno, f"accesses attribute {node.attr}"))
        elif isinstance(node, ast.Global):
            found.append(Finding("global_state", node.lineno, f"rebinds module globals {', '.join(node.names)}"))
        elif isinstance(node, (ast.List, ast.Tuple, ast.Set, ast.Dict)):
            numbers = sum(isinstance(n, ast.Constant) and isinstance(n.value, (int, float)) for n in ast.walk(node))
            if numbers >= LARGE_TABLE:
                found.append(Finding("constants_table", node.lineno,
                                     f"a literal table of {numbers} numbers (could encode memorized answers)"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, (str, bytes)) and len(node.value) > 2000:
            found.append(Finding("constants_table", node.lineno, f"a {len(node.value)}-character literal"))
    changed = _changed_names(tree)
    for node in tree.body:  # module-level containers the program changes: state shared by every episode's policy
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        mutable = isinstance(value, (ast.List, ast.Dict, ast.Set, ast.ListComp, ast.DictComp, ast.SetComp)) or (
            isinstance(value, ast.Call) and _call_name(value) in MUTABLE_FACTORIES)
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if value is not None else []
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        if mutable and names & changed:  # a table only read (DIRS = [...]) is a constant, whatever its type
            found.append(Finding("global_state", node.lineno, "module-level mutable state (shared across episodes)"))
    return _outermost_tables(sorted(set(found), key=lambda f: (f.line, f.kind, f.detail)))


def _plain_lookup(call: ast.Call) -> bool:
    """``getattr(x, "name"[, default])`` or ``hasattr(x, "name")`` with a literal public name: the same as
    ``x.name``, which the gate allows (and prompts say so)."""
    return (call.func.id in ("getattr", "hasattr") and len(call.args) >= 2 and isinstance(call.args[1], ast.Constant)
            and isinstance(call.args[1].value, str) and call.args[1].value.isidentifier()
            and not call.args[1].value.startswith("_"))


def _root(node: ast.AST) -> str | None:
    """The name a chain of subscripts and attributes starts from (``GRID`` for ``GRID[i][j].x``)."""
    while isinstance(node, (ast.Subscript, ast.Attribute)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _changed_names(tree: ast.Module) -> set[str]:
    """Names whose value the program changes in place or rebinds from a function: item or attribute stores and
    deletes, augmented assignments, mutating method calls, ``out=`` arguments and ``global`` rebinding."""
    changed: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Subscript, ast.Attribute)) and isinstance(node.ctx, (ast.Store, ast.Del)):
            changed.add(_root(node))
        elif isinstance(node, ast.AugAssign):
            changed.add(_root(node.target))
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in MUTATING_METHODS:
            changed.add(_root(node.func.value))
        elif isinstance(node, ast.Call):
            changed |= {_root(k.value) for k in node.keywords if k.arg == "out"}
            if _call_name(node) in ("copyto", "shuffle", "put", "place", "putmask") and node.args:
                changed.add(_root(node.args[0]))
        elif isinstance(node, ast.Global):
            changed.update(node.names)
    return changed - {None}


def _call_name(call: ast.Call) -> str:
    func = call.func
    return func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""


def _outermost_tables(found: list[Finding]) -> list[Finding]:
    """A nested table is reported once, at its first line."""
    kept, seen_lines = [], set()
    for f in found:
        if f.kind == "constants_table":
            if f.line in seen_lines:
                continue
            seen_lines.add(f.line)
        kept.append(f)
    return kept


def author(kind: str, offline: bool) -> str:
    """Who wrote a candidate of ``kind`` (its record's kind), as a file's header says it; ``offline``: its run used
    the offline proposer (whose programs are never a model's, tuned or not)."""
    who = ("by the offline proposer (CMA-ES over a program template, no language model)" if offline or kind == "offline"
           else "by a language model")
    return who + (", its constants then tuned by CMA-ES" if kind == "tuned" else "")


def trust_lines(code: str, load_hint: str, written: str = "by a language model") -> list[str]:
    """What a file holding generated code says about itself: who wrote it (``written``, see ``author``), untrusted,
    the gate's verdict, the audit's findings and how to run it in the sandbox (``load_hint`` names the file or run)."""
    tree = python_tree(code)
    found = findings(tree) if tree is not None else []
    lines = [f"GENERATED, UNTRUSTED CODE written {written}: read it before you run it.",
             f"gate: {gate.verdict(gate.check(code, tree))}",
             "audit: " + ("no findings" if not found else "; ".join(str(f) for f in found[:3]) +
                          (f" (+{len(found) - 3} more)" if len(found) > 3 else "")),
             f"Run it sandboxed: policy = promptpo.load_policy({load_hint!r}); policy.reset(); policy.act(obs)",
             "(or `promptpo play` to watch it). In-process only with load_policy(..., trusted=True), for code the gate passed."]
    return lines
