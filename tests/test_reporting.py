"""Benchmarks write one folder each, with provenance, and the index lists exactly the folders there."""

from bench import reporting


def test_a_report_records_how_it_was_made_and_the_index_lists_it(tmp_path, monkeypatch):
    monkeypatch.setattr(reporting, "REPORTS", tmp_path)
    data = tmp_path / "input.csv"
    data.write_text("a,b\n1,2\n")
    folder = reporting.write_report("demo", {"score": 0.5}, "# A demo benchmark\n\n| x |\n", inputs={"data": data})
    results = reporting.read_json(folder / "results.json")
    made = results["provenance"]
    assert results["score"] == 0.5 and made["command"].startswith("python ")
    assert made["inputs"]["data"]["sha256"] and made["tool_version"] and made["versions"]["behavior-augment"]
    assert (folder / "README.md").read_text().startswith("# A demo benchmark\n\nMade by `python ")
    (tmp_path / "old").mkdir()  # a report from before provenance was recorded
    index = reporting.write_index().read_text()
    assert "[demo](demo/README.md) | A demo benchmark |" in index
    assert "[old](old/README.md)" in index and "not recorded" in index
