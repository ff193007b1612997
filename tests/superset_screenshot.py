"""Open a Superset dashboard in headless Chromium, logged in, and screenshot it once every chart
has rendered (run by tests/e2e/test_superset.py with .venv-bi's Python, which has Selenium as a
Superset dependency; the driver is Debian's chromium-driver).

Prints one JSON line: {"charts": n, "rendered": n, "errors": [...], "screenshot": path}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHART = '[data-test="chart-grid-component"]'
LOADING = '[data-test="loading-indicator"], .loading'
# What Superset shows when a chart's query or rendering fails.
ERROR = '[data-test="error-alert"], .alert-danger, .ant-alert-error'
# A chart that rendered: an ECharts canvas, or the table chart's table.
RENDERED = "canvas, table"


def chart_states(driver: webdriver.Chrome) -> tuple[int, int, list[str]]:
    charts = driver.find_elements(By.CSS_SELECTOR, CHART)
    rendered = sum(1 for chart in charts
                   if chart.find_elements(By.CSS_SELECTOR, RENDERED)
                   and not chart.find_elements(By.CSS_SELECTOR, LOADING)
                   and not chart.find_elements(By.CSS_SELECTOR, ERROR))
    errors = [element.text for element in driver.find_elements(By.CSS_SELECTOR, ERROR)]
    return len(charts), rendered, errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--base-url", required=True)
    parser.add_argument("--dashboard", required=True, help="slug or id")
    parser.add_argument("--username", required=True)
    parser.add_argument("--password", required=True)
    parser.add_argument("--expected-charts", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "chromium"
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1600,3400",
                 "--lang=vi"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(shutil.which("chromedriver") or "chromedriver"),
                              options=options)
    try:
        wait = WebDriverWait(driver, args.timeout)
        driver.get(f"{args.base_url}/login/")
        wait.until(ec.presence_of_element_located((By.ID, "username"))).send_keys(args.username)
        driver.find_element(By.ID, "password").send_keys(args.password)
        driver.find_element(By.CSS_SELECTOR, '[data-test="login-button"], button[type="submit"]').click()
        wait.until(lambda d: "/login" not in d.current_url)

        driver.get(f"{args.base_url}/superset/dashboard/{args.dashboard}/")
        deadline = time.monotonic() + args.timeout
        state = chart_states(driver)
        while time.monotonic() < deadline:
            state = chart_states(driver)
            charts, rendered, errors = state
            if errors or (charts >= args.expected_charts and rendered == charts):
                break
            time.sleep(1)
        # Let the charts' entry animations end before the picture is taken.
        time.sleep(2)
        charts, rendered, errors = chart_states(driver)
        driver.save_screenshot(args.out)
        print(json.dumps({"charts": charts, "rendered": rendered, "errors": errors,
                          "screenshot": args.out, "title": driver.title}, ensure_ascii=False))
    finally:
        driver.quit()


if __name__ == "__main__":
    main()
