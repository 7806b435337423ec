"""treatment simulate and treatment diff, on both engines, and the HTML report in a real browser."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from treatment_engine import Engine
from treatment_engine.cli import cli
from treatment_engine.simulation import Summary, simulate_duckdb, simulate_python
from treatment_engine.sql.fragments import Unsupported

from .conftest import REPO, SAMPLE_AS_OF, write_plan
from .plans import plans
from .strategies import profiles

FIELDS = ("total", "invalid", "by_treatment", "by_rule", "by_cell", "by_channel", "no_channel")


def _same(a: Summary, b: Summary) -> None:
    for name in FIELDS:
        assert getattr(a, name) == getattr(b, name), name
    assert a.arms.customers == b.arms.customers and a.arms.declared == b.arms.declared
    for name, left, right in (*((n, getattr(a, n), getattr(b, n))
                                for n in ("channel_cost", "delight_spend_by_tier", "cost_by_treatment")),
                              ("arm cost", a.arms.cost, b.arms.cost),
                              ("champion cost", a.arms.champion_cost, b.arms.champion_cost)):
        assert left.keys() == right.keys(), name
        for key in left:
            assert left[key] == pytest.approx(right[key], rel=1e-9, abs=1e-6), (name, key)


@pytest.mark.parametrize("name", ["customers.jsonl", "customers.csv"])
def test_engines_agree_on_the_sample(default_engine: Engine, name: str) -> None:
    path = str(REPO / "examples" / name)
    _same(simulate_duckdb(default_engine.plan, path, SAMPLE_AS_OF),
          simulate_python(default_engine.plan, path, SAMPLE_AS_OF))


def test_engines_agree_on_parquet_with_invalid_rows(default_engine: Engine, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from treatment_engine.sample import generate
    rows = generate(3000, seed=5, as_of=SAMPLE_AS_OF)
    for row in rows:
        row["nps"] = float(row["nps"]) if isinstance(row.get("nps"), (int, str)) else None
    rows[10]["customer_id"] = ""
    rows[20]["segment"] = "not-a-segment"
    table = pa.Table.from_pylist(rows, schema=pa.Table.from_pylist(rows[:200]).schema.append(
        pa.field("segment", pa.string())) if "segment" not in rows[0] else None)
    pq.write_table(table, tmp_path / "c.parquet")
    a = simulate_duckdb(default_engine.plan, str(tmp_path / "c.parquet"), SAMPLE_AS_OF)
    b = simulate_python(default_engine.plan, str(tmp_path / "c.parquet"), SAMPLE_AS_OF)
    _same(a, b)
    assert a.invalid == 2 and a.total == 3000


# A universal holdout, and a rule with a holdout (control: next) and a challenger whose
# sms channel not everyone consented to: its customers without consent keep the champion.
EXPERIMENTS = """\
channels:
  email: {cost: 0.1, consent: consent.email}
  sms: {cost: 0.2, consent: consent.sms}
  app: {}
actions:
  gift: {kind: delight, cost: 5}
  tips: {kind: contain, cost: 0.5}
policy:
  holdout: {share: 0.1, salt: uh}
rules:
  - id: gift-rule
    priority: 10
    when: {if: "spend > 100"}
    then:
      treatment: delight
      actions: [gift]
      channels: [email]
      holdout: {share: 0.2, control: next}
    challengers:
      - {id: sms-first, share: 0.3, then: {treatment: delight, actions: [gift], channels: [sms]}}
  - id: tips-rule
    then: {treatment: contain, actions: [tips], channels: [app]}
"""


def _experiment_customers(path: Path, count: int) -> list[dict]:
    import random
    draw = random.Random(3)
    rows = [{"customer_id": f"c{i}", "spend": draw.randint(0, 300),
             "consent": {"email": draw.random() < 0.8, "sms": draw.random() < 0.5}} for i in range(count)]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return rows


def test_arm_sizes_and_holdout_savings_against_the_decisions(tmp_path: Path) -> None:
    engine = Engine.load(write_plan(tmp_path / "plan", {"rules/plan.yaml": EXPERIMENTS}))
    rows = _experiment_customers(tmp_path / "p.jsonl", 4000)
    decisions = list(engine.decide_many(rows, SAMPLE_AS_OF))
    summaries = [simulate_python(engine.plan, str(tmp_path / "p.jsonl"), SAMPLE_AS_OF),
                 simulate_duckdb(engine.plan, str(tmp_path / "p.jsonl"), SAMPLE_AS_OF),
                 simulate_duckdb(engine.plan, str(tmp_path / "p.jsonl"), SAMPLE_AS_OF,
                                 output=str(tmp_path / "d.parquet"))]
    for summary in summaries[1:]:
        _same(summaries[0], summary)
    got = {(row.experiment, row.arm): row for row in summaries[0].arms.experiment_rows()}
    assert list(got) == [("universal_holdout", "universal_holdout"), ("universal_holdout", "champion"),
                         ("gift-rule", "holdout"), ("gift-rule", "sms-first"), ("gift-rule", "champion")]
    assert [row.declared for row in got.values()] == [0.1, 0.9, 0.2, 0.3, 0.5]
    # The oracle: the decisions themselves, counted by hand.
    held = [d for d in decisions if d.arm == "universal_holdout"]
    in_gift = [d for d in decisions if d.experiment == "gift-rule"]
    assert got[("universal_holdout", "universal_holdout")].customers == len(held)
    assert got[("universal_holdout", "champion")].customers == len(decisions) - len(held)
    assert got[("universal_holdout", "universal_holdout")].share == len(held) / len(decisions)
    for arm in ("holdout", "sms-first", "champion"):
        mine = [d for d in in_gift if d.arm == arm]
        assert got[("gift-rule", arm)].customers == len(mine) > 0
        assert got[("gift-rule", arm)].share == pytest.approx(len(mine) / len(in_gift))
    saved = {arm: sum(d.would_have.cost - d.cost for d in decisions if d.arm == arm and d.would_have)
             for arm in ("universal_holdout", "holdout", "sms-first")}
    assert saved["universal_holdout"] > 0 and saved["holdout"] > 0  # held from a gift, or given tips instead
    assert got[("gift-rule", "holdout")].saved == pytest.approx(saved["holdout"])
    assert got[("gift-rule", "sms-first")].saved == pytest.approx(saved["sms-first"])
    assert got[("gift-rule", "champion")].saved is None
    assert summaries[0].arms.saved_by_holdouts() == pytest.approx(saved["universal_holdout"] + saved["holdout"])
    by_rule = {(rule, arm): count for rule, arm, count, _ in summaries[0].arms.rule_rows()}
    assert by_rule[("tips-rule", "universal_holdout")] == sum(
        1 for d in held if d.would_have is not None and d.would_have.rule == "tips-rule")
    assert sum(by_rule.values()) == len(decisions)


def _consenting(batch: list[dict], data: st.DataObject) -> list[dict]:
    for index, profile in enumerate(batch):
        if index % 5 != 4:  # and some without an id, to be refused by both
            profile["customer_id"] = f"c{index}"
        profile["consent"] = {"email": data.draw(st.booleans())}
        profile["sms_ok"] = data.draw(st.booleans())
    return batch


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(plans(), st.lists(profiles(), min_size=1, max_size=30), st.data())
def test_summaries_agree_with_experiments_on_generated_plans(tmp_path: Path, files: dict[str, str],
                                                            batch: list[dict], data: st.DataObject) -> None:
    """The summary differential over plans with holdouts, challengers and a universal
    holdout: the DuckDB summary query (grouped by rule position, arm and champion) and
    the decision file's summary give what the python back end counts decision by decision."""
    engine = Engine.from_texts(files)
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(p) + "\n" for p in _consenting(batch, data)))
    want = simulate_python(engine.plan, str(path), SAMPLE_AS_OF)
    try:
        _same(simulate_duckdb(engine.plan, str(path), SAMPLE_AS_OF), want)
    except Unsupported:
        assume(False)  # documented: such plans run on the python back end
    _same(simulate_duckdb(engine.plan, str(path), SAMPLE_AS_OF, output=str(tmp_path / "d.parquet")), want)


@pytest.mark.parametrize("suffix", ["parquet", "csv"])
def test_decision_files_take_their_columns_from_the_query(default_engine: Engine, tmp_path: Path, suffix: str) -> None:
    """One row shape (outputs.DECISION_COLUMNS): the query's columns less `channel` (the
    first of `channels`), plus the plan version and day, from every engine."""
    import duckdb

    from treatment_engine.outputs import DECISION_COLUMNS
    from treatment_engine.sql.compiler import OUTPUT_COLUMNS

    path = str(REPO / "examples" / "customers.jsonl")
    written = {}
    for engine, simulate in (("python", simulate_python), ("duckdb", simulate_duckdb)):
        out = tmp_path / f"{engine}.{suffix}"
        simulate(default_engine.plan, path, SAMPLE_AS_OF, output=str(out))
        reader = "read_parquet" if suffix == "parquet" else "read_csv"
        relation = duckdb.connect().sql(f"SELECT * FROM {reader}('{out}')")
        written[engine] = (tuple(relation.columns), sorted(map(str, relation.fetchall())))
    assert written["python"][0] == DECISION_COLUMNS
    from_query = [c for c in OUTPUT_COLUMNS if c != "channel" and not c.startswith("would_have_")]
    from_query.insert(from_query.index("bucket") + 1, "would_have")  # its parts, as one struct
    assert [c for c in DECISION_COLUMNS if c not in ("plan_version", "as_of")] == from_query
    assert written["python"] == written["duckdb"]


def test_simulate_cli_tables_outputs_and_report(tmp_path: Path) -> None:
    runner = CliRunner()
    for suffix in ("parquet", "csv", "jsonl"):
        out = tmp_path / f"d.{suffix}"
        result = runner.invoke(cli, ["simulate", "--profiles", str(REPO / "examples" / "customers.jsonl"),
                                     "--as-of", "2026-11-01", "--output", str(out),
                                     "--report", str(tmp_path / "r.html")], env={"COLUMNS": "160"})
        assert result.exit_code == 0, result.output
        assert "Decisions by treatment" in result.output and "Delight spend by value tier" in result.output
        assert out.exists() and out.stat().st_size > 0
    decisions = [json.loads(x) for x in (tmp_path / "d.jsonl").read_text().splitlines()]
    assert len(decisions) == 1000 and decisions[0]["customer_id"] == "c000000"
    page = (tmp_path / "r.html").read_text()
    assert len(re.findall(r'<svg class="chart" data-chart="', page)) == 4
    assert "<script" not in page and "http://" not in page.replace("http://www.w3", "")


def test_simulate_a_sample_on_python(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["simulate", "--sample", "500", "--backend", "python", "--as-of", "2026-11-01"],
                                env={"COLUMNS": "160"})
    assert result.exit_code == 0 and "customers  500" in result.output


def test_plans_sql_cannot_express_run_on_python_with_a_note(tmp_path: Path) -> None:
    write_plan(tmp_path, {"rules/r.yaml": "actions: {a: {kind: contain}}\nchannels: {c: {}}\n"
                          "rules:\n  - {id: tagged, when: {if: '\"vip\" in tags'}, "
                          "then: {treatment: contain, actions: [a], channels: [c]}}\n"})
    profiles = tmp_path / "p.jsonl"
    profiles.write_text('{"customer_id": "a", "tags": ["vip"]}\n{"customer_id": "b", "tags": []}\n')
    result = CliRunner().invoke(cli, ["simulate", "--plan", str(tmp_path), "--profiles", str(profiles)],
                                env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "ran on the python engine" in result.output and "tagged" in result.output


def test_simulate_usage_errors() -> None:
    runner = CliRunner()
    assert "give either --profiles FILE or --sample N" in runner.invoke(cli, ["simulate"]).output
    missing = runner.invoke(cli, ["simulate", "--profiles", "/no/such.parquet"])
    assert missing.exit_code == 1 and "no such profiles file" in missing.stderr
    for not_a_file in (REPO / "examples", Path("/dev/null")):  # it is there, but no file to read
        refused = runner.invoke(cli, ["simulate", "--profiles", str(not_a_file)])
        assert refused.exit_code == 1 and f"{not_a_file} is not a regular file" in refused.stderr, refused.stderr


def _changed(base: Path, new: Path) -> int:
    """Customers of examples/customers.jsonl whose decision differs between two plans,
    counted in-process: what diff's first line must say."""
    people = [json.loads(line) for line in (REPO / "examples" / "customers.jsonl").read_text().splitlines()]
    pairs = zip(Engine.load(base).decide_many(people, SAMPLE_AS_OF), Engine.load(new).decide_many(people, SAMPLE_AS_OF),
                strict=True)
    return sum((a.treatment, a.rule, a.actions, a.channels) != (b.treatment, b.rule, b.actions, b.channels)
               for a, b in pairs)


def test_diff_between_directories(tmp_path: Path) -> None:
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, tmp_path / "new" / folder)
    policy = tmp_path / "new" / "rules" / "policy.yaml"
    policy.write_text(policy.read_text().replace("delight_max_cost_ratio: 0.03", "delight_max_cost_ratio: 0.01"))
    result = CliRunner().invoke(cli, ["diff", "--base", str(REPO), "--plan", str(tmp_path / "new"),
                                      "--profiles", str(REPO / "examples" / "customers.jsonl"),
                                      "--as-of", "2026-11-01"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"1,000 customers: {_changed(REPO, tmp_path / 'new')} change" in result.output
    assert "decline-gold-retention (delight)" in result.output and "default (contain)" in result.output
    assert "-1,160.16" in result.output


def test_diff_streams_the_customers_and_counts_unreadable_lines(tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """diff read the whole file into a list (memory grew with the customer base) and dropped
    lines that are not profiles without a word: it decides a batch at a time, and such a
    line counts as invalid, as in simulate."""
    from treatment_engine import plandiff
    from treatment_engine.engine import Engine

    lines = (REPO / "examples" / "customers.jsonl").read_text().splitlines()
    profiles = tmp_path / "customers.jsonl"
    profiles.write_text("\n".join([*lines[:500], "{not json", *lines[500:]]) + "\n")
    batches: list[int] = []
    decide_many = Engine.decide_many

    def recorded(self: Engine, items: list, *args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        batches.append(len(items))
        return decide_many(self, items, *args, **kwargs)

    monkeypatch.setattr(plandiff, "DIFF_BATCH", 128)
    monkeypatch.setattr(Engine, "decide_many", recorded)
    result = CliRunner().invoke(cli, ["diff", "--base", str(REPO), "--plan", str(REPO), "--profiles", str(profiles),
                                      "--as-of", "2026-11-01", "--format", "json", "--backend", "python"])
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    assert summary["customers"] == 1_001 and summary["invalid"] == 1, summary
    assert max(batches) <= 128 and sum(batches) == 2 * 1_000  # each plan's decide_many, a batch at a time


def test_diff_against_a_git_revision(tmp_path: Path) -> None:
    repo = tmp_path / "repo"
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, repo / "plan" / folder)
    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True,
                       env={"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t", "GIT_COMMITTER_NAME": "t",
                            "GIT_COMMITTER_EMAIL": "t@t", "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)})
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "live plan")
    policy = repo / "plan" / "rules" / "policy.yaml"
    policy.write_text(policy.read_text().replace("delight_max_cost_ratio: 0.03", "delight_max_cost_ratio: 0.01"))
    result = CliRunner().invoke(cli, ["diff", "--base", "git:HEAD", "--plan", str(repo / "plan"),
                                      "--profiles", str(REPO / "examples" / "customers.jsonl"),
                                      "--as-of", "2026-11-01"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert f"1,000 customers: {_changed(REPO, repo / 'plan')} change" in result.output
    bad = CliRunner().invoke(cli, ["diff", "--base", "git:no-such-rev", "--plan", str(repo / "plan"),
                                   "--sample", "10"])
    assert bad.exit_code == 2 and "git:no-such-rev" in bad.stderr


CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (.ci/run installs it)")
def test_report_renders_its_charts_in_headless_chromium(tmp_path: Path) -> None:
    report = tmp_path / "report.html"
    result = CliRunner().invoke(cli, ["simulate", "--sample", "3000", "--as-of", "2026-11-01",
                                      "--report", str(report)])
    assert result.exit_code == 0
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'profile'}", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([CHROMIUM, *flags, "--dump-dom", report.as_uri()], capture_output=True,
                         text=True, timeout=120)
    assert dom.returncode == 0
    charts = re.findall(r'<svg class="chart" data-chart="([a-z-]+)"', dom.stdout)
    assert charts == ["treatment-mix", "channel-cost", "tier-spend", "rule-hits"]
    assert dom.stdout.count('class="mark"') > 30
    console_errors = [line for line in dom.stderr.splitlines() if "CONSOLE" in line and "rror" in line]
    assert console_errors == []
    out = REPO / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    shot = subprocess.run([CHROMIUM, *flags, "--window-size=1200,1900", f"--screenshot={out / 'report.png'}",
                           report.as_uri()], capture_output=True, text=True, timeout=120)
    assert shot.returncode == 0 and (out / "report.png").stat().st_size > 10_000


def test_backend_is_the_option_and_engine_its_deprecated_name() -> None:
    runner = CliRunner()
    new = runner.invoke(cli, ["simulate", "--sample", "200", "--backend", "python", "--as-of", "2026-11-01"])
    old = runner.invoke(cli, ["simulate", "--sample", "200", "--engine", "python", "--as-of", "2026-11-01"])
    assert new.exit_code == 0 and old.exit_code == 0, new.output + old.output
    assert "deprecated" in old.output.lower() and "deprecated" not in new.output.lower()
    clash = runner.invoke(cli, ["simulate", "--sample", "200", "--backend", "duckdb", "--engine", "python"])
    assert clash.exit_code == 2 and "disagree" in clash.output
    assert "--engine" not in runner.invoke(cli, ["simulate", "--help"]).output


def test_diff_says_when_the_problems_are_the_base_plans(tmp_path: Path) -> None:
    """A base plan that does not load is named as the base: its problems are located in
    its own files, which the new plan (announced just before, "using plan ...") may hold
    under the same names, fixed. Without the line a user read a typo into a file that had none."""
    for name in ("base", "new"):
        for folder in ("rules", "segments"):
            shutil.copytree(REPO / folder, tmp_path / name / folder)
    broken = tmp_path / "base" / "rules" / "retention.yaml"
    broken.write_text(broken.read_text().replace("priority: 60", "priorty: 60"))
    result = CliRunner().invoke(cli, ["diff", "--base", str(tmp_path / "base"), "--plan", str(tmp_path / "new"),
                                      "--sample", "10", "--as-of", "2026-11-01"])
    assert result.exit_code == 2
    lines = result.stderr.splitlines()
    problem = next(i for i, line in enumerate(lines) if "unknown key 'priorty'" in line)
    assert lines[problem - 1] == f"the base plan (--base {tmp_path / 'base'}) does not load; its problems:"
    assert "Traceback" not in result.output


@pytest.mark.parametrize("revision", ["--output=out.txt", "-d"])
def test_diff_refuses_a_git_revision_that_reads_as_an_option(tmp_path: Path, revision: str) -> None:
    """git:REV goes to git as an argument: one starting with '-' is an option to git, never
    a revision. It is refused in words, before git runs, not with git's usage text."""
    repo = tmp_path / "repo"
    for folder in ("rules", "segments"):
        shutil.copytree(REPO / folder, repo / folder)
    subprocess.run(["git", "init", "-q", str(repo)], check=True)
    result = CliRunner().invoke(cli, ["diff", "--base", f"git:{revision}", "--plan", str(repo), "--sample", "5"])
    assert result.exit_code == 2
    assert f"git:{revision}: git: not a git revision: '{revision}' starts with '-'" in result.stderr
    assert "usage: git" not in result.stderr and not (repo / "out.txt").exists()
