"""report.html in headless Chromium (Debian's): it renders, logs no console error, and every figure loads."""

import shutil

import pytest

from augment.evaluate.report import measure, write_report
from augment.schema import SchemaOverrides, detect_schema
from tests.conftest import make_review_table

CHROMIUM = shutil.which("chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]


@pytest.mark.skipif(CHROMIUM is None, reason="Debian chromium is not installed (.ci/run installs it)")
def test_report_renders_in_chromium(tmp_path):
    from playwright.sync_api import sync_playwright

    table = make_review_table(rows=500)
    schema = detect_schema(table, SchemaOverrides.from_sources(roles=["review=text"]))
    train, real, synthetic = table.iloc[:250], table.iloc[250:375], table.iloc[375:]
    results = measure(real, synthetic, schema, train=train, extra={"filter": {
        "outcomes": {"admitted": 90, "discriminator": 30, "invalid": 5}, "acceptance_rate": 0.72}})
    out = write_report(results, real, synthetic, schema, tmp_path / "report")

    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("request", lambda r: errors.append(f"network request: {r.url}") if not r.url.startswith(
            ("file:", "data:")) else None)
        page.goto((out / "report.html").as_uri())
        page.wait_for_load_state("load")
        images = page.evaluate("Array.from(document.images).map(i => [i.alt, i.complete && i.naturalWidth > 0])")
        verdict = page.inner_text(".verdict")
        headers = page.evaluate("Array.from(document.querySelectorAll('th')).slice(0, 5).map(h => h.innerText)")
        marks = page.evaluate("Array.from(document.querySelectorAll('td.pass, td.warn')).length")
        scores = page.evaluate("Array.from(document.querySelectorAll('tr td:first-child')).map(d => d.innerText)")
        subheads = page.evaluate("Array.from(document.querySelectorAll('h3')).map(h => h.innerText)")
        page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        browser.close()
    assert errors == []
    assert verdict.startswith(("Fit to augment", "Not fit")) and verdict == results_verdict(out)
    assert headers == ["score", "value", "real vs real", "passes if", "mark"] and marks >= 10
    assert "three-column accuracy" in scores and "Strongest pairs in the real data" in subheads
    pairs = [alt for alt, _ in images if "real strength" in alt]
    assert 1 <= len(pairs) <= 4
    assert len(images) == 10 + len(pairs)  # 6 columns, pair heatmap, strongest pairs, text length, projection, outcomes
    assert all(loaded for _, loaded in images), [alt for alt, loaded in images if not loaded]
    assert (tmp_path / "report.png").stat().st_size > 20_000


def results_verdict(out) -> str:
    import json

    return json.loads((out / "report.json").read_text())["verdict"]
