"""Results store: keys from specs and code, atomic writes, cache hits, provenance, damaged
records moved aside and recomputed, one computation per key across processes."""
import json
import multiprocessing
import os
import threading
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import filelock
import pytest

from gconvlib.store import (DamagedRecordWarning, ResultsStore, atomic_write_text, provenance, results_dir,
                            spec_key)


@dataclass(frozen=True)
class Spec:
    model: str
    k: int
    version: int = 1


def test_key_depends_on_every_field_and_nothing_else():
    assert spec_key(Spec("a", 1)) == spec_key({"k": 1, "model": "a", "version": 1})
    assert spec_key({"k": 1, "model": "a", "version": 1}) == spec_key({"version": 1, "model": "a", "k": 1})
    assert spec_key({"outer": {"x": 1, "y": [1, 2]}}) == spec_key({"outer": {"y": [1, 2], "x": 1}})
    assert spec_key(Spec("a", 1)) != spec_key(Spec("a", 2))
    assert spec_key(Spec("a", 1)) != spec_key(Spec("a", 1, version=2))
    assert spec_key({"y": [1, 2]}) != spec_key({"y": [2, 1]})  # list order is data


def test_store_key_is_spec_key_and_code_fingerprint(tmp_path):
    store = ResultsStore(tmp_path)
    key = store.key("demo", Spec("a", 1))
    assert key.startswith(spec_key({"k": 1, "model": "a", "version": 1}) + "-")
    assert len(key) == 33 and key == store.key("demo", {"version": 1, "k": 1, "model": "a"})
    assert store.path("demo", Spec("a", 1)) == tmp_path / "demo" / f"{key}.json"


def test_default_root_is_each_tests_own_store():
    assert ResultsStore().root == results_dir() == Path(os.environ["GCONV_RESULTS"])
    assert not results_dir().exists()  # empty: nothing left by another test


def test_a_relative_store_path_set_after_import_means_the_directory_of_then(tmp_path, monkeypatch):
    # gconvlib.store is imported (above): the variable and the directory change only now
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    monkeypatch.chdir(tmp_path / "first")
    monkeypatch.setenv("GCONV_RESULTS", "myresults")
    assert ResultsStore().root == tmp_path / "first" / "myresults"
    monkeypatch.chdir(tmp_path / "second")    # read once, it stays: as a notebook kernel in notebooks/ sees it
    assert ResultsStore().root == results_dir() == tmp_path / "first" / "myresults"
    assert os.environ["GCONV_RESULTS"] == str(tmp_path / "first" / "myresults")
    monkeypatch.setenv("GCONV_RESULTS", "other")   # a later change is seen, against the directory of then
    assert ResultsStore().root == tmp_path / "second" / "other"


def test_get_or_compute_computes_once(tmp_path):
    store, calls = ResultsStore(tmp_path), []

    def compute():
        calls.append(1)
        return {"value": 42}

    first = store.get_or_compute("demo", Spec("m", 4), compute, profile="smoke")
    second = store.get_or_compute("demo", Spec("m", 4), compute, "smoke")  # positional profile
    assert calls == [1] and first["cache_hit"] is False and second["cache_hit"] is True
    assert second["result"] == {"value": 42} and second["spec"]["model"] == "m"
    assert second["kind"] == "demo" and second["spec_key"] == spec_key(Spec("m", 4))
    assert set(second["code"]) == {"fingerprint", "modules"} and second["code"]["modules"] == {}
    prov = second["provenance"]
    for key in ("commit", "dirty", "profile", "versions", "device", "host", "created"):
        assert key in prov
    assert prov["profile"] == "smoke" and prov["versions"]["torch"]
    stored = json.loads(store.path("demo", Spec("m", 4)).read_text())
    assert "cache_hit" not in stored and stored["result"] == {"value": 42}


def test_positional_get_put_still_work(tmp_path):
    store = ResultsStore(tmp_path)
    assert store.get("demo", {"a": 1}) is None
    record = store.put("demo", {"a": 1}, {"v": 1}, "quick")
    assert store.get("demo", {"a": 1}) == record
    assert [r["key"] for r in store.records("demo")] == [record["key"]]


def test_failed_computation_is_not_stored_and_releases_the_lock(tmp_path):
    store = ResultsStore(tmp_path)

    def boom():
        raise RuntimeError("diverged")

    with pytest.raises(RuntimeError, match="diverged"):
        store.get_or_compute("demo", {"a": 1}, boom)
    assert store.get("demo", {"a": 1}) is None and store.records("demo") == []
    with store.lock("demo", {"a": 1}, timeout=0):  # free again
        pass
    assert store.get_or_compute("demo", {"a": 1}, lambda: 7)["result"] == 7


def test_lock_is_reentrant_in_one_thread_and_excludes_other_threads(tmp_path):
    store, outcome = ResultsStore(tmp_path), []

    def other_thread():
        try:
            with store.lock("demo", {"a": 1}, timeout=0.2):
                outcome.append("acquired")
        except filelock.Timeout:
            outcome.append("timeout")

    with store.lock("demo", {"a": 1}) as held:
        assert held.is_locked
        record = store.get_or_compute("demo", {"a": 1}, lambda: 1)  # the same lock, reentrant
        thread = threading.Thread(target=other_thread)
        thread.start()
        thread.join()
    assert outcome == ["timeout"] and record["cache_hit"] is False
    with store.lock("demo", {"a": 2}, timeout=0.2):  # another key is another lock
        pass
    assert Path(held.lock_file).parent == tmp_path / "demo" / ".locks"
    assert [r["spec"] for r in store.records("demo")] == [{"a": 1}]  # lock files are no records


# -- code fingerprints in keys -------------------------------------------------------------

def test_key_follows_the_code_it_names(tmp_path, monkeypatch):
    code_dir = tmp_path / "code"
    code_dir.mkdir()
    used, unrelated = f"gconv_probe_used_{uuid.uuid4().hex[:8]}", f"gconv_probe_other_{uuid.uuid4().hex[:8]}"
    (code_dir / f"{used}.py").write_text("def f():\n    return 1\n")
    (code_dir / f"{unrelated}.py").write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(code_dir))
    store, spec = ResultsStore(tmp_path / "store"), {"n": 3}

    old = store.put("demo", spec, {"v": 1}, code=[used])
    assert store.get("demo", spec, code=[used]) == old
    assert store.get("demo", spec) is None  # other code, other key
    key_with_unrelated = store.key("demo", spec, code=[unrelated])

    (code_dir / f"{used}.py").write_text("def f():\n    return 2  # changed\n")
    assert store.key("demo", spec, code=[used]) != old["key"]
    assert store.get("demo", spec, code=[used]) is None
    assert store.key("demo", spec, code=[unrelated]) == key_with_unrelated
    new = store.get_or_compute("demo", spec, lambda: {"v": 2}, code=[used])
    assert new["cache_hit"] is False and new["key"] != old["key"]
    assert new["key"].split("-")[0] == old["key"].split("-")[0] == spec_key(spec)

    found = store.find("demo", spec)
    assert [r["result"] for r in found] == [{"v": 2}, {"v": 1}]  # newest first, whatever the code
    assert store.find("demo", {"n": 4}) == [] and store.find("missing", spec) == []
    (code_dir / f"{used}.py").write_text("def f():\n    return 1\n")  # back as it was
    assert store.get("demo", spec, code=[used])["result"] == {"v": 1}


# -- damaged records ----------------------------------------------------------------------

@pytest.mark.parametrize("damage", [b'{"truncated": ', b"[1, 2, 3]", b'{"kind": "demo"}', b"\xff\xfe"])
def test_damaged_record_is_moved_aside_and_recomputed(tmp_path, damage):
    store = ResultsStore(tmp_path)
    path = store.path("demo", {"a": 1})
    path.parent.mkdir(parents=True)
    path.write_bytes(damage)

    with pytest.warns(DamagedRecordWarning) as caught:
        assert store.get("demo", {"a": 1}) is None
    message = str(caught[0].message)
    moved = list((tmp_path / "demo" / "damaged").iterdir())
    assert len(moved) == 1 and moved[0].name.startswith(path.name + ".")
    assert moved[0].read_bytes() == damage  # kept as it was
    assert str(path) in message and str(moved[0]) in message
    assert not path.exists()

    path.write_bytes(damage)  # damaged again: get_or_compute recomputes
    with pytest.warns(DamagedRecordWarning, match=path.name):
        record = store.get_or_compute("demo", {"a": 1}, lambda: {"fresh": True})
    assert record["cache_hit"] is False and record["result"] == {"fresh": True}
    assert json.loads(path.read_text())["result"] == {"fresh": True}
    assert len(list((tmp_path / "demo" / "damaged").iterdir())) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert store.get_or_compute("demo", {"a": 1}, lambda: {"fresh": False})["cache_hit"] is True


def test_record_under_another_key_is_damaged(tmp_path):
    store = ResultsStore(tmp_path)
    good = store.put("demo", {"a": 1}, 1)
    wrong = store.path("demo", {"a": 2})
    wrong.write_text(json.dumps(good))  # a record copied to the wrong file name
    with pytest.warns(DamagedRecordWarning, match="does not match its file name"):
        assert store.get("demo", {"a": 2}) is None
    assert store.get("demo", {"a": 1}) == good


def test_records_skips_and_sets_aside_damaged_records(tmp_path):
    store = ResultsStore(tmp_path)
    good = store.put("demo", {"a": 1}, 1)
    bad = tmp_path / "demo" / "0123456789abcdef-0123456789abcdef.json"
    bad.write_text('{"truncated": ')
    with pytest.warns(DamagedRecordWarning, match=bad.name):
        assert store.records("demo") == [good]
    assert [p.read_text() for p in (tmp_path / "demo" / "damaged").iterdir()] == ['{"truncated": ']
    assert store.records("elsewhere") == []


# -- two processes ------------------------------------------------------------------------

def _slow_compute(counter: str) -> dict:
    with open(counter, "a") as f:
        f.write(f"{os.getpid()}\n")
    time.sleep(1.0)
    return {"by": os.getpid(), "token": uuid.uuid4().hex}


def _worker(root: str, counter: str, barrier, queue) -> None:
    from functools import partial

    store = ResultsStore(root)
    barrier.wait(timeout=60)  # both ask at the same moment
    record = store.get_or_compute("demo", {"shared": 1}, partial(_slow_compute, counter))
    queue.put((record["cache_hit"], record["result"]))


def test_two_processes_compute_the_same_key_once(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    counter = tmp_path / "calls.txt"
    barrier, queue = ctx.Barrier(2), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(str(tmp_path / "store"), str(counter), barrier, queue))
             for _ in range(2)]
    for p in procs:
        p.start()
    answers = [queue.get(timeout=60) for _ in procs]
    for p in procs:
        p.join(timeout=30)
    assert [p.exitcode for p in procs] == [0, 0]
    assert len(counter.read_text().splitlines()) == 1
    assert sorted(hit for hit, _ in answers) == [False, True]
    assert answers[0][1] == answers[1][1]
    assert answers[0][1]["by"] == int(counter.read_text())


# -- atomic writes and provenance -----------------------------------------------------------

def test_atomic_write_leaves_no_partial_file(tmp_path):
    target = tmp_path / "r.json"
    atomic_write_text(target, json.dumps({"a": 1}))

    class Boom:
        def __str__(self):
            raise RuntimeError("interrupted")

    try:
        atomic_write_text(target, Boom())  # the write fails before anything is replaced
    except Exception:
        pass
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["r.json"]


def test_provenance_has_device_and_versions():
    p = provenance("quick")
    assert p["device"]["cpu_count"] >= 1 and "cuda" in p["device"]
    assert set(p["versions"]) >= {"python", "torch", "gconvlib"}


# -- the fields a kind's result must have -----------------------------------------------------------

def test_a_result_without_a_required_field_is_refused_in_one_line(tmp_path):
    store = ResultsStore(tmp_path)
    with pytest.raises(ValueError) as refused:
        store.put("chapter", {"chapter": "vgg_complexity"}, {"claims": []})
    assert "'chapter'" in str(refused.value) and "parameters" in str(refused.value)
    assert "\n" not in str(refused.value)
    with pytest.raises(ValueError, match="'train' result must be a JSON object"):
        store.get_or_compute("train", {"seed": 0}, lambda: [0.5])
    assert not list(tmp_path.rglob("*.json"))   # nothing written, under no key
    store.put("chapter", {"chapter": "vgg_complexity"}, {"claims": [], "parameters": {}})   # a whole one is stored


def test_a_fresh_process_that_imported_only_the_store_knows_a_kinds_fields(tmp_path):
    """Nothing but gconvlib.store imported (no chapter, no training module registered anything):
    a chapter record without its parameters is still set aside as not of its kind, a whole one read."""
    import subprocess
    import sys
    import textwrap

    store = ResultsStore(tmp_path)
    whole = store.put("chapter", {"chapter": "a"}, {"claims": [], "parameters": {}})
    lacking = store.put("chapter", {"chapter": "b"}, {"claims": [], "parameters": {}})
    path = tmp_path / "chapter" / f"{lacking['key']}.json"
    record = json.loads(path.read_text())
    del record["result"]["parameters"]
    path.write_text(json.dumps(record))
    code = textwrap.dedent(f'''
        import sys, warnings
        from gconvlib.store import ResultsStore
        assert not [m for m in sys.modules if m.startswith(("gconvlib.chapters", "gconvlib.train"))]
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            records = ResultsStore({str(tmp_path)!r}).records("chapter")
        print([r["key"] for r in records])
        print(str(caught[0].message) if caught else "no warning")
    ''')
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                          cwd=Path(__file__).resolve().parent.parent)
    assert proc.returncode == 0, proc.stderr[-2000:]
    keys, warning = proc.stdout.strip().splitlines()
    assert keys == repr([whole["key"]])
    assert "'chapter' result must have parameters" in warning and path.name in warning
    assert not path.exists() and list((tmp_path / "chapter" / "damaged").iterdir())


def test_every_kind_with_required_fields_is_declared_in_the_one_table(tmp_path):
    """gconvlib/kinds.py holds every kind's required fields, and nothing else of the library
    declares a ``RESULT_FIELDS``: a second table would be checked by nobody. The writers name their
    kinds from it, and the store checks what it lists (a record lacking a listed field is refused).
    That kinds.py imports nothing of gconvlib is tests/test_imports.py's floor check."""
    import ast

    from gconvlib import kinds
    from gconvlib.chapters import CHAPTER_FAILURE_KIND, CHAPTER_KIND
    from gconvlib.train.spec import KIND as TRAIN_KIND

    lib = Path(__file__).resolve().parent.parent / "gconvlib"
    declaring = sorted(str(path.relative_to(lib)) for path in lib.rglob("*.py")
                       if any(isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "RESULT_FIELDS"
                                                                  for t in node.targets)
                              for node in ast.parse(path.read_text()).body))
    assert declaring == ["kinds.py"]
    assert {CHAPTER_KIND, CHAPTER_FAILURE_KIND, TRAIN_KIND} == set(kinds.RESULT_FIELDS)
    for kind, fields in kinds.RESULT_FIELDS.items():
        with pytest.raises(ValueError, match=fields[-1]):
            ResultsStore(tmp_path).put(kind, {"spec": kind}, {f: None for f in fields[:-1]})
