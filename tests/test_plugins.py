"""A user's algorithm by name (:mod:`isac_iov.plugins`): ``package.module:attr`` on the command line, installed
entry points everywhere, never an import driven by a file, and one-line errors naming the reference."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
import yaml

from isac_iov import plugins
from isac_iov.cli import main
from isac_iov.learners import load_learner

PACKAGE = {
    "__init__.py": "",
    "algos.py": """
        from isac_iov.learners import AlgoSpec
        from isac_iov.learners.mappo import MAPPO, MappoConfig
        from isac_iov.policies import OffloadPolicy

        class MyPPO(MAPPO):
            Config = MappoConfig

        SPEC = AlgoSpec(MyPPO, MappoConfig)
        NOT_A_LEARNER = 42

        def make_policy(cfg, seed):
            policy = OffloadPolicy()
            policy.name = "my-offload"
            return policy

        def make_nothing(cfg, seed):
            return object()
        """,
    "marker.py": "import pathlib, os\npathlib.Path(os.environ['PLUGIN_MARKER']).write_text('imported')\nSPEC = None\n",
}
TINY = ["--set=num_cvs=2", "--set=episode_slots=3", "--set=algo.num_envs=1", "--set=algo.hidden=8"]


@pytest.fixture
def package(tmp_path, monkeypatch):
    """A package ``myalgos`` on ``sys.path``, and an installed distribution registering its entry points."""
    root = tmp_path / "site"
    pkg = root / "myalgos"
    pkg.mkdir(parents=True)
    for name, text in PACKAGE.items():
        (pkg / name).write_text(textwrap.dedent(text))
    dist = root / "myalgos-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: myalgos\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[isac_iov.learners]\nmy-ppo = myalgos.algos:SPEC\n\n"
        "[isac_iov.policies]\nmy-offload = myalgos.algos:make_policy\n"
    )
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.setenv("PLUGIN_MARKER", str(tmp_path / "imported"))
    return tmp_path


def _summary(capsys):
    out = capsys.readouterr().out
    return {line.split()[0]: line.split()[1] for line in out.splitlines() if len(line.split()) == 2}


def test_a_policy_from_a_module_reference_and_from_an_entry_point(package, capsys):
    for name in ("myalgos.algos:make_policy", "my-offload"):
        assert main(["evaluate", "--policy", name, "--episodes", "2", "--quiet", "--set", "num_cvs=3"]) == 0
        assert _summary(capsys)["policy"] == "my-offload"
    assert main(["evaluate", "--policy", "offload", "--episodes", "2", "--quiet", "--set", "num_cvs=3"]) == 0
    builtin = _summary(capsys)
    assert main(["evaluate", "--policy", "my-offload", "--episodes", "2", "--quiet", "--set", "num_cvs=3"]) == 0
    assert _summary(capsys)["cost"] == builtin["cost"]  # the same policy under another name: the same numbers


def test_a_learner_plug_in_trains_resumes_and_evaluates(package, capsys, error_line):
    ref = "myalgos.algos:MyPPO"
    run = package / "run"
    assert main(["train", "--algo", ref, "--episodes", "2", "--no-progress", "--out", str(run), *TINY]) == 0
    assert yaml.safe_load((run / "algo.yaml").read_text())["algo"] == ref
    assert main(["train", "--algo", ref, "--episodes", "2", "--no-progress", "--out", str(run), "--resume", *TINY]) == 0
    capsys.readouterr()
    # the run's algo.yaml names a module: evaluating it without the same reference on the command line refuses
    assert main(["evaluate", "--policy", str(run), "--episodes", "1", "--quiet"]) == 2
    assert f"trained by {ref}, a module reference isac-iov does not import from a file; pass --algo" in error_line(
        "evaluate"
    )
    assert main(["evaluate", "--policy", str(run), "--algo", ref, "--episodes", "1", "--quiet"]) == 0
    installed = package / "installed"
    assert main(["train", "--algo", "my-ppo", "--episodes", "2", "--no-progress", "--out", str(installed), *TINY]) == 0
    capsys.readouterr()
    assert main(["evaluate", "--policy", str(installed), "--episodes", "1", "--quiet"]) == 0  # by its installed name


def test_a_file_never_makes_isac_iov_import_a_module(package, capsys, error_line):
    run = package / "run"
    assert main(["train", "--algo", "ly-dtmpo", "--episodes", "1", "--no-progress", "--out", str(run), *TINY]) == 0
    meta = yaml.safe_load((run / "algo.yaml").read_text())
    meta["algo"] = "myalgos.marker:SPEC"
    (run / "algo.yaml").write_text(yaml.safe_dump(meta))
    capsys.readouterr()
    assert main(["evaluate", "--policy", str(run), "--episodes", "1", "--quiet"]) == 2
    assert "a module reference isac-iov does not import from a file" in error_line("evaluate")
    assert not (package / "imported").exists()
    with pytest.raises(plugins.PluginError, match="read from a file is not imported"):
        load_learner("myalgos.marker:SPEC", command_line=False)
    assert not (package / "imported").exists()


@pytest.mark.parametrize(
    ("command", "message"),
    [
        (["train", "--algo", "nosuchpkg.mod:X"], "learner nosuchpkg.mod:X: module 'nosuchpkg' not found"),
        (["train", "--algo", "myalgos.algos:Missing"], "module myalgos.algos has no attribute 'Missing'"),
        (["train", "--algo", "myalgos.algos:NOT_A_LEARNER"], "expected an isac_iov.learners.AlgoSpec or a learner"),
        (["train", "--algo", "ly-ppo"], "unknown algorithm 'ly-ppo' (known: ly-dtmpo"),
        (["evaluate", "--policy", "myalgos.algos:make_nothing"], "the object it made lacks reset, act"),
        (["evaluate", "--policy", "nosuchpkg:make"], "policy nosuchpkg:make: module 'nosuchpkg' not found"),
        (["evaluate", "--policy", "nope"], "policy 'nope': not a run directory, one of ly-opt-dual"),
        (["evaluate", "--policy", "greedy", "--algo", "a.b:C"], "--algo: names the learner of a run directory"),
    ],
)
def test_plug_in_errors_are_one_line_naming_the_reference(package, error_line, command, message):
    out = ["--out", str(package / "out")] if command[0] == "train" else []
    assert main([*command, *out]) == 2
    assert message in error_line(command[0])
    assert not (package / "out").exists()


def test_the_scale_study_takes_a_plug_in_learner(package):
    out = package / "scale"
    args = ["reproduce", "scale", "--tiny", "--algos", "my-ppo", "--out", str(out), "--workers", "1"]
    assert main(args) == 0
    series = {r["series"] for r in json.loads((out / "results" / "scale.json").read_text())["scalars"]}
    assert "my-ppo" in series and "highway: my-ppo" in series
    assert "| my-ppo |" in (out / "scale.md").read_text()


def test_the_policy_example_of_the_docs_runs_as_written(tmp_path, monkeypatch, capsys):
    text = (Path(__file__).parents[1] / "docs" / "tutorials" / "own-algorithm.md").read_text()
    block = text.split('```python title="even_split.py"\n', 1)[1].split("```", 1)[0]
    (tmp_path / "even_split.py").write_text(block)
    monkeypatch.syspath_prepend(str(tmp_path))
    assert main(["evaluate", "--policy", "even_split:make_policy", "--episodes", "2", "--quiet"]) == 0
    summary = _summary(capsys)
    assert summary["policy"] == "even-split" and 0 < float(summary["cost"]) < 10
    assert float(summary["offload_share"]) > 0.9  # nothing asked to run locally


def test_a_plug_in_learner_stands_in_table_iii_next_to_the_paper_s(package, error_line, capsys):
    out = package / "table3"
    args = ["reproduce", "table3", "--tiny", "--algos", "ly-dtmpo,my-ppo", "--out", str(out), "--workers", "1"]
    assert main(args) == 0
    report = (out / "report.md").read_text()
    assert "| my-ppo | – |" in report  # Table III: the paper has no column for it
    assert report.count("| my-ppo |") >= 2  # and the evaluated policies next to ly-opt and greedy
    assert "ly-mappo, ly-maddpg, ly-matd3, ly-masac not run" in report  # the paper's claims need its five
    capsys.readouterr()
    assert main(["reproduce", "fig7", "--tiny", "--algos", "my-ppo", "--out", str(out)]) == 2
    assert "--algos: chooses the learners of table3, fig4, fig5, fig6, all, scale, not of fig7" in error_line(
        "reproduce"
    )
