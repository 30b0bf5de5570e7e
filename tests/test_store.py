"""Results store: keys from specs, atomic writes, cache hits and provenance."""
import json
from dataclasses import dataclass

from gconvlib.store import ResultsStore, atomic_write_text, provenance, spec_key


@dataclass(frozen=True)
class Spec:
    model: str
    k: int
    version: int = 1


def test_key_depends_on_every_field_and_nothing_else():
    assert spec_key(Spec("a", 1)) == spec_key({"k": 1, "model": "a", "version": 1})
    assert spec_key(Spec("a", 1)) != spec_key(Spec("a", 2))
    assert spec_key(Spec("a", 1)) != spec_key(Spec("a", 1, version=2))


def test_get_or_compute_computes_once(tmp_path):
    store, calls = ResultsStore(tmp_path), []

    def compute():
        calls.append(1)
        return {"value": 42}

    first = store.get_or_compute("demo", Spec("m", 4), compute, profile="smoke")
    second = store.get_or_compute("demo", Spec("m", 4), compute, profile="smoke")
    assert calls == [1] and not first["cache_hit"] and second["cache_hit"]
    assert second["result"] == {"value": 42} and second["spec"]["model"] == "m"
    prov = second["provenance"]
    for key in ("commit", "dirty", "profile", "versions", "device", "created"):
        assert key in prov
    assert prov["profile"] == "smoke" and prov["versions"]["torch"]


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
