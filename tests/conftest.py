"""Shared fixtures.

Every test gets its own empty results store and cache (``GCONV_RESULTS``, ``GCONV_CACHE``), so
no test can pass on another test's cache hit. Before any of them, the whole session points both
at a session temporary folder, so module- or session-scoped fixtures (e.g. the book build in
``tests/test_book.py``) never write into the repository's data folders either.
"""
import pytest


@pytest.fixture(scope="session", autouse=True)
def session_store(tmp_path_factory):
    """Results and cache of session- and module-scoped fixtures: a session temporary folder."""
    root = tmp_path_factory.mktemp("gconv-session")
    mp = pytest.MonkeyPatch()
    mp.setenv("GCONV_RESULTS", str(root / "results"))
    mp.setenv("GCONV_CACHE", str(root / "cache"))
    yield root
    mp.undo()


@pytest.fixture(autouse=True)
def test_store(session_store, tmp_path_factory, monkeypatch):
    """Each test's own empty results store and cache (not inside its ``tmp_path``, which stays empty)."""
    root = tmp_path_factory.mktemp("gconv-test")
    monkeypatch.setenv("GCONV_RESULTS", str(root / "results"))
    monkeypatch.setenv("GCONV_CACHE", str(root / "cache"))
    return root


@pytest.fixture
def one_thread():
    """Timing tests on 2 shared cores: two torch threads fighting other processes can make a
    step take seconds, so measurement tests pin torch to one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
