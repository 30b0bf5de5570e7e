"""The claims registry, ``data/paper/claims.yaml``: load, validate, and read the printed values.

Every quantitative claim of the three papers is one entry (fields, common args, verdict rules
and the evaluator vocabulary are documented in the file's header). Loading validates every
entry and raises ``ValueError`` naming the claim id for: a missing or unknown field, a duplicate
id, an unknown paper / evaluator / evidence kind / chapter, an argument the evaluator does not
take (or a required one missing), a variant that is not scheme text, a ``values`` filter that
selects no row of ``values.csv`` (or a row of another paper), and a printed number typed into
``args`` where ``values`` prints it (a ratio claim with both ``factor`` and a printed ``*_ratio``
row).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import pandas as pd
import yaml

from .. import paper as paper_values
from ..book import CHAPTERS as BOOK
from . import evaluators as _evaluators  # noqa: F401  (registers the evaluators and their args)
from .schema import EVALUATOR_ARGS, THRESHOLD_SOURCES, allowed_args, threshold_arg

FIELDS = ("id", "paper", "where", "statement", "values", "evaluate", "args", "evidence", "chapter")
OPTIONAL_FIELDS = ("note", "threshold_source", "threshold_why")

#: evidence kind -> what it is, and what is said while it is missing
EVIDENCE_KINDS = {
    "exact": ("counts from the model (params, MACs, AI, channel counts, memory)",
              "exact counts not in the results"),
    "gpu_energy": ("energy measured on a GPU (EPF protocol of gconvlib.measure)", "no GPU reference results"),
    "gpu_latency": ("time measured on a GPU (CPU time shown beside it as a proxy)",
                    "no GPU reference results"),
    "cpu_time": ("time measured on the CPU (the claim names no device)", "no timing results"),
    "training": ("trained runs (accuracy, error, loss) or the dataset itself",
                 "training runs of this chapter not in the store"),
    "parallel_time": ("wall clock / utilisation of a multi-process (multi-GPU) run",
                      "no multi-process runs (GC-2L Table 2 parallel runs)"),
    "none": ("nothing can decide it here (evaluate: untestable)", "nothing can decide it here"),
}

CHAPTERS = {paper: tuple(c.name for c in BOOK if c.paper == paper) for paper in dict.fromkeys(c.paper for c in BOOK)}

EVALUATORS = tuple(EVALUATOR_ARGS)  # every evaluator has registered on the import above

_ID = re.compile(r"^(e2gc|gc2l|vgg)\.[a-z0-9_]+\.[a-z0-9_]+$")
#: variant text in args: scheme text with k, a family (k = *), g = m (depthwise), or a structure
VARIANT = re.compile(r"^(standard|baseline|[A-E]|(gc|e2gc|gc2l|shuffle|flgc):(\d+|\*|m)(:unfused)?"
                     r"|conv\d+x\d+(\*\d+)?)$")
_VARIANT_ARGS = ("a", "b", "pairs", "over", "expect", "expect_not", "variants", "x", "lower", "upper",
                 "families", "family", "family_a", "family_b", "gap_to", "baseline")
_SPECIAL = frozenset({"matched", "varies_across_layers", "same_G_across_layers", "epochs", "values",
                      "a_below_b", "batch_size"})


def claims_path() -> Path:
    return paper_values.values_path().parent / "claims.yaml"


def _freeze(obj: Any) -> Any:
    if isinstance(obj, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in obj.items()})
    if isinstance(obj, (list, tuple)):
        return tuple(_freeze(v) for v in obj)
    return obj


def thaw(obj: Any) -> Any:
    """A frozen args structure as plain dicts and lists (for display and YAML)."""
    if isinstance(obj, Mapping):
        return {k: thaw(v) for k, v in obj.items()}
    if isinstance(obj, tuple):
        return [thaw(v) for v in obj]
    return obj


@dataclass(frozen=True, eq=False)
class Claim:
    """One registered claim (read-only; ``args`` and ``values`` are frozen mappings/tuples)."""

    id: str
    paper: str
    where: str
    statement: str
    values: tuple
    evaluate: str
    args: Mapping
    evidence: str
    chapter: str
    note: str = ""
    threshold_source: str = "none"
    threshold_why: str = ""

    def __hash__(self) -> int:
        return hash(self.id)

    def __eq__(self, other) -> bool:
        return isinstance(other, Claim) and other.id == self.id

    def __repr__(self) -> str:
        return f"Claim({self.id!r}, {self.evaluate})"

    def printed(self) -> pd.DataFrame:
        """The values.csv rows the claim's ``values`` filters select (all filters, in order)."""
        return _printed(self.values).copy()

    @property
    def threshold(self) -> tuple[str, Any] | None:
        """The (arg, value) the verdict rests on (:func:`.schema.threshold_arg`), or None."""
        return threshold_arg(self.evaluate, self.args)

    @property
    def missing_text(self) -> str:
        """What is missing while no evidence of this claim's kind exists."""
        return EVIDENCE_KINDS[self.evidence][1]


def _printed(filters: tuple) -> pd.DataFrame:
    frames = [paper_values.load_values(**dict(f)) for f in filters]
    if not frames:
        return paper_values.load_values().iloc[0:0]
    out = pd.concat(frames, ignore_index=True)
    return out.drop_duplicates(subset=[c for c in out.columns if c != "value_text"]).reset_index(drop=True)


def _variant_strings(value: Any):
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for key in ("min", "max", "variant", "drop_from"):
            if key in value:
                yield from _variant_strings(value[key])
        for key, sub in value.items():  # expect_not per model: {mobilenet_v1: [...]}
            if key not in ("min", "max", "variant", "drop_from", "quantity", "model"):
                yield from _variant_strings(sub)
    elif isinstance(value, (list, tuple)):
        for v in value:
            yield from _variant_strings(v)


def _check_entry(raw: Mapping, values: pd.DataFrame) -> list[str]:
    problems = []
    missing = [f for f in FIELDS if f not in raw]
    if missing:
        problems.append(f"missing field(s) {missing}")
    unknown = [f for f in raw if f not in FIELDS + OPTIONAL_FIELDS]
    if unknown:
        problems.append(f"unknown field(s) {unknown}")
    if missing:
        return problems
    cid = str(raw["id"])
    if not _ID.match(cid):
        problems.append("id must be <paper>.<location>.<name> (lowercase, digits, _)")
    if raw["paper"] not in paper_values.PAPERS:
        problems.append(f"unknown paper {raw['paper']!r}")
    elif not cid.startswith(raw["paper"] + "."):
        problems.append(f"id does not start with its paper {raw['paper']!r}")
    for f in ("where", "statement"):
        if not isinstance(raw[f], str) or not raw[f].strip():
            problems.append(f"{f} must be non-empty text")
    if raw["evaluate"] not in EVALUATOR_ARGS:
        problems.append(f"unknown evaluator {raw['evaluate']!r}; the evaluators are {', '.join(EVALUATORS)}")
    if raw["evidence"] not in EVIDENCE_KINDS:
        problems.append(f"unknown evidence kind {raw['evidence']!r}; use {', '.join(EVIDENCE_KINDS)}")
    if raw["chapter"] not in CHAPTERS.get(raw["paper"], ()):
        problems.append(f"unknown chapter {raw['chapter']!r} for paper {raw['paper']!r}; "
                        f"use {', '.join(CHAPTERS.get(raw['paper'], ()))}")
    if (raw["evaluate"] == "untestable") != (raw["evidence"] == "none"):
        problems.append("evaluate: untestable goes with evidence: none, and only with it")
    args = raw["args"]
    if not isinstance(args, Mapping):
        problems.append("args must be a mapping")
        args = {}
    if raw["evaluate"] in EVALUATOR_ARGS:
        _, required = EVALUATOR_ARGS[raw["evaluate"]]
        allowed = allowed_args(raw["evaluate"])
        bad = sorted(set(args) - allowed)
        if bad:
            problems.append(f"{raw['evaluate']} takes no arg(s) {bad}")
        for req in required:
            options = req if isinstance(req, tuple) else (req,)
            if not any(o in args for o in options):
                problems.append(f"{raw['evaluate']} needs arg {' or '.join(options)}")
    source = raw.get("threshold_source", "none")
    if source not in THRESHOLD_SOURCES:
        problems.append(f"threshold_source {source!r}: use {', '.join(THRESHOLD_SOURCES)}")
    elif raw["evaluate"] in EVALUATOR_ARGS:
        used = threshold_arg(raw["evaluate"], args)
        if used is None and source != "none":
            problems.append(f"threshold_source {source!r} but no arg sets a threshold")
        if used is not None and source == "none":
            problems.append(f"args.{used[0]} sets a threshold: mark threshold_source paper or reading")
        if source == "reading" and not str(raw.get("threshold_why") or "").strip():
            problems.append("a threshold of our reading needs threshold_why (one line: why this number)")
    for key in _VARIANT_ARGS:
        if key in args and not (key == "over" and args[key] == "epochs"):
            for text in _variant_strings(args[key]):
                if text not in _SPECIAL and not VARIANT.match(str(text)):
                    problems.append(f"args.{key}: {text!r} is not scheme text")
    # values: every filter selects rows, all of the claim's paper
    filters = raw["values"]
    if not isinstance(filters, list):
        problems.append("values must be a list of filters")
        filters = []
    for f in filters:
        try:
            rows = paper_values.load_values(**f)
        except (TypeError, ValueError) as exc:
            problems.append(f"values filter {f}: {exc}")
            continue
        if rows.empty:
            problems.append(f"values filter {f} selects no row of values.csv")
        elif set(rows["paper"]) != {raw["paper"]}:
            problems.append(f"values filter {f} selects rows of another paper ({sorted(set(rows['paper']))})")
    if raw["evaluate"] == "ratio" and "factor" in args and filters:
        printed = [paper_values.load_values(**f) for f in filters]
        if any(p["quantity"].str.endswith("_ratio").any() for p in printed if not p.empty):
            problems.append("args.factor types a number values.csv prints (a *_ratio row): use the row")
    return problems


def _read_entries(path: Path) -> list:
    with path.open(encoding="utf-8") as fh:
        entries = yaml.safe_load(fh)
    if not isinstance(entries, list):
        raise ValueError(f"{path}: expected a list of claims")
    return entries


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> tuple[Claim, ...]:
    values = paper_values.load_values()
    claims, seen, errors = [], set(), []
    for i, raw in enumerate(_read_entries(Path(path))):
        if not isinstance(raw, Mapping):
            errors.append(f"entry {i}: not a mapping")
            continue
        cid = raw.get("id", f"<entry {i}>")
        problems = _check_entry(raw, values)
        if cid in seen:
            problems.append("duplicate id")
        seen.add(cid)
        if problems:
            errors.append(f"claim {cid}: " + "; ".join(problems))
            continue
        claims.append(Claim(id=str(raw["id"]), paper=raw["paper"], where=raw["where"].strip(),
                            statement=" ".join(raw["statement"].split()), values=_freeze(raw["values"]),
                            evaluate=raw["evaluate"], args=_freeze(raw["args"]), evidence=raw["evidence"],
                            chapter=raw["chapter"], note=str(raw.get("note", "") or ""),
                            threshold_source=raw.get("threshold_source", "none"),
                            threshold_why=" ".join(str(raw.get("threshold_why") or "").split())))
    if errors:
        raise ValueError(f"{path}: " + "\n".join(errors))
    return tuple(claims)


def load_claims(paper: str | None = None, chapter: str | None = None, path: str | Path | None = None) -> list[Claim]:
    """The registered claims (all, or of one paper and/or chapter), validated on load."""
    path = Path(path) if path is not None else claims_path()
    if paper is not None and paper not in paper_values.PAPERS:
        raise ValueError(f"unknown paper {paper!r}; expected one of {sorted(paper_values.PAPERS)}")
    known = {c for cs in CHAPTERS.values() for c in cs}
    if chapter is not None and chapter not in known:
        raise ValueError(f"unknown chapter {chapter!r}; expected one of {sorted(known)}")
    claims = _load(str(path.resolve()), path.stat().st_mtime)
    return [c for c in claims if (paper is None or c.paper == paper) and (chapter is None or c.chapter == chapter)]


def get_claim(claim_id: str) -> Claim:
    for c in load_claims():
        if c.id == claim_id:
            return c
    raise KeyError(f"no claim {claim_id!r} in {claims_path()}")
