"""Shared fixtures.

All tests of one session share one results store in a temporary folder, so model counts made
by one test (or one notebook run) are reused by the others, exactly as the store is meant to
work; nothing is written into the repository's data folders. Tests that need an empty store
make their own ``ResultsStore(tmp_path)``.
"""
import pytest


@pytest.fixture(scope="session", autouse=True)
def session_store(tmp_path_factory):
    root = tmp_path_factory.mktemp("gconv")
    mp = pytest.MonkeyPatch()
    mp.setenv("GCONV_RESULTS", str(root / "results"))
    mp.setenv("GCONV_CACHE", str(root / "cache"))
    yield root
    mp.undo()
