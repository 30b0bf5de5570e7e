"""Fetching real data with pooch, and the errors that tell a user what to do by hand.

pooch streams each download into a temporary file in the target folder and moves it into place
only once it is complete and its hash matches, so an interrupted download never leaves a partial
file behind. That is the resumption we offer: per file, not per byte. Re-running after an
interruption skips every file already in place and starts the missing ones from scratch.

``GCONV_OFFLINE=1`` turns every download into an immediate :class:`DatasetUnavailable`, for
machines that must never touch the network (the build machines, the tests).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..runtime import setting_flag


OFFLINE_ENV = "GCONV_OFFLINE"
TIMEOUT_S = 30         # per request; an unreachable host fails in seconds, not minutes


class DatasetUnavailable(RuntimeError):
    """The real data is neither on disk nor downloadable (offline, unreachable, or not public)."""


class DatasetCorrupted(RuntimeError):
    """A file's content does not match its pinned hash (broken download or changed upstream)."""


@dataclass(frozen=True)
class Remote:
    """One downloadable file: the name it gets on disk, its URL, and its hash if pinned.

    ``known_hash`` is ``"sha256:..."`` / ``"md5:..."`` or ``None``. ``None`` means we have no
    reliably published hash yet: pooch then logs the SHA256 of the first download, and the hash is
    pinned here once that download has been verified against the upstream source.
    """
    fname: str
    url: str
    known_hash: str | None = None


def offline() -> bool:
    return setting_flag(OFFLINE_ENV)


def unavailable(task: str, files: list[Remote], folder: Path, reason: str, extra: str = "") -> DatasetUnavailable:
    """The error a user can act on, in one line: which files, from where, into which folder, and
    the option that names another folder."""
    listing = ", ".join(f"{r.fname} from {r.url}" for r in files)
    extra = f". {' '.join(extra.split())}" if extra.strip() else ""   # one line, whatever the caller wrote
    return DatasetUnavailable(
        f"{task}: real data not available ({reason}); download {listing} into {Path(folder).resolve()}, "
        f"or pass --data-root <folder that holds them> (gconv train; root= in Python; "
        f"GCONV_CACHE moves the cache folder){extra}")


def _downloader():
    """pooch's HTTP downloader with a progress bar (tqdm) and a bounded timeout."""
    import pooch  # imported where used: the measurement path never downloads

    return pooch.HTTPDownloader(progressbar=True, timeout=TIMEOUT_S)


def fetch(remote: Remote, folder: Path) -> Path:
    """Download ``remote`` into ``folder`` (skipped when already there) and check its hash.

    Raises :class:`DatasetUnavailable` when offline or the host cannot be reached, and
    :class:`DatasetCorrupted` when the downloaded bytes do not match ``known_hash``.
    """
    import pooch

    if offline():
        raise DatasetUnavailable(f"{OFFLINE_ENV} is set: not downloading {remote.url}")
    try:
        path = pooch.retrieve(remote.url, remote.known_hash, fname=remote.fname, path=folder,
                              progressbar=True, downloader=_downloader())
    except ValueError as err:       # pooch's hash mismatch; it has already deleted the bad file
        if "hash" not in str(err).lower():
            raise
        raise DatasetCorrupted(
            f"{remote.fname} downloaded from {remote.url} does not match its pinned hash "
            f"{remote.known_hash} ({err}). The bad file was deleted. Try again; if it fails the same "
            f"way the upstream file has changed: check it by hand before updating the hash.") from err
    except OSError as err:          # requests' errors derive from OSError: DNS, refused, timeout, HTTP
        # requests' own text repeats the URL and nests its causes; their kind is what a user needs
        raise DatasetUnavailable(f"could not download {remote.url}: {_network_reason(err)}") from err
    return Path(path)


def _network_reason(err: OSError) -> str:
    """The innermost cause of a failed request, by kind ("NameResolutionError", "timed out")."""
    cause = err
    while cause.__cause__ is not None or (cause.__context__ is not None and not cause.__suppress_context__):
        cause = cause.__cause__ or cause.__context__
    text = str(cause).splitlines()[0] if str(cause) else ""
    return f"{type(cause).__name__}" + (f": {text[:120]}" if text and len(text) <= 120 else "")


def verify(path: Path, known_hash: str | None) -> None:
    """Check a file already on disk (e.g. dropped in by hand) against its pinned hash."""
    import pooch

    if known_hash is None:
        return
    alg, _, expected = known_hash.rpartition(":")
    actual = pooch.file_hash(str(path), alg=alg or "sha256")
    if actual.lower() != expected.lower():
        raise DatasetCorrupted(
            f"{path} is corrupted or not the expected file: its {alg or 'sha256'} is {actual}, "
            f"expected {expected}. Delete it and download it again.")


def _writing(folder: Path, will_write: bool = True):
    """A lock held while a data set's folder is filled: ``gconv notebooks`` trains several runs at
    once, and two processes must not download or unpack the same files into one folder together
    (one would read a half-unpacked layout as present). Offline, with nothing to unpack, nothing
    is written and no lock is taken (nor its folder made)."""
    from contextlib import nullcontext

    from filelock import FileLock

    if not will_write:
        return nullcontext()
    folder.mkdir(parents=True, exist_ok=True)
    return FileLock(str(folder / ".gconv-download.lock"))


def ensure(task: str, files: list[Remote], folder: Path, download: bool) -> list[Path]:
    """Paths of ``files`` in ``folder``, downloading the missing ones when allowed."""
    folder = Path(folder)
    missing = lambda: [r for r in files if not (folder / r.fname).is_file()]  # noqa: E731
    if missing() and not download:
        raise unavailable(task, files, folder, "files missing and download=False")
    if missing():
        with _writing(folder, will_write=not offline()):
            for remote in missing():   # again under the lock: another process may have fetched them
                try:
                    fetch(remote, folder)
                except DatasetUnavailable as err:
                    raise unavailable(task, files, folder, str(err).splitlines()[0]) from err
    return [folder / r.fname for r in files]


def ensure_extracted(task: str, remote: Remote, folder: Path, present, download: bool) -> None:
    """Make sure the unpacked contents of the tar archive ``remote`` are in ``folder``.

    ``present()`` says whether the unpacked layout is already there. An archive dropped in by hand
    is hash-checked before unpacking; one pooch just downloaded was checked by pooch.
    """
    import pooch

    folder = Path(folder)
    if present():
        return
    archive = folder / remote.fname
    if not archive.is_file() and not download:
        raise unavailable(task, [remote], folder, "files missing and download=False")
    with _writing(folder, will_write=archive.is_file() or not offline()):
        if present():   # another process unpacked it while this one waited
            return
        if archive.is_file():
            verify(archive, remote.known_hash)
        else:
            try:
                fetch(remote, folder)
            except DatasetUnavailable as err:
                raise unavailable(task, [remote], folder, str(err).splitlines()[0]) from err
        pooch.Untar(extract_dir=".")(str(archive), "download", None)
        if not present():
            raise DatasetCorrupted(f"{archive} was unpacked into {folder} but the expected layout is not there")
