"""Find a Chromium (or Chrome) for the book's browser test, installing one if asked and possible.

    python tests/chromium.py            # print the path of a usable browser; exit 1 if there is none
    python tests/chromium.py --install  # the same, but first try to install one when none is found

Where it looks, in order:

1. ``GCONV_CHROMIUM`` (a path or a command name): used as given; an error if it does not run.
2. A system Chromium or Chrome on ``PATH`` (``chromium``, ``chromium-browser``, ``google-chrome``,
   ``google-chrome-stable``, ``chrome``) or in the usual application folders (macOS, /opt).
3. The Chromium that ``playwright install chromium`` downloaded earlier, if any.

With ``--install``, when nothing is found (``GCONV_CHROMIUM_INSTALL=no`` turns this off):

4. Debian's ``chromium`` package (``apt-get install chromium``) where apt-get exists and we are
   root or may use ``sudo`` without a password.
5. ``python -m playwright install chromium`` (a download from Playwright's CDN), only when that
   CDN answers.

A browser counts as usable when ``<browser> --version`` names Chromium or Chrome (Ubuntu's
``chromium-browser`` stub that asks for the snap is not). When none can be had, one line on
stderr says which command installs one. The test reads the path from ``GCONV_CHROMIUM``
(the Makefile sets it) or calls :func:`find` itself.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
from pathlib import Path

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
APP_PATHS = (
    "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome",
    "/Applications/Chromium.app/Contents/MacOS/Chromium",
    "/opt/google/chrome/chrome",
    "/snap/bin/chromium",
)
HOW_TO_INSTALL = ("no Chromium or Chrome found for the browser test: install one with "
                  "`sudo apt-get install chromium` (Debian) or `.venv/bin/python -m playwright install "
                  "chromium`, or set GCONV_CHROMIUM=/path/to/chrome")
LOG = Path(__file__).resolve().parents[1] / ".venv" / "chromium-install.log"


def version(path: str) -> str | None:
    """``path --version`` if it names Chromium or Chrome, else None."""
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return None
    text = out.stdout.strip()
    return text if out.returncode == 0 and ("Chromium" in text or "Chrome" in text) else None


def playwright_chromium() -> str | None:
    """The browser a previous ``playwright install chromium`` left, if there is one."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        return None
    try:
        with sync_playwright() as p:
            path = p.chromium.executable_path
    except Exception:  # the driver itself cannot start: no playwright browser either
        return None
    return path if path and Path(path).is_file() else None


class NotUsable(RuntimeError):
    pass


def find() -> str | None:
    """The path of a usable Chromium/Chrome, or None. Installs nothing."""
    given = os.environ.get("GCONV_CHROMIUM", "").strip()
    if given:
        path = shutil.which(given) or given
        if version(path):
            return str(Path(path).resolve()) if os.sep in path else path
        raise NotUsable(f"GCONV_CHROMIUM={given!r} is not a Chromium or Chrome that runs "
                        f"(`{given} --version` failed)")
    for candidate in [shutil.which(n) for n in NAMES] + list(APP_PATHS):
        if candidate and Path(candidate).is_file() and version(candidate):
            return candidate
    path = playwright_chromium()
    return path if path and version(path) else None


def _say(message: str) -> None:
    print(f"[gconv] {message}", file=sys.stderr, flush=True)


def _run_logged(cmd: list[str], env: dict | None = None) -> bool:
    LOG.parent.mkdir(parents=True, exist_ok=True)
    with LOG.open("a") as log:
        log.write(f"$ {' '.join(cmd)}\n")
        log.flush()
        try:
            return subprocess.run(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                  timeout=1800).returncode == 0
        except (OSError, subprocess.SubprocessError) as e:
            log.write(f"{e}\n")
            return False


def install_with_apt() -> bool:
    if not shutil.which("apt-get"):
        return False
    if os.geteuid() == 0:
        sudo = []
    elif shutil.which("sudo") and subprocess.run(["sudo", "-n", "true"], capture_output=True).returncode == 0:
        sudo = ["sudo", "-n"]
    else:
        return False
    _say(f"installing Debian's chromium for the browser test (apt-get install chromium; log: {LOG})")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    return (_run_logged(sudo + ["apt-get", "update", "-qq"], env)
            and _run_logged(sudo + ["apt-get", "install", "-y", "-qq", "chromium"], env))


def playwright_cdn_answers(timeout: float = 5.0) -> bool:
    """Whether Playwright's download host can be reached (offline machines: no)."""
    import urllib.error
    import urllib.request

    host = os.environ.get("PLAYWRIGHT_DOWNLOAD_HOST", "https://cdn.playwright.dev").rstrip("/")
    try:
        urllib.request.urlopen(urllib.request.Request(host + "/", method="HEAD"), timeout=timeout)
        return True
    except urllib.error.HTTPError as e:  # the host answered (e.g. 403/404 for "/")
        return e.code < 500 and e.code != 407
    except (OSError, ValueError):
        return False


def install_with_playwright() -> bool:
    try:
        import playwright  # noqa: F401
    except ImportError:
        return False
    if not playwright_cdn_answers():
        return False
    _say(f"downloading Playwright's Chromium for the browser test (playwright install chromium; log: {LOG})")
    return _run_logged([sys.executable, "-m", "playwright", "install", "chromium"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--install", action="store_true", help="install a browser if none is found")
    args = ap.parse_args(argv)
    try:
        path = find()
        if path is None and args.install and os.environ.get("GCONV_CHROMIUM_INSTALL", "yes") != "no":
            for install in (install_with_apt, install_with_playwright):
                if install() and (path := find()):
                    break
    except NotUsable as e:
        print(f"[gconv] {e}", file=sys.stderr)
        return 1
    if path is None:
        print(f"[gconv] {HOW_TO_INSTALL}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
