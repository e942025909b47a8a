"""The HTML report in a real browser (headless Chromium through Playwright).

Two reports are written the way a user writes them, with the command line: the
demo's (``sklearn-mece demo``) and one of real data with observed lift (the
Hillstrom e-mail test, ``sklearn-mece segment ... --treatment --outcome``).
Each is opened from its file, offline, in a 1,280 x 800 window and must show
no horizontal scrolling (of the page, or of any box in it), no console error, every image loaded, and load
nothing but itself (one self-contained file: images embedded, no request to
the network or to other files).

Screenshots are kept in ``build/screenshots/`` (``MECE_SCREENSHOTS`` to change
it): ``<report>-report.png`` (the whole page) and ``<report>-report-top.png``
(the first screen), written before the checks so that a failure has them too.

The browser is ``MECE_BROWSER`` or the first of chromium, chromium-browser,
google-chrome found on the PATH; without one (or without the ``playwright``
package) the tests skip. ``.ci/run`` installs Debian's ``chromium``.
"""

import json
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from _shared import HILLSTROM, ROOT, load_example, run_python

pytestmark = pytest.mark.browser

VIEWPORT = {"width": 1280, "height": 800}
BROWSER_NAMES = (
    "chromium",
    "chromium-browser",
    "google-chrome",
    "google-chrome-stable",
)
TIMEOUT_MS = 60_000


def find_browser():
    """The Chromium to drive: ``MECE_BROWSER`` if set (and nothing else then),
    else the first browser of ``BROWSER_NAMES`` on the PATH; ``None`` if none."""
    chosen = os.environ.get("MECE_BROWSER")
    if chosen:
        path = Path(chosen)
        return str(path) if path.is_file() and os.access(path, os.X_OK) else None
    for name in BROWSER_NAMES:
        path = shutil.which(name)
        if path:
            return path
    return None


def screenshot_dir():
    folder = Path(os.environ.get("MECE_SCREENSHOTS") or ROOT / "build" / "screenshots")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the module; skips without playwright or a browser."""
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="playwright is not installed (the [dev] extra)"
    )
    executable = find_browser()
    if executable is None:
        where = (
            f"MECE_BROWSER={os.environ['MECE_BROWSER']!r} is not an executable file"
            if os.environ.get("MECE_BROWSER")
            else f"none of {', '.join(BROWSER_NAMES)} is on the PATH"
        )
        pytest.skip(f"no browser for the report tests: {where} (set MECE_BROWSER)")
    with sync_api.sync_playwright() as playwright:
        # --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start
        chromium = playwright.chromium.launch(
            executable_path=executable, headless=True, args=["--no-sandbox"]
        )
        try:
            yield chromium
        finally:
            chromium.close()


def _cli(*args):
    """Run ``python -m sklearn_mece ARGS`` as a user does; fail on an error."""
    run_python(["-m", "sklearn_mece", *args, "--quiet"], cwd=ROOT, timeout=300)


def demo_report(folder):
    _cli("demo", "--out", folder, "--overwrite")
    return folder / "report.html"


def hillstrom_report(folder):
    """The Hillstrom e-mail test segmented by the command line, with observed
    lift of e-mail on visits (features as in ``examples/real_lift.py``)."""
    if not HILLSTROM.is_file():
        pytest.skip(f"Hillstrom data not available at {HILLSTROM}")
    real_lift = load_example("real_lift")
    features = folder.parent / "hillstrom-features.csv"
    real_lift.hillstrom_features(pd.read_csv(HILLSTROM)).to_csv(features, index=False)
    _cli(
        "segment",
        features,
        "--out",
        folder,
        "--overwrite",
        "--id-col",
        "customer_id",
        "--treatment",
        "treatment",
        "--outcome",
        "visit",
        "--max-size",
        "0.5",
    )
    segments = json.loads((folder / "segments.json").read_text(encoding="utf-8"))
    sources = {s["segment"]: s["lift_source"] for s in segments}
    assert set(sources.values()) == {"observed"}, sources
    return folder / "report.html"


REPORTS = {"demo": demo_report, "hillstrom": hillstrom_report}

# Elements reaching past the right edge of the window, outside any box that
# scrolls or clips them (what makes the page scroll sideways), whose parent does
# not (the culprits, not their ancestors or descendants); a table lists its
# columns' widths.
_LAYOUT_JS = """
() => {
  const root = document.documentElement;
  const limit = root.clientWidth;
  const clipped = (el) => {
    for (let a = el.parentElement; a && a !== root && a !== document.body;
         a = a.parentElement) {
      if (getComputedStyle(a).overflowX !== "visible") return true;
    }
    return false;
  };
  const past = (el) => el.getBoundingClientRect().right > limit + 0.5;
  const text = (el) => el.textContent.replace(/\\s+/g, " ").trim().slice(0, 40);
  const describe = (el) => {
    let name = el.tagName.toLowerCase();
    if (el.id) name += "#" + el.id;
    if (typeof el.className === "string" && el.className.trim())
      name += "." + el.className.trim().split(/\\s+/).join(".");
    const home = el.parentElement && el.parentElement.closest("[id]");
    if (home) name += " in #" + home.id;
    const headings = Array.from(document.querySelectorAll("h1, h2, h3, h4"));
    const before = headings.filter(
      (h) => h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
    if (before.length) name += ` under "${text(before[before.length - 1])}"`;
    const r = el.getBoundingClientRect();
    const out = {name, left: Math.round(r.left), width: Math.round(r.width),
                 right: Math.round(r.right), columns: null};
    if (el.tagName === "TABLE" && el.rows.length) {
      out.columns = Array.from(el.rows[0].cells).map(
        (c) => `${text(c) || "?"} ${Math.round(c.getBoundingClientRect().width)}`);
    }
    return out;
  };
  const wide = [];
  let total = 0;
  for (const el of document.body.querySelectorAll("*")) {
    if (!past(el) || clipped(el)) continue;
    total += 1;
    const parent = el.parentElement;
    if (parent === document.body || !past(parent)) wide.push(describe(el));
  }
  return {scrollWidth: root.scrollWidth, clientWidth: limit, wide, total};
}
"""

# Boxes that scroll sideways (a table too wide for its scroll box): the page
# itself does not overflow then, but the reader still has to scroll.
_SCROLLERS_JS = """
() => Array.from(document.body.querySelectorAll("*"))
  .filter((el) => getComputedStyle(el).overflowX !== "visible"
                  && el.getClientRects().length
                  && el.scrollWidth > el.clientWidth + 1)
  .map((el) => {
    const heading = Array.from(document.querySelectorAll("h1, h2, h3")).filter(
      (h) => h.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING).pop();
    return {name: el.tagName.toLowerCase() + (el.className ? "." + el.className : ""),
            under: heading ? heading.textContent.trim().slice(0, 60) : "",
            scrollWidth: el.scrollWidth, clientWidth: el.clientWidth};
  })
"""

_IMAGES_JS = """
() => Array.from(document.images).map((img) => ({
  src: img.currentSrc.slice(0, 60), alt: img.alt, complete: img.complete,
  naturalWidth: img.naturalWidth
}))
"""


def check_report(browser, report, name):
    """Open ``report`` offline at 1,280 px, keep screenshots, and return the
    list of problems found (empty when the report is fine)."""
    url = report.resolve().as_uri()
    context = browser.new_context(viewport=VIEWPORT, device_scale_factor=1)
    context.set_default_timeout(TIMEOUT_MS)
    page = context.new_page()
    errors, requests = [], []

    def console(msg):
        if msg.type == "error":
            where = msg.location.get("url") or ""
            errors.append(
                f"console error: {msg.text}" + (f" ({where})" if where else "")
            )

    page.on("console", console)
    page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))

    def route(r):
        # the report's own file and data: URLs only; anything else (the network,
        # another file) would not be there when the file is sent on or offline
        if r.request.url == url or r.request.url.startswith("data:"):
            r.continue_()
        else:
            requests.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    try:
        page.goto(url, wait_until="load")
        page.evaluate("document.fonts.ready.then(() => true)")
        folder = screenshot_dir()
        page.screenshot(path=folder / f"{name}-report.png", full_page=True)
        page.screenshot(path=folder / f"{name}-report-top.png")
        layout = page.evaluate(_LAYOUT_JS)
        scrollers = page.evaluate(_SCROLLERS_JS)
        images = page.evaluate(_IMAGES_JS)
    finally:
        context.close()

    problems = []
    if layout["scrollWidth"] > layout["clientWidth"]:
        culprits = "".join(
            f"\n    {w['name']}: {w['width']} px wide, from x={w['left']} to "
            f"{w['right']} (+{w['right'] - layout['clientWidth']} px)"
            + (
                f"\n      columns (px): {'; '.join(w['columns'])}"
                if w["columns"]
                else ""
            )
            for w in layout["wide"][:10]
        )
        problems.append(
            f"horizontal overflow at {VIEWPORT['width']} px: the page is "
            f"{layout['scrollWidth']} px wide for a {layout['clientWidth']} px "
            f"window; {layout['total']} elements reach past its right edge, "
            f"from:{culprits}"
        )
    problems += [
        f"a box scrolls sideways at {VIEWPORT['width']} px: {b['name']} under "
        f"{b['under']!r} holds {b['scrollWidth']} px in {b['clientWidth']} px"
        for b in scrollers
    ]
    problems += errors
    if not images:
        problems.append("no <img> in the report")
    problems += [
        f"image not loaded: {img['alt'] or img['src']!r} "
        f"(complete={img['complete']}, naturalWidth={img['naturalWidth']})"
        for img in images
        if not (img["complete"] and img["naturalWidth"] > 0)
    ]
    problems += [f"request outside the file: {u[:200]}" for u in requests]
    return problems


@pytest.mark.parametrize("name", list(REPORTS))
def test_report_renders_in_a_browser(browser, tmp_path, name):
    report = REPORTS[name](tmp_path / name)
    problems = check_report(browser, report, name)
    assert not problems, f"{name} report ({report}):\n" + "\n".join(
        f"  - {p}" for p in problems
    )
