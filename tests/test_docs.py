"""The repository stands on its own: every anchor of ``docs/model.md`` the code cites exists, and nothing cites
documents or issue trackers outside it."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [p for d in ("src", "tests", "benchmarks") for p in sorted((ROOT / d).rglob("*.py"))]


def _anchors(markdown: str) -> set[str]:
    anchors = set(re.findall(r'<a id="([a-z0-9-]+)"></a>', markdown))
    for heading in re.findall(r"^#+ (.*)$", markdown, re.MULTILINE):
        text = re.sub(r"<[^>]+>", "", heading).lower()
        anchors.add(re.sub(r"[^a-z0-9 -]", "", text).strip().replace(" ", "-"))
    return anchors


def test_every_cited_model_anchor_exists():
    anchors = _anchors((ROOT / "docs" / "model.md").read_text())
    cited = {(p.name, a) for p in SOURCES for a in re.findall(r"model\.md#([a-z0-9-]+)", p.read_text())}
    assert len(cited) >= 15
    assert sorted(c for c in cited if c[1] not in anchors) == []


def test_no_reference_outside_the_repository():
    texts = {p: p.read_text() for p in [*SOURCES, *sorted((ROOT / "docs").rglob("*.md")), ROOT / "README.md"]}
    outside = "MODEL" + "-NOTES"  # the project notes outside the repository, spelled so as not to cite them
    assert [p.name for p, t in texts.items() if outside in t] == []
    assert [p.name for p, t in texts.items() if re.search(r"\bissue \d", t)] == []


def test_readme_table3_is_the_committed_reproduction():
    from isac_iov.experiments.report import README_MARKERS, readme_table3

    readme = (ROOT / "README.md").read_text()
    begin, end = README_MARKERS
    block = readme[readme.index(begin) + len(begin) : readme.index(end)].strip("\n")
    assert block == readme_table3(ROOT / "docs" / "results")
    assert "| ly-dtmpo |" in block


def test_report_readme_flag_names_a_readme_without_the_block(tmp_path, error_line):
    from isac_iov.cli import main

    readme = tmp_path / "README.md"
    readme.write_text("# no block here\n")
    assert main(["report", str(tmp_path / "results-dir"), "--readme", str(readme)]) != 0
    assert str(readme) in error_line("report") and readme.read_text() == "# no block here\n"
    assert not (tmp_path / "results-dir").exists()


def test_every_relative_link_of_the_documentation_resolves():
    pages = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").rglob("*.md"))]
    broken, checked = [], 0
    for page in pages:
        for target in re.findall(r"\]\(([^)\s]+)\)", page.read_text()):
            if re.match(r"[a-z]+:", target):  # http(s), mailto: outside the repository's files
                continue
            path, _, anchor = target.partition("#")
            linked = (page.parent / path).resolve() if path else page
            checked += 1
            exists = linked.exists()
            if not exists or (anchor and linked.suffix == ".md" and anchor not in _anchors(linked.read_text())):
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert checked >= 20 and broken == []


def test_bench_train_markdown_matches_the_learners_table(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_train

    learners = (ROOT / "docs" / "learners.md").read_text()
    assert bench_train.markdown_header() in learners
    refs = {
        "ly-opt": {"cost": 0.2754, "energy_j": 17.64, "deadline_miss_rate": 0.004, "reward": -6.321},
        "greedy": {"cost": 0.2813, "energy_j": 16.0, "deadline_miss_rate": 0.0083, "reward": -6.44},
    }
    mean = {"cost": 0.28694, "energy_j": 14.52, "deadline_miss_rate": 0.0081, "reward": -6.918}
    assert (
        bench_train.markdown_row("ly-opt", refs["ly-opt"], refs)
        == "| `ly-opt` | 0.275 | 1 | 0.979 | 17.6 | 0.4 % | −6.32 | |"
    )
    row = bench_train.markdown_row("ly-dtmpo", mean, refs, (0.0271, 0.0219))
    assert row == "| Ly-DTMPO | 0.287 | 1.042 | 1.020 | 14.5 | 0.8 % | −6.92 | −2.7 % (−2.2 %) |"


def test_bench_train_flags_runs_that_waited_for_a_core(monkeypatch):
    monkeypatch.syspath_prepend(str(ROOT / "benchmarks"))
    import bench_train

    runs = [{"wall_s": 95.0, "cpu_s": 65.0}, {"wall_s": 58.0, "cpu_s": 57.0}, {"wall_s": 120.0}]
    # seed 0 waited 30 s for a core; seed 1 is within the slack; seed 2 has no CPU time to judge
    assert bench_train.oversubscribed(runs) == [(0, 95.0, 65.0)]
    assert bench_train.oversubscribed(runs, slack=1.5) == []


def test_the_readme_is_a_newcomers_page():
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 150
    quick_start = ["pip install -c constraints.txt -e '.[test,ray,sumo]' && isac-iov run", "python -m pytest"]
    assert [b.strip() for b in re.findall(r"^```bash\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)] == quick_start
    assert readme.count("![") == 1 and "](docs/figures/" in readme  # one figure
    for command in ("run", "config", "evaluate", "train", "reproduce", "report", "mobility"):
        assert f"| `isac-iov {command}" in readme, command  # the command overview


def test_the_api_reference_has_a_page_for_every_module():
    import importlib.util

    spec = importlib.util.spec_from_file_location("api_reference", ROOT / "docs" / "hooks" / "api_reference.py")
    hook = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hook)
    modules = hook.api_modules()
    on_disk = {p.relative_to(ROOT / "src").with_suffix("") for p in (ROOT / "src" / "isac_iov").rglob("*.py")}
    public = {p for p in on_disk if p.name == "__init__" or not p.name.startswith("_")}  # no _private, __main__
    expected = {".".join(p.parts[:-1] if p.name == "__init__" else p.parts) for p in public}
    assert set(modules) == expected and "isac_iov.env.core" in modules and modules[0] == "isac_iov"
    pages = [hook.page_path(m) for m in modules]
    assert len(set(pages)) == len(pages) and hook.page_path("isac_iov.env") == "api/isac_iov/env/index.md"
    nav = hook.api_nav(modules)
    listed, stack = [], list(nav)
    while stack:
        for value in stack.pop().values():
            if isinstance(value, list):
                stack.extend(value)
            else:
                listed.append(value)
    assert sorted(listed) == sorted(pages)
