"""Test setup: everything offline, caches in a temporary folder, realdata tests skipped without data."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("TRANSFERBENCH_CACHE", tempfile.mkdtemp(prefix="tb-test-cache-"))
if os.environ.get("PYTEST_XDIST_WORKER"):  # one core per worker: OpenMP threads would spin
    os.environ["OMP_NUM_THREADS"] = os.environ["MKL_NUM_THREADS"] = "1"

import pytest  # noqa: E402


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    from module_order import heaviest_first, load

    items[:] = heaviest_first(items, load())  # the longest modules start first (module_order.py)
    data_dir = os.environ.get("TRANSFERBENCH_DATA_DIR")
    if data_dir and Path(data_dir).is_dir():
        return
    skip = pytest.mark.skip(reason="needs TRANSFERBENCH_DATA_DIR with the real data")
    for item in items:
        if "realdata" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def real_data_dir() -> Path:
    """The real public data folder (tests using it are marked `realdata`)."""
    return Path(os.environ["TRANSFERBENCH_DATA_DIR"].split(os.pathsep)[0])


@pytest.fixture(autouse=True)
def _method_registry_restored():
    """Plug-ins a test loads (`--include`, `load_method_file`) stay out of the other tests."""
    from suitekit import method_registry_kept

    with method_registry_kept():
        yield


@pytest.fixture
def run_main(capsys):
    """`main(argv)` in this process, as a CompletedProcess: what it prints is what the command
    prints."""
    from harness.cli import main

    def call(*args: object) -> subprocess.CompletedProcess:
        capsys.readouterr()  # drop whatever a fixture printed before
        environ = dict(os.environ)  # the CLI exports --data_dir: not into the next tests
        try:
            code = main([str(a) for a in args])
        finally:
            os.environ.clear()
            os.environ.update(environ)
        out = capsys.readouterr()
        return subprocess.CompletedProcess(args, code, out.out, out.err)

    return call


CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")


@pytest.fixture(scope="session")
def browser():
    """A headless Chromium through Selenium, for the pages' tests (installed by .ci/run)."""
    assert CHROMIUM and DRIVER, (
        "the page tests need Debian's chromium and chromium-driver (see .ci/run)"
    )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    driver = webdriver.Chrome(options=options, service=Service(DRIVER))
    yield driver
    driver.quit()
