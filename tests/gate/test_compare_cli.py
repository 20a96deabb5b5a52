"""`reqtrail compare` on the command line, against the seeded index in a real Elasticsearch."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from junitparser import Failure, JUnitXml, Skipped
from typer.testing import CliRunner, Result

from reqtrail.commands import app, register_all
from reqtrail.gate.sides import iso
from reqtrail.services.ports import free_ports
from tests.gate.data import NEW, OLD, GateData

pytestmark = pytest.mark.integration
register_all()


def compare(
    data: GateData, *args: str, config: Path | None = None, es_url: str | None = None
) -> Result:
    env = {
        "REQTRAIL_ES_URL": es_url or str(data.es.transport.node_pool.all()[0].base_url),
        "REQTRAIL_INDEX_PREFIX": data.prefix,
        "REQTRAIL_CONFIG": str(config) if config else "",
    }
    since = iso(data.window.start)
    return CliRunner().invoke(
        app, ["compare", "--since", since, "--environment", "staging", *args], env=env
    )


def test_a_regression_exits_1_and_names_the_routes(gate_data: GateData) -> None:
    """The slowed and the crashing route are named as regressed, in the table and on stderr."""
    result = compare(gate_data, "--baseline", OLD, "--candidate", NEW)
    assert result.exit_code == 1, result.output
    assert "gate: FAILED, 2 route(s) regressed: /slowed, /crashing" in result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("/")}
    assert "regressed" in rows["/slowed"] and "regressed" in rows["/crashing"]
    assert "too few requests" in rows["/rare"] and "improved" in rows["/faster"]
    assert "/rare too few requests: 30 baseline and 30 candidate requests" in result.stdout


def test_junit_has_one_case_per_route_with_regressions_as_failures(gate_data: GateData) -> None:
    """Read back with junitparser: seven cases, two failures, two skipped, three passed."""
    result = compare(gate_data, "--baseline", OLD, "--candidate", NEW, "--format", "junit")
    assert result.exit_code == 1, result.output
    xml = JUnitXml.fromstring(result.stdout)
    cases = {case.name: case for suite in xml for case in suite}
    assert set(cases) == {
        *("/steady", "/slowed", "/crashing", "/faster", "/rare", "/brand-new", "/stalled")
    }
    kinds = {
        name: type(case.result[0]).__name__ if case.result else "passed"
        for name, case in cases.items()
    }
    assert kinds == {
        "/slowed": "Failure",
        "/crashing": "Failure",
        "/rare": "Skipped",
        "/brand-new": "Skipped",
        "/steady": "passed",
        "/faster": "passed",
        "/stalled": "passed",
    }
    failure = cases["/crashing"].result[0]
    assert isinstance(failure, Failure) and failure.message.startswith("5xx rate +")
    assert isinstance(cases["/rare"].result[0], Skipped)
    assert cases["/rare"].result[0].message.startswith("too few requests: 30 baseline")


def test_json_and_markdown_reports_carry_the_same_verdicts(
    gate_data: GateData, tmp_path: Path
) -> None:
    """--format json on stdout and --report markdown/junit files agree with each other."""
    md, xml = tmp_path / "gate.md", tmp_path / "out" / "gate.xml"
    result = compare(
        gate_data,
        *("--baseline", OLD, "--candidate", NEW, "--format", "json"),
        *("--report", f"markdown:{md}", "--report", f"junit:{xml}"),
    )
    assert result.exit_code == 1, result.output
    report = json.loads(result.stdout)
    verdicts = {r["route"]: r["verdict"] for r in report["routes"]}
    assert verdicts["/slowed"] == verdicts["/crashing"] == "regressed"
    assert report["summary"] == {"regressed": 2, "improved": 1, "ok": 2, "too few requests": 2}
    slowed = next(r for r in report["routes"] if r["route"] == "/slowed")
    assert slowed["bounds"]["p95_pct"]["low"] > 20 and slowed["baseline"]["requests"] == 400
    text = md.read_text()
    assert "**2 route(s) regressed:** `/slowed`, `/crashing` (2 regressed, 1 improved" in text
    assert "| `/rare` | too few requests |" in text
    assert len(list(JUnitXml.fromfile(str(xml)))[0]) == 7


def test_gate_table_and_flags_set_the_rules(gate_data: GateData, tmp_path: Path) -> None:
    """[gate] allows +80 % p95 (so /slowed passes); the flag puts +20 % back; route rules apply."""
    config = tmp_path / "reqtrail.toml"
    config.write_text(
        '[gate]\nmax_p95_increase_pct = 80\n[gate.routes."/rare"]\nmin_requests = 20\n'
    )
    lenient = compare(gate_data, "-b", OLD, "-c", NEW, "--format", "json", config=config)
    verdicts = {r["route"]: r["verdict"] for r in json.loads(lenient.stdout)["routes"]}
    assert verdicts["/slowed"] == "ok" and verdicts["/rare"] == "ok"
    strict = compare(
        gate_data,
        *("-b", OLD, "-c", NEW, "--format", "json", "--max-p95-increase", "20"),
        *("--route-rule", "/rare:min_requests=50"),
        config=config,
    )
    verdicts = {r["route"]: r["verdict"] for r in json.loads(strict.stdout)["routes"]}
    assert verdicts["/slowed"] == "regressed" and verdicts["/rare"] == "too few requests"


def test_two_windows_of_the_same_version_pass(gate_data: GateData) -> None:
    """OLD's first 23 minutes against its next 23: the same release, so exit 0."""
    start = gate_data.window.start + timedelta(minutes=10)
    middle, end = start + timedelta(minutes=23), start + timedelta(minutes=46)
    result = compare(
        gate_data,
        *("--baseline", f"{OLD}@{iso(start)}..{iso(middle)}"),
        *("--candidate", f"{OLD}@{iso(middle)}..{iso(end)}"),
        "--min-requests",
        "50",
    )
    assert result.exit_code == 0, result.output
    assert "gate: passed, no route regressed" in result.stderr


@pytest.mark.parametrize(
    ("args", "config_text", "message"),
    [
        (("-b", "9.9.9", "-c", NEW), "", "no requests for 9.9.9@"),
        (("-b", OLD, "-c", NEW), "[gate]\nmax_p95 = 3\n", "unknown gate rule 'max_p95'"),
        (("-b", OLD, "-c", NEW, "--min-requests", "100000"), "", "nothing could be judged"),
        (("-b", OLD, "-c", "1h..2h"), "", "is not before end"),
        (("-b", OLD, "-c", NEW, "--report", "pdf:x.pdf"), "", "--report must be FORMAT:PATH"),
    ],
)
def test_what_cannot_run_exits_2_with_one_line(
    gate_data: GateData, tmp_path: Path, args: tuple[str, ...], config_text: str, message: str
) -> None:
    """Unknown version, bad rule, nothing judgeable, bad window or report: exit 2 and why."""
    config = tmp_path / "reqtrail.toml"
    config.write_text(config_text)
    result = compare(gate_data, *args, config=config)
    assert result.exit_code == 2, result.output
    assert message in result.stderr and result.stderr.startswith("reqtrail compare: ")


def test_unreachable_elasticsearch_exits_2(gate_data: GateData) -> None:
    """With no Elasticsearch at the URL, the message names it and the exit code is 2."""
    (port,) = free_ports(1)
    result = compare(gate_data, "-b", OLD, "-c", NEW, es_url=f"http://127.0.0.1:{port}")
    assert result.exit_code == 2
    assert f"127.0.0.1:{port} is unreachable" in result.stderr
