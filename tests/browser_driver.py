"""Plumbing for tests/test_browser.py: a JupyterLab server of our own, and headless Chromium driven by Playwright.

The server runs in its own process group with a random free port, a random token and temporary Jupyter
config/data/runtime/IPython folders (the user's settings cannot matter); the kernel is the one of the Python
running the tests (the kernelspec ``python3`` resolves to ``sys.executable``), so it imports this checkout's
nn3d. The browser is the system Chromium (Debian's ``chromium``): Playwright's wheel ships its node driver, and
``executable_path`` means no browser download. Every wait has a deadline and fails with what it was waiting for.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np

CHROMIUM_ENV = "NN3D_CHROMIUM"  # a Chromium/Chrome binary to use instead of the one on PATH
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
RFB_IMG = "img.renderview-view"  # jupyter_rfb's view: an <img> whose src is each new frame (blob: or data: URL)


def find_chromium() -> str | None:
    """Path of a Chromium binary ($NN3D_CHROMIUM, else the first of CHROMIUM_NAMES on PATH), or None."""
    named = os.environ.get(CHROMIUM_ENV)
    if named:
        return named if os.access(named, os.X_OK) else None
    return next((p for p in map(shutil.which, CHROMIUM_NAMES) if p), None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LabServer:
    """``jupyter lab`` serving ``root`` on 127.0.0.1 until :meth:`stop` (which always kills its process group)."""

    def __init__(self, root: Path, scratch: Path):
        self.root, self.scratch = Path(root), Path(scratch)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.log_path = self.scratch / "jupyter-lab.log"
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 60.0) -> LabServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
        for var, sub in (("JUPYTER_CONFIG_DIR", "config"), ("JUPYTER_DATA_DIR", "data"),
                         ("JUPYTER_RUNTIME_DIR", "runtime"), ("IPYTHONDIR", "ipython")):
            env[var] = str(self.scratch / sub)
            (self.scratch / sub).mkdir(parents=True, exist_ok=True)
        settings = self.scratch / "config" / "lab" / "user-settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True, exist_ok=True)  # no "get notified about Jupyter news?" toast over the page
        (settings / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
        tracker = settings.parent / "notebook-extension"  # every cell in the DOM (no windowing): outputs below the
        tracker.mkdir(exist_ok=True)  # fold exist, so the widget can be found and scrolled to
        (tracker / "tracker.jupyterlab-settings").write_text('{"windowingMode": "none"}')
        env["JUPYTER_PLATFORM_DIRS"] = "1"  # no deprecation warning about the folders' future defaults
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={self.port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={self.token}", f"--ServerApp.root_dir={self.root}",
               "--LabApp.expose_app_in_browser=True",  # window.jupyterapp: run cells by command, read outputs
               "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
               "--ServerApp.terminals_enabled=False"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")  # CI containers run as root
        self._log = open(self.log_path, "wb")  # noqa: SIM115 (closed in stop)
        self.proc = subprocess.Popen(cmd, cwd=self.root, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyter lab exited with {self.proc.returncode}:\n{self.log_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError):
                with urllib.request.urlopen(self.url("api/status"), timeout=2) as r:
                    if r.status == 200:
                        json.load(r)
                        return self
            if time.monotonic() > deadline:
                raise TimeoutError(f"jupyter lab did not answer on port {self.port} within {timeout:.0f} s:\n"
                                   f"{self.log_tail()}")
            time.sleep(0.25)

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}/{path}?token={self.token}"

    def log_tail(self, n: int = 3000) -> str:
        with contextlib.suppress(OSError):
            return self.log_path.read_bytes()[-n:].decode(errors="replace")
        return ""

    def stop(self) -> None:
        """SIGTERM to the server's process group (server and kernels), SIGKILL after 10 s."""
        if self.proc is None:
            return
        for sig, wait in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, sig)
            try:
                self.proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
        with contextlib.suppress(ProcessLookupError):  # kernels left in the group after the server went
            os.killpg(self.proc.pid, signal.SIGKILL)
        self._log.close()
        self.proc = None


@contextlib.contextmanager
def chromium_page(executable: str, size: tuple[int, int] = (1280, 1200)):
    """A Playwright page in headless ``executable`` (device scale 1: one screenshot pixel per CSS pixel)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=executable, headless=True, timeout=60_000,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])  # root in a container
        try:
            page = browser.new_page(viewport={"width": size[0], "height": size[1]}, device_scale_factor=1)
            yield page
        finally:
            browser.close()


def wait_js(page, expr: str, what: str, timeout: float, arg=None):
    """Wait until the JS function ``expr`` returns a truthy value; fail saying ``what`` did not happen."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    try:
        return page.wait_for_function(expr, arg=arg, timeout=timeout * 1000, polling=250).json_value()
    except PlaywrightTimeout:
        raise TimeoutError(f"{what} within {timeout:.0f} s") from None


# the open notebook panel, its kernel status and its code cells' outputs, read from JupyterLab's own models
_PANEL = "(() => { const a = window.jupyterapp; const w = a && a.shell.currentWidget;" \
         " return w && w.content && w.sessionContext ? w : null; })()"
NOTEBOOK_ERRORS = f"""() => {{
  const panel = {_PANEL}; const errors = [];
  if (!panel) return errors;
  for (const cell of panel.content.widgets) {{
    if (cell.model.type !== 'code') continue;
    for (const o of cell.model.outputs.toJSON())
      if (o.output_type === 'error') errors.push(o.ename + ': ' + o.evalue);
  }}
  return errors;
}}"""


def open_notebook(page, server: LabServer, name: str, timeout: float = 60.0) -> None:
    """Open ``name`` in JupyterLab and wait for its kernel to be idle."""
    page.goto(server.url(f"lab/tree/{name}"), wait_until="domcontentloaded", timeout=timeout * 1000)
    wait_js(page, f"() => {{ const p = {_PANEL}; const k = p && p.sessionContext.session &&"
                  f" p.sessionContext.session.kernel; return k && k.status === 'idle'; }}",
            f"JupyterLab did not open {name} with an idle kernel", timeout)


def run_all_cells(page, timeout: float) -> None:
    """Run every cell (JupyterLab's ``notebook:run-all-cells``) and wait until it finished without an error."""
    page.evaluate("""() => { window.__nn3dRun = null;
      window.jupyterapp.commands.execute('notebook:run-all-cells').then(
        ok => { window.__nn3dRun = {ok: ok}; }, e => { window.__nn3dRun = {ok: false, error: String(e)}; }); }""")
    wait_js(page, f"() => window.__nn3dRun || ({NOTEBOOK_ERRORS})().length",
            "the notebook's cells did not finish running", timeout)
    errors = page.evaluate(NOTEBOOK_ERRORS)
    assert not errors, f"a cell raised: {errors}"
    done = page.evaluate("() => window.__nn3dRun")
    assert done and done.get("ok"), f"running the cells failed: {done}"


def wait_frame(page, timeout: float, after: str | None = None) -> str:
    """Wait until the rfb widget's <img> shows a loaded frame (other than ``after``, the src of an earlier one);
    returns its src. The widget is scrolled into view first: jupyter_rfb sends no frames to a hidden view."""
    wait_js(page, "(sel) => document.querySelector(sel)", "the notebook shows no jupyter_rfb widget", timeout,
            arg=RFB_IMG)
    page.locator(RFB_IMG).first.scroll_into_view_if_needed(timeout=10_000)
    return wait_js(page, """([sel, after]) => { const img = document.querySelector(sel);
        return img && img.complete && img.naturalWidth > 1 && img.src !== after
               && img.src; }""", "the widget showed no " + ("new frame" if after else "frame"), timeout,
                   arg=[RFB_IMG, after])


def wait_still(page, timeout: float, quiet: float = 0.6) -> str:
    """Wait until the widget's frame has not changed for ``quiet`` seconds (the frames a drag queued are in)."""
    deadline = time.monotonic() + timeout
    src, since = None, time.monotonic()
    while time.monotonic() < deadline:
        now = page.evaluate("(sel) => document.querySelector(sel).src", RFB_IMG)
        if now != src:
            src, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet:
            return src
        time.sleep(0.1)
    raise TimeoutError(f"the widget kept sending new frames for {timeout:.0f} s")


def page_crop(page, selector: str = RFB_IMG) -> np.ndarray:
    """A screenshot of the page clipped to the element ``selector`` (scrolled into view first): (h, w, 3) uint8."""
    import imageio.v3 as iio

    element = page.locator(selector).first
    element.scroll_into_view_if_needed(timeout=10_000)
    box = element.bounding_box(timeout=10_000)
    assert box and box["width"] > 1 and box["height"] > 1, f"{selector} has no size on the page: {box}"
    return np.asarray(iio.imread(element.screenshot(timeout=20_000, animations="disabled"), extension=".png"))[..., :3]


def save_png(img: np.ndarray, path: Path) -> None:
    import imageio.v3 as iio

    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, img)


def drag(page, selector: str, dx: float, dy: float, steps: int = 12) -> None:
    """Press the left button at the element's centre, move by (dx, dy) in ``steps`` moves, release."""
    element = page.locator(selector).first
    element.scroll_into_view_if_needed(timeout=10_000)
    box = element.bounding_box(timeout=10_000)
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    for i in range(1, steps + 1):
        page.mouse.move(x + dx * i / steps, y + dy * i / steps)
        time.sleep(0.03)  # jupyter_rfb throttles moves to one per 20 ms
    page.mouse.up()
