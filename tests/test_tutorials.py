"""Every code block of the tutorials (``docs/tutorials/*.md``) and of ``docs/getting-started.md`` runs as written.

Each page becomes one bash script, run in a folder of its own (holding a link ``src`` to this checkout's ``src``, so
the pages' ``src/isac_iov/scenarios/...`` paths work): a ```` ```bash ```` block runs as it is, with ``isac-iov``
and ``python`` this interpreter running this checkout's code; a block with ``title="FILE"`` is written to FILE; a
```` ```python ```` block without a title runs as a script. Commands that run at full scale (the paper's 1800
episodes, 20 minutes of SUMO traffic, a five-seed sweep) run with the tiny options of :data:`TINY`, each of which must
still match its page. A block preceded by ``<!-- not run by the tests: REASON -->`` is left out and its reason
printed; in a tutorial the reason can only be that it needs a cluster of machines. The pages run side by side.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = ["getting-started.md", *sorted(p.relative_to(DOCS).as_posix() for p in (DOCS / "tutorials").glob("*.md"))]
SKIP = re.compile(r"<!-- not run by the tests: (.+?) -->\n+$")
FENCE = re.compile(r'^```(\w+)(?: title="([^"]+)")?\n(.*?)^```\n', re.MULTILINE | re.DOTALL)

# What a full-scale option becomes in the tests: (page, regular expression, replacement). Training runs one short
# episode of small networks; recordings, evaluations and sweeps shrink likewise; Ray runs a local instance.
TRAIN_TINY = "--episodes 1 --set episode_slots=3 --set algo.num_envs=1 --set algo.hidden=8"
TINY = [
    ("getting-started.md", r"--episodes 1800\b", TRAIN_TINY),
    ("getting-started.md", r"--episodes 20\b", "--episodes 1"),
    ("tutorials/scenario.md", r"--episodes 1800\b", TRAIN_TINY),
    ("tutorials/scenario.md", r"--episodes 20\b", "--episodes 1"),
    ("tutorials/sumo-city.md", r"--warmup-slots 300 --slots 1200\b", "--warmup-slots 5 --slots 35"),
    ("tutorials/sumo-city.md", r"--slots 1000\b", "--slots 35"),
    ("tutorials/sumo-city.md", r"--episodes 20\b", "--episodes 1"),
    ("tutorials/ray-sweep.md", r"--seeds 5\b", "--tiny"),
    ("tutorials/ray-sweep.md", r" --ray-address HEAD_IP:6379", ""),
    ("tutorials/own-algorithm.md", r"--episodes 1800\b", TRAIN_TINY),
    ("tutorials/own-algorithm.md", r"--episodes 20\b", "--episodes 1"),
]
PRELUDE = """set -euo pipefail
isac-iov() { "$PYTHON" -m isac_iov.cli "$@"; }
python() { "$PYTHON" "$@"; }
"""


@dataclass
class Block:
    page: str
    line: int
    lang: str
    title: str | None
    code: str
    skip: str | None  # the reason it is not run, or None


def blocks(page: str) -> list[Block]:
    """The fenced blocks of ``docs/PAGE`` in order, with the tiny options of :data:`TINY` applied."""
    text = (DOCS / page).read_text()
    found = []
    for m in FENCE.finditer(text):
        skip = SKIP.search(text[: m.start()])
        code = m.group(3)
        for where, pattern, tiny in TINY:
            if where == page:
                code = re.sub(pattern, tiny, code)
        line = text.count("\n", 0, m.start()) + 1
        found.append(Block(page, line, m.group(1), m.group(2), code, skip.group(1) if skip else None))
    return found


def script(page: str) -> str:
    """The bash script that runs every block of ``page`` in order."""
    parts = [PRELUDE]
    for i, b in enumerate(blocks(page)):
        if b.skip:
            continue
        parts.append(f'echo ">>> {page}:{b.line} at $SECONDS s"')
        if b.title:
            parts.append(f"cat > {b.title} <<'END_OF_BLOCK'\n{b.code}END_OF_BLOCK")
        elif b.lang == "python":
            parts.append(f"cat > _block{i}.py <<'END_OF_BLOCK'\n{b.code}END_OF_BLOCK\npython _block{i}.py")
        else:
            parts.append(b.code)
    return "\n".join(parts) + "\n"


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    """Every page's script started at once (they mostly wait: on SUMO, on Ray, on process start-up); a page's test
    waits for its own. Returns page -> (folder, process); the process writes to ``folder/_page.log``."""
    env = {
        **os.environ,
        "PYTHON": sys.executable,
        "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
        "RAY_USAGE_STATS_ENABLED": "0",
        "MPLBACKEND": "Agg",
    }
    started = {}
    for page in PAGES:
        folder = tmp_path_factory.mktemp(Path(page).stem)
        (folder / "src").symlink_to(ROOT / "src")
        (folder / "_page.sh").write_text(script(page))
        with open(folder / "_page.log", "w") as log:  # the script writes to its own copy of the file
            proc = subprocess.Popen(["bash", "_page.sh"], cwd=folder, env=env, stdout=log, stderr=subprocess.STDOUT)
        started[page] = (folder, proc)
    yield started
    for _, proc in started.values():
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def _finished(ran, page: str) -> tuple[Path, str]:
    folder, proc = ran[page]
    rc = proc.wait(timeout=600)
    out = (folder / "_page.log").read_text()
    assert rc == 0, f"{page}: exit status {rc}; its blocks ran up to\n{out[-4000:]}"
    return folder, out


def test_every_page_has_blocks_the_tests_know_how_to_run(capsys):
    assert "tutorials/own-algorithm.md" in PAGES and len(PAGES) >= 5
    for page in PAGES:
        found = blocks(page)
        assert found, page
        for b in found:
            assert b.lang in ("bash", "python") or b.title, f"{page}:{b.line}: a {b.lang} block needs a title"
            if b.skip and page.startswith("tutorials/"):
                assert "cluster" in b.skip, f"{page}:{b.line}: a tutorial block may be left out only for a cluster"
            if b.skip:
                with capsys.disabled():
                    print(f"\n{page}:{b.line}: not run by the tests: {b.skip}")
    for page, pattern, _ in TINY:  # every tiny option still matches its page
        text = (DOCS / page).read_text()
        assert re.search(pattern, text), f"{page}: {pattern!r} no longer occurs"


def test_getting_started(ran):
    folder, out = _finished(ran, "getting-started.md")
    assert (folder / "runs" / "dtmpo" / "checkpoint.safetensors").exists() and (folder / "lyopt.json").exists()
    assert re.search(r"-?\d+\.\d+ -?\d+\.\d+\n", out)  # the PettingZoo example printed a delay and an energy


def test_write_a_scenario(ran):
    folder, out = _finished(ran, "tutorials/scenario.md")
    assert (folder / "my-road.yaml").exists() and "num_cvs" in out
    assert all((folder / "runs" / run / "checkpoint.safetensors").exists() for run in ("my-road", "mix"))


def test_record_a_sumo_city(ran):
    folder, out = _finished(ran, "tutorials/sumo-city.md")
    for name in ("city.npz", "tracks.png", "road.npz", "mine.npz"):
        assert (folder / name).stat().st_size > 0, name
    assert "x_m: [0.0, 0.0, 0.0, 0.0, 200.0" in out  # the grid's junctions, as rsu lines of a scenario


def test_run_a_sweep_with_ray(ran):
    folder, out = _finished(ran, "tutorials/ray-sweep.md")
    assert "Started a local Ray instance" in out
    assert "0 failed" in out and (folder / "sweep" / "report.md").exists()


def test_bring_your_own_algorithm(ran, monkeypatch):
    from isac_iov import plugins
    from isac_iov.config import Config
    from isac_iov.learners import load_learner

    folder, out = _finished(ran, "tutorials/own-algorithm.md")
    assert "even-split" in out and (folder / "runs" / "mine" / "checkpoint.safetensors").exists()
    # the entry points the page registers name the objects the page defined
    groups = _entry_points((folder / "pyproject.toml").read_text())
    assert sorted(groups) == ["isac_iov.learners", "isac_iov.policies"]
    monkeypatch.syspath_prepend(str(folder))
    for name, ref in groups["isac_iov.learners"].items():
        assert load_learner(ref, command_line=True).config.__name__, name
    for name, ref in groups["isac_iov.policies"].items():
        assert plugins.check_policy(name, plugins.load_policy_maker(ref, command_line=True)(Config(), 0)).name


def _entry_points(toml: str) -> dict[str, dict[str, str]]:
    """``[project.entry-points."GROUP"]`` tables of a pyproject.toml as {group: {name: "module:attr"}} (tomllib is
    Python 3.11+, and these tables are one ``name = "value"`` per line)."""
    groups: dict[str, dict[str, str]] = {}
    for group, body in re.findall(r'^\[project\.entry-points\."([^"]+)"\]\n((?:[^\[\n].*\n)*)', toml, re.MULTILINE):
        groups[group] = dict(re.findall(r'^([\w.-]+) = "([^"]+)"$', body, re.MULTILINE))
    return groups


def test_the_readme_example_runs():
    readme = (ROOT / "README.md").read_text()
    (example,) = re.findall(r"^```python\n(.*?)^```", readme, re.MULTILINE | re.DOTALL)
    assert len(example.splitlines()) <= 10
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    out = subprocess.run([sys.executable, "-c", example], capture_output=True, text=True, check=True, env=env).stdout
    delay_s, energy_j = map(float, out.split())
    assert delay_s > 0 and energy_j > 0
