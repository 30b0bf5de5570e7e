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


@pytest.fixture
def one_thread():
    """Timing tests on 2 shared cores: two torch threads fighting other processes can make a
    step take seconds, so measurement tests pin torch to one thread."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
