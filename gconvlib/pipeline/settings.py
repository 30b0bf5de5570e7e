"""What a run executes: the notebooks (from the chapter registry), profiles and ``--set`` overrides.

Every mistake in a profile or an override is a :class:`PipelineError` of one line naming the
file or the ``--set`` item, checked before any notebook runs.
"""
from __future__ import annotations

from pathlib import Path

import yaml

from ..chapters import CHAPTERS, declared_parameters
from ..runtime import ROOT, notebook_dir, setting_path

PROFILES = ("smoke", "quick", "paper")

# Summary pages run after the chapters, whose judged claims they read: they re-run whenever a
# chapter ran, and the landing page is last.
SUMMARIES = {"claims": "every claim of the three papers with its verdict",
             "index": "the landing page: reproduction status"}
NOTEBOOKS = [c.name for c in CHAPTERS] + list(SUMMARIES)
WHAT = {c.name: c.reproduces for c in CHAPTERS} | SUMMARIES
PROFILE_KEYS = ("description", "defaults", "notebooks")


class PipelineError(RuntimeError):
    """A mistake in what was asked (profile, override, notebook name): reported as one line."""


def book_dir() -> Path:
    return setting_path("GCONV_BOOK_DIR", ROOT / "book")


def available_notebooks() -> list[str]:
    return [name for name in NOTEBOOKS if (notebook_dir() / f"{name}.ipynb").exists()]


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """A YAML error as a few words and its line (yaml's own text spans several lines)."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    return f"{problem} (line {mark.line + 1}, column {mark.column + 1})" if mark else problem


def load_profile(name: str) -> dict:
    """The profile file's content, checked: its shape, and that it names only existing notebooks."""
    path = notebook_dir() / "profiles" / f"{name}.yaml"
    if not path.exists():
        raise PipelineError(f"unknown profile {name!r}; choose one of {', '.join(PROFILES)} "
                            f"(files in {path.parent})")
    try:
        profile = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise PipelineError(f"profile file {path} is not valid YAML: {_yaml_problem(e)}") from None
    if not isinstance(profile, dict):
        raise PipelineError(f"profile file {path} must be a mapping with keys {', '.join(PROFILE_KEYS)}, "
                            f"not a {type(profile).__name__}")
    unknown = sorted(set(profile) - set(PROFILE_KEYS))
    if unknown:
        raise PipelineError(f"profile file {path}: unknown key(s) {', '.join(unknown)}; "
                            f"the keys are {', '.join(PROFILE_KEYS)}")
    profile["notebooks"] = profile.get("notebooks") or {}
    for key in ("defaults", "notebooks"):
        if not isinstance(profile.get(key) or {}, dict):
            raise PipelineError(f"profile file {path}: {key!r} must be a mapping, "
                                f"not a {type(profile[key]).__name__}")
    for notebook, values in profile["notebooks"].items():
        if notebook not in NOTEBOOKS:
            raise PipelineError(f"profile file {path} names notebook {notebook!r}, which does not exist; "
                                f"notebooks are {', '.join(NOTEBOOKS)}")
        if not isinstance(values or {}, dict):
            raise PipelineError(f"profile file {path}: the entry of {notebook!r} must be a mapping of "
                                f"parameter: value, not a {type(values).__name__}")
    return profile


def parse_overrides(items: list[str] | None) -> dict[str, dict]:
    """``["nb.key=value", ...]`` -> ``{nb: {key: value}}``; values are read as YAML (numbers, lists)."""
    out: dict[str, dict] = {}
    for item in items or []:
        target, sep, raw = item.partition("=")
        notebook, dot, key = target.partition(".")
        if not sep or not dot or not notebook or not key:
            raise PipelineError(f"override {item!r} is not of the form NOTEBOOK.PARAMETER=VALUE")
        try:
            out.setdefault(notebook, {})[key] = yaml.safe_load(raw)
        except yaml.YAMLError as e:
            raise PipelineError(f"override {item!r}: the value {raw!r} is not valid YAML ({_yaml_problem(e)}); "
                                f"write a list without spaces (x=[1,4]) or quote the whole --set "
                                f"(make: SET='x=[1,4] y=2')") from None
    return out


def parameter_sources(notebook: str, profile_name: str, profile: dict,
                      overrides: dict) -> tuple[dict, dict]:
    """(parameters to inject, where each came from)."""
    try:
        declared = declared_parameters(notebook)
    except ValueError as e:   # not one cell tagged parameters
        raise PipelineError(str(e)) from None
    if declared is None:
        raise PipelineError(f"notebook {notebook!r} is not in {notebook_dir()}")
    params, source = {}, {}
    if "profile" in declared:
        params["profile"], source["profile"] = profile_name, "the run"
    for key, value in (profile.get("defaults") or {}).items():
        if key in declared:
            params[key], source[key] = value, f"profile {profile_name}"
    for origin, values in ((f"profile {profile_name}", profile["notebooks"].get(notebook) or {}),
                           ("override", overrides.get(notebook, {}))):
        for key, value in values.items():
            if key not in declared:
                raise PipelineError(f"{origin}: notebook {notebook!r} has no parameter {key!r}; "
                                    f"its parameters are {', '.join(sorted(declared))}")
            params[key], source[key] = value, origin
    return params, source


def notebook_parameters(notebook: str, profile_name: str, profile: dict, overrides: dict) -> dict:
    """The profile's values for this notebook, then the overrides; every name must be declared."""
    return parameter_sources(notebook, profile_name, profile, overrides)[0]
