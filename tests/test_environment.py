"""pyproject.toml and environment.yml describe the same pinned environment."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def test_pins_agree_between_pyproject_and_environment_yml():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pyproject = set(project["dependencies"]) | {d for group in project["optional-dependencies"].values()
                                                for d in group}
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    conda_pins = {d for d in pip if not d.startswith("-e")}
    assert conda_pins == pyproject
    assert all(re.fullmatch(r"[A-Za-z0-9_.\-\[\]]+==[\w.]+", d) for d in pyproject), "every dependency pinned"
    assert "torch==2.14.1" in pyproject and "torchvision==0.29.1" in pyproject


def test_make_lab_extra_and_the_store_lock_are_pinned():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "filelock==4.3.1" in project["dependencies"]          # the results store's per-key lock
    lab = set(project["optional-dependencies"]["lab"])              # `make lab`
    assert {d.split("==")[0] for d in lab} == {"jupyterlab", "ipywidgets"}
    assert "lab" in (ROOT / "Makefile").read_text() and "'.[test,lab]'" in (ROOT / "Makefile").read_text()
