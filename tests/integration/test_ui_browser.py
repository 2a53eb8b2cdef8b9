"""The Dagster UI in a real headless browser (Debian's Chromium through Selenium).

One day of the demo (``ingest_job``, partition 2026-11-02, on the bundled samples, with a
real DAGSTER_HOME in tmp; without its redacted-audio and embedding steps) is materialised,
``dagster-webserver`` is started on 127.0.0.1 for ``workspace.yaml``, and a user's path is
clicked through: the asset graph's bronze, silver and gold groups;
gold/conversation_analytics' metadata table and its talk-ratio plot; the run's page with
its event log; erasure_job's Launchpad with its documented config. Every page is saved as
a PNG under ``test-artifacts/ui/`` (or ``$CALLFORGE_ARTIFACTS/ui``); a failing step saves
``FAILED-<step>.png``.

Selectors are text, roles and hrefs (``/assets/gold/...``, ``/runs/<id>``,
``/locations/callforge/jobs/<job>/playground``), never Dagster's generated CSS classes.
Without Chromium the test skips locally and fails under CI (tests/servers.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import struct
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dagster as dg
import pytest

from tests.servers import chromium_paths, dagster_webserver, headless_chromium

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = Path(os.environ.get("CALLFORGE_ARTIFACTS") or REPO / "test-artifacts") / "ui"
PARTITION = "2026-11-02"
ASSET = ("gold", "conversation_analytics")
PLOT_KEY = "talk_ratio_plot"
LOCATION = "callforge"
ERASURE_JOB = "erasure_job"
LAYER_GROUPS = ("bronze", "silver", "gold")
MATERIALISE_TIMEOUT_S = 420
WAIT_S = 45.0
# Buttons a user presses to get rid of a first-visit pop-up (Dagster 1.13 shows "Join the
# Dagster community" with Skip on 127.0.0.1 until dismissed once per instance).
POPUP_BUTTONS = ("Skip", "No thanks", "Not now", "Got it", "Dismiss")

# Runs in a subprocess: the models stay out of the test process and the run lands in the
# real instance under $DAGSTER_HOME, as `callforge demo` does (same staging, same tags).
MATERIALISE = r"""
import json, sys
from pathlib import Path
import dagster as dg
from pipeline.demo import prepare_instance, stage_samples
from pipeline.definitions import defs as load_defs
from pipeline.settings import get_settings

settings = get_settings()
prepare_instance(settings.home)
stage_samples(Path(sys.argv[1]), settings.landing_dir, set())
defs = load_defs()
key = dg.AssetKey(sys.argv[3].split("/"))
# the demo's ingest_job for one day, minus the two slow steps nothing here looks at
# (redacted audio, embeddings): the target asset, what it reads, and the quarantine report
selection = (dg.AssetSelection.assets(key).upstream() | dg.AssetSelection.assets(["silver", "quarantine"]))
res = defs.resolve_job_def("ingest_job").execute_in_process(
    partition_key=sys.argv[2], instance=dg.DagsterInstance.get(), raise_on_error=False,
    asset_selection=sorted(selection.resolve(defs.resolve_asset_graph())), tags={"callforge/trigger": "demo"})
mats = [e.materialization for e in res.get_asset_materialization_events()
        if e.asset_key == key]
meta = mats[-1].metadata if mats else {}
print("RESULT " + json.dumps({"run_id": res.run_id, "success": res.success,
                              "metadata_keys": sorted(meta),
                              "calls": meta["calls"].value if "calls" in meta else None}))
"""


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Iterator[dict[str, Any]]:
    """A DAGSTER_HOME with one ingested day, served by dagster-webserver: {url, run_id, ...}."""
    chromium_paths()  # skip (locally) / fail (CI) before spending a minute on the pipeline
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for old in ARTIFACTS.glob("*.png"):
        old.unlink()
    home = tmp_path_factory.mktemp("ui") / "home"
    dagster_home = home / "dagster_home"
    dagster_home.mkdir(parents=True)
    shutil.copy(REPO / "dagster.yaml", dagster_home / "dagster.yaml")
    # create the SQLite storages once, here: the pipeline and the webserver start side by
    # side, and two processes creating them at once leave two alembic heads behind
    instance = dg.DagsterInstance.from_config(str(dagster_home))
    assert instance.run_storage and instance.event_log_storage and instance.schedule_storage
    instance.dispose()
    env = {**os.environ, "CALLFORGE_HOME": str(home), "DAGSTER_HOME": str(dagster_home),
           "CALLFORGE_SETTINGS": str(REPO / "callforge.yaml"), "CALLFORGE_ASR_WORKERS": "1",
           "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1",
           "TOKENIZERS_PARALLELISM": "false"}
    env.pop("CALLFORGE_LANDING", None)
    log_path = home.parent / "materialise.log"
    with open(log_path, "wb") as log:
        mat = subprocess.Popen([sys.executable, "-c", MATERIALISE, str(REPO / "samples"), PARTITION, "/".join(ASSET)],
                               cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        # the webserver starts while the pipeline runs; it reads the same SQLite instance
        with dagster_webserver(env, REPO / "workspace.yaml", REPO) as url:
            try:
                mat.wait(timeout=MATERIALISE_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                pytest.fail(f"ingest_job[{PARTITION}] not done in {MATERIALISE_TIMEOUT_S}s: "
                            f"{log_path.read_text(errors='replace')[-3000:]}")
            out = log_path.read_text(errors="replace")
            lines = [ln for ln in out.splitlines() if ln.startswith("RESULT ")]
            assert mat.returncode == 0 and lines, f"materialisation failed ({mat.returncode}): {out[-3000:]}"
            result = json.loads(lines[-1][len("RESULT "):])
            assert result["success"], f"ingest_job[{PARTITION}] failed: {out[-3000:]}"
            assert PLOT_KEY in result["metadata_keys"], result
            yield {**result, "url": url, "dagster_home": dagster_home}
    finally:
        if mat.poll() is None:
            mat.kill()
            mat.wait(timeout=30)


@pytest.fixture(scope="module")
def browser(site) -> Iterator[Any]:
    """Headless Chromium that has opened the UI once and closed its first-visit pop-ups."""
    from selenium.webdriver.common.by import By

    with headless_chromium() as driver:
        with failure_capture(driver, "first-visit"):
            driver.get(site["url"] + "/overview")
            wait_for(driver, lambda d: d.find_elements(By.CSS_SELECTOR, "a[href='/runs']"),
                     "the navigation (a link to /runs)", timeout=90)
            # the community pop-up opens ~1 s after the page asks the server whether to show it
            closed = dismiss_popups(driver, wait_s=15)
            shot(driver, "00-first-visit")
            print(f"pop-ups closed on first visit: {closed or 'none'}; screenshots in {ARTIFACTS}")
        yield driver


# --------------------------------------------------------------------------- helpers


def wait_for(driver: Any, cond: Callable[[Any], Any], what: str, timeout: float = WAIT_S) -> Any:
    """Explicit wait with a deadline; the message says what was expected."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(driver, timeout, poll_frequency=0.25,
                         ignored_exceptions=(StaleElementReferenceException,)).until(
        cond, f"timed out after {timeout:.0f}s waiting for {what}")


def body_text(driver: Any) -> str:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.TAG_NAME, "body").text


def visible_dialogs(driver: Any) -> list[Any]:
    from selenium.webdriver.common.by import By

    return [d for d in driver.find_elements(By.XPATH, "//*[@role='dialog' or @role='alertdialog']")
            if d.is_displayed()]


def dismiss_popups(driver: Any, wait_s: float = 0.0) -> list[str]:
    """Close first-visit pop-ups by the button a user would press (Skip, Dismiss, ...).
    Waits up to ``wait_s`` for one to appear. A dialog that reports an error (e.g. a code
    location error) is never dismissed: the test fails with its text."""
    from selenium.common.exceptions import StaleElementReferenceException
    from selenium.webdriver.common.by import By

    closed: list[str] = []
    deadline = time.monotonic() + wait_s
    while True:
        try:
            for dlg in visible_dialogs(driver):
                text = dlg.text.strip()
                if "error" in text.lower():
                    raise AssertionError(f"the UI shows an error dialog: {text[:1500]}")
                for label in POPUP_BUTTONS:
                    buttons = [b for b in dlg.find_elements(By.XPATH, f".//button[normalize-space()='{label}']")
                               if b.is_displayed()]
                    if buttons:
                        buttons[0].click()
                        closed.append(f"{text.splitlines()[0] if text else '(dialog)'} -> {label}")
                        wait_for(driver, lambda d, dlg=dlg: not _displayed(dlg), f"the pop-up to close ({text[:80]!r})",
                                 timeout=10)
                        break
        except StaleElementReferenceException:
            continue
        if closed or time.monotonic() >= deadline:
            return closed
        time.sleep(0.2)


def _displayed(element: Any) -> bool:
    from selenium.common.exceptions import StaleElementReferenceException

    try:
        return element.is_displayed()
    except StaleElementReferenceException:
        return False


def click(driver: Any, element: Any) -> None:
    """Click like a user; if a pop-up is in the way, close it and click again."""
    from selenium.common.exceptions import ElementClickInterceptedException

    driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
    try:
        element.click()
    except ElementClickInterceptedException:
        dismiss_popups(driver, wait_s=3)
        element.click()


def nav(driver: Any, href: str) -> None:
    """Follow the side navigation's link to ``href`` (in-app, no page reload)."""
    from selenium.webdriver.common.by import By

    click(driver, wait_for(driver, lambda d: d.find_element(By.CSS_SELECTOR, f"a[href='{href}']"),
                           f"the navigation link to {href}"))
    wait_for(driver, lambda d: d.current_url.split("?")[0].split("#")[0].endswith(href), f"the {href} page")


def assert_png(path: Path) -> None:
    """A real, non-empty PNG: signature, a page-sized IHDR, and more than a blank page."""
    from PIL import Image

    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 500, f"{path}: {width}x{height}"
    with Image.open(path) as im:
        colours = im.convert("RGB").getcolors(maxcolors=4096)
    assert colours is None or len(colours) > 16, f"{path} looks blank ({len(colours)} colours)"


def shot(driver: Any, name: str) -> Path:
    path = ARTIFACTS / f"{name}.png"
    path.unlink(missing_ok=True)
    assert driver.save_screenshot(str(path)), f"could not save {path}"
    assert_png(path)
    return path


@contextlib.contextmanager
def failure_capture(driver: Any, step: str) -> Iterator[None]:
    """On failure: save FAILED-<step>.png and add the URL and page text to the message."""
    try:
        yield
    except Exception as e:
        path = ARTIFACTS / f"FAILED-{step}.png"
        with contextlib.suppress(Exception):
            driver.save_screenshot(str(path))
        url = text = "?"
        with contextlib.suppress(Exception):
            url, text = driver.current_url, body_text(driver)[:2500]
        raise AssertionError(f"{step}: {e}\nURL: {url}\nscreenshot: {path}\npage text:\n{text}") from e


def metadata_row(driver: Any, key: str) -> Any:
    """The <tr> of the asset's metadata table whose first cell is ``key``."""
    from selenium.webdriver.common.by import By

    rows = [r for r in driver.find_elements(By.XPATH, f"//tr[td[1][normalize-space()='{key}']]") if r.is_displayed()]
    return rows[0] if rows else None


# --------------------------------------------------------------------------- tests


def test_asset_graph_shows_layer_groups(site, browser):
    from selenium.webdriver.common.by import By

    with failure_capture(browser, "asset-graph"):
        nav(browser, "/asset-groups")
        for group in LAYER_GROUPS:  # nodes drawn inside the graph's SVG, not the sidebar tree
            wait_for(browser, lambda d, g=group: [
                e for e in d.find_elements(By.XPATH, f"//*[local-name()='svg']//*[normalize-space(text())='{g}']")
                if e.is_displayed()], f"the {group!r} group node in the asset graph")
        dismiss_popups(browser)
        shot(browser, "01-asset-graph")


def test_asset_page_shows_metadata_table_and_plot(site, browser):
    from selenium.webdriver.common.by import By

    with failure_capture(browser, "asset-metadata"):
        browser.get(f"{site['url']}/assets/{'/'.join(ASSET)}")
        wait_for(browser, lambda d: metadata_row(d, PLOT_KEY), f"the {PLOT_KEY!r} row of the metadata table")
        dismiss_popups(browser)
        calls = metadata_row(browser, "calls")
        assert calls is not None, "no 'calls' metadata row"
        assert calls.find_element(By.XPATH, "./td[last()]").text.strip() == str(site["calls"])
        rollup = metadata_row(browser, "daily_rollup")
        assert rollup is not None, "no 'daily_rollup' metadata row"
        assert "mean_talk_ratio_agent" in rollup.text and PARTITION in rollup.text, rollup.text
        browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", rollup)
        shot(browser, "02-asset-metadata")

    with failure_capture(browser, "asset-plot"):
        link = metadata_row(browser, PLOT_KEY).find_element(By.XPATH, ".//*[contains(text(), 'Show Markdown')]")
        click(browser, link)

        def plot_shown(d):
            for dlg in visible_dialogs(d):
                if PLOT_KEY not in dlg.text:
                    continue
                for img in dlg.find_elements(By.CSS_SELECTOR, "img[src^='data:image/png']"):
                    if d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img):
                        return dlg
            return None

        dialog = wait_for(browser, plot_shown, f"the {PLOT_KEY} image in its dialog")
        img = dialog.find_element(By.CSS_SELECTOR, "img[src^='data:image/png']")
        w, h = browser.execute_script("return [arguments[0].naturalWidth, arguments[0].naturalHeight]", img)
        assert w >= 100 and h >= 50, (w, h)
        shot(browser, "03-asset-plot")
        click(browser, dialog.find_element(By.XPATH, ".//button[normalize-space()='Close']"))
        wait_for(browser, lambda d: not _displayed(dialog), "the plot dialog to close", timeout=10)


def test_run_page_shows_event_log(site, browser):
    from selenium.webdriver.common.by import By

    run_id = site["run_id"]
    event_types = sorted(t.value for t in dg.DagsterEventType)
    with failure_capture(browser, "run-logs"):
        nav(browser, "/runs")
        click(browser, wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"a[href^='/runs/{run_id}']"),
                                f"a link to /runs/{run_id} in the runs list"))
        wait_for(browser, lambda d: f"/runs/{run_id}" in d.current_url, f"the page of run {run_id}")
        dismiss_popups(browser)

        def event_rows(d):  # leaf elements whose whole text is a Dagster event type = log rows
            found = d.execute_script(
                "const types = new Set(arguments[0]); return Array.from(document.querySelectorAll('body *'))"
                ".filter(e => e.childElementCount === 0 && types.has(e.textContent.trim())"
                " && e.getClientRects().length > 0).map(e => e.textContent.trim());", event_types)
            return found if len(found) >= 5 and {"STEP_SUCCESS", "RUN_SUCCESS", "ASSET_MATERIALIZATION"} & set(found) \
                else None

        rows = wait_for(browser, event_rows, "at least 5 event log rows incl. a success or materialisation")
        header = body_text(browser)
        assert "ingest_job" in header and PARTITION in header and "Success" in header, header[:1500]
        shot(browser, "04-run-logs")
        print(f"run {run_id}: {len(rows)} event rows visible: {sorted(set(rows))}")


def test_erasure_launchpad_documents_its_config(site, browser):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from pipeline.jobs import ErasureConfig

    fields = ErasureConfig.model_fields
    job_href = f"/locations/{LOCATION}/jobs/{ERASURE_JOB}"
    with failure_capture(browser, "erasure-launchpad"):
        nav(browser, "/jobs")
        click(browser, wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"a[href^='{job_href}']"),
                                f"the {ERASURE_JOB} link ({job_href}) in the jobs list"))
        click(browser, wait_for(browser, lambda d: d.find_element(By.CSS_SELECTOR, f"a[href='{job_href}/playground']"),
                                "the Launchpad tab"))
        wait_for(browser, lambda d: d.current_url.split("?")[0].endswith(f"{job_href}/playground"), "the Launchpad URL")
        dismiss_popups(browser)
        # the scaffolded run config carries the op's defaults
        defaults = {n: f.default for n, f in fields.items() if not f.is_required() and f.default is not None}
        for name, value in defaults.items():
            wait_for(browser, lambda d, n=name, v=value: f"{n}: {v}" in body_text(d),
                     f"'{name}: {value}' in the Launchpad's config editor")
        # put the cursor into erase_subject.config: the help panel then documents its fields.
        # The editor re-renders while it validates, so find, click and check again until shown.
        descriptions = [f.description for f in fields.values()]

        def documented(d):
            token = d.find_element(By.XPATH, "//pre//*[text()[contains(., 'requested_by')]]"
                                             " | //pre[text()[contains(., 'requested_by')]]")
            ActionChains(d).move_to_element(token).click().perform()
            text = body_text(d)
            return all(t in text for t in descriptions)

        wait_for(browser, documented, f"the config help for erase_subject.config to show {descriptions}")
        for name in (n for n, f in fields.items() if f.is_required()):
            wait_for(browser, lambda d, n=name: f'Missing required config entry "{n}"' in body_text(d),
                     f"the Launchpad to report the required {name!r} as missing")
        shot(browser, "05-erasure-launchpad")
