"""A typed OpenAPI document: a client generated from /openapi.json calls every operation
and gets typed, non-empty results; every answer matches the schema it is declared with."""

from __future__ import annotations

import importlib
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

httpx = pytest.importorskip("httpx")
pytest.importorskip("fastapi", reason="the service extra is not installed")
jsonschema = pytest.importorskip("jsonschema")

from .server import PROFILE, Server, customer_event, plan_copy  # noqa: E402

KEY = "openapi-key"


@pytest.fixture(scope="module")
def keyed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = Server(plan_copy(tmp_path_factory.mktemp("plan")), "--no-watch", env={"TREATMENT_API_KEYS": KEY})
    yield server.start()
    server.stop()


def generated_client(spec: Path, into: Path) -> Any:
    """The package openapi-python-client generates from ``spec``, imported."""
    generator = shutil.which("openapi-python-client") or str(Path(sys.executable).parent / "openapi-python-client")
    if not Path(generator).exists():
        pytest.skip("openapi-python-client is not installed")
    config = into / "config.yaml"
    config.write_text("package_name_override: treatment_client\nproject_name_override: treatment-client\n")
    run = subprocess.run([generator, "generate", "--path", str(spec), "--output-path", str(into / "treatment_client"),
                          "--meta", "none", "--config", str(config)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "Unable to parse" not in run.stdout + run.stderr, run.stdout + run.stderr
    sys.path.insert(0, str(into))
    try:
        return importlib.import_module("treatment_client")
    finally:
        sys.path.remove(str(into))


def declared(spec: dict[str, Any], method: str, path: str, response: httpx.Response) -> None:
    """``response`` is one the operation declares, and its JSON matches that schema."""
    answers = spec["paths"][path][method]["responses"]
    assert str(response.status_code) in answers, (method, path, response.status_code, response.text[:300])
    content = answers[str(response.status_code)]["content"]
    media = response.headers["content-type"].split(";")[0]
    assert media in content, (method, path, media, list(content))
    schema = {**spec, "$ref": content[media]["schema"]["$ref"]}
    jsonschema.Draft202012Validator(schema).validate(response.json())


def test_a_generated_client_calls_every_operation_with_typed_results(keyed: Server, tmp_path: Path) -> None:
    base = keyed.base
    spec_text = httpx.get(f"{base}/openapi.json").text
    (tmp_path / "openapi.json").write_text(spec_text)
    spec = httpx.get(f"{base}/openapi.json").json()
    names = set(spec["components"]["schemas"])
    assert {"Decision", "DecisionError", "BatchResult", "Explanation", "PlanInfo", "EventResult", "Problem"} <= names
    assert all(len(name) <= 20 and "V1" not in name for name in names), sorted(names)

    client_package = generated_client(tmp_path / "openapi.json", tmp_path)
    api = importlib.import_module("treatment_client.api.default")
    models = importlib.import_module("treatment_client.models")
    seen: list[tuple[str, str, httpx.Response]] = []

    def call(module: str, method: str, path: str, **arguments: Any) -> Any:
        chosen = importlib.import_module(f"{api.__name__}.{module}")
        answer = chosen.sync_detailed(client=authed, **arguments)
        seen.append((method, path, httpx.Response(answer.status_code, headers=answer.headers, content=answer.content)))
        return answer

    authed = client_package.AuthenticatedClient(base_url=base, token=KEY, timeout=httpx.Timeout(60))
    profile = models.DecideRequestProfile.from_dict({**PROFILE, "customer_id": "openapi-1"})
    decision = call("decide_v1_decisions_post", "post", "/v1/decisions", body=models.DecideRequest(profile=profile))
    assert isinstance(decision.parsed, models.Decision) and decision.parsed.treatment and decision.parsed.id
    batch = call("batch_v1_decisions_batch_post", "post", "/v1/decisions:batch",
                 body=models.BatchRequest(profiles=[{**PROFILE, "customer_id": "openapi-2"}, {"customer_id": ""}]))
    assert isinstance(batch.parsed, models.BatchResult)
    assert [type(d) for d in batch.parsed.decisions] == [models.Decision, models.DecisionError]
    explained = call("explain_v1_explain_post", "post", "/v1/explain", body=models.DecideRequest(profile=profile))
    assert isinstance(explained.parsed, models.Explanation) and explained.parsed.trace.rules
    info = call("plan_info_v1_plan_get", "get", "/v1/plan")
    assert isinstance(info.parsed, models.PlanInfo) and info.parsed.plan_version and info.parsed.counts
    reloaded = call("reload_v1_plan_reload_post", "post", "/v1/plan:reload")
    assert isinstance(reloaded.parsed, models.Reloaded) and reloaded.parsed.plan_version == info.parsed.plan_version
    history = call("history_v1_customers_customer_id_decisions_get", "get", "/v1/customers/{customer_id}/decisions",
                   customer_id="openapi-1")
    assert isinstance(history.parsed, models.History) and history.parsed.decisions[0].id == decision.parsed.id
    for module, path in (("reproduce_v1_decisions_decision_id_reproduce_post", "/v1/decisions/{decision_id}:reproduce"),
                         ("replay_v1_decisions_decision_id_replay_post", "/v1/decisions/{decision_id}:replay")):
        again = call(module, "post", path, decision_id=decision.parsed.id)
        assert isinstance(again.parsed, models.Reproduction) and again.parsed.reproduces is True
    event = models.EventsRequest(events=[customer_event("openapi-1", "complaint", "2026-11-01T09:00:00Z"),
                                         customer_event("openapi-1", "no-such-type", "2026-11-01T09:00:00Z"),
                                         customer_event("openapi-1", "move_notice", "2026-11-01T09:00:00Z")])
    taken = call("post_events_v1_events_post", "post", "/v1/events", body=event, wait=30)
    assert isinstance(taken.parsed, models.EventResult) and taken.parsed.accepted == 2
    assert taken.parsed.event_ids[1] is None and taken.parsed.refused[0].index == 1
    stored = call("get_event_v1_events_event_id_get", "get", "/v1/events/{event_id}",
                  event_id=taken.parsed.event_ids[0])
    assert isinstance(stored.parsed, models.StoredEvent) and stored.parsed.processed is True
    owners = call("partitions_v1_moments_get", "get", "/v1/moments")
    assert isinstance(owners.parsed, models.Partitions) and owners.parsed.partitions
    outbox = call("outbox_v1_outbox_get", "get", "/v1/outbox")
    assert isinstance(outbox.parsed, models.Outbox)
    journeys = call("all_journeys_v1_journeys_get", "get", "/v1/journeys")
    assert isinstance(journeys.parsed, models.Journeys) and journeys.parsed.journeys[1].entered == 1
    one = call("one_journey_v1_journeys_journey_id_get", "get", "/v1/journeys/{journey_id}", journey_id="house-move")
    assert isinstance(one.parsed, models.OneJourney) and one.parsed.journey.in_progress == 1
    runs = call("customer_journeys_v1_customers_customer_id_journeys_get", "get",
                "/v1/customers/{customer_id}/journeys", customer_id="openapi-1")
    assert isinstance(runs.parsed, models.CustomerJourneys) and runs.parsed.to_dict()["runs"][0]["next"] == ["final_reading"]
    results = call("results_v1_results_get", "get", "/v1/results")
    assert isinstance(results.parsed, models.Results) and isinstance(results.parsed.comparisons, list)
    assert call("healthz_healthz_get", "get", "/healthz").parsed.status == "ok"
    assert call("readyz_readyz_get", "get", "/readyz").parsed.plan_version == info.parsed.plan_version

    # Refusals are typed too: a Problem, not UnexpectedStatus.
    refused = call("decide_v1_decisions_post", "post", "/v1/decisions",
                   body=models.DecideRequest(profile=models.DecideRequestProfile.from_dict({"customer_id": "x",
                                                                                            "segment": "nope"})))
    assert isinstance(refused.parsed, models.Problem) and refused.parsed.customer_id == "x"
    anonymous = client_package.Client(base_url=base)
    locked = importlib.import_module(f"{api.__name__}.reload_v1_plan_reload_post").sync_detailed(client=anonymous)
    assert locked.status_code == 401 and isinstance(locked.parsed, models.Problem)
    seen.append(("post", "/v1/plan:reload", httpx.Response(401, headers=locked.headers, content=locked.content)))
    authed.get_httpx_client().close()
    anonymous.get_httpx_client().close()

    for method, path, response in seen:
        declared(spec, method, path, response)
    called = {(method, path) for method, path, _ in seen}
    assert called == {(m, p) for p, ops in spec["paths"].items() for m in ops}, "an operation was not called"


def test_the_key_schemes_and_protected_operations_are_declared(keyed: Server) -> None:
    spec = httpx.get(f"{keyed.base}/openapi.json").json()
    assert set(spec["components"]["securitySchemes"]) == {"bearer", "apiKey"}
    protected = {path for path, ops in spec["paths"].items() for op in ops.values() if op.get("security")}
    assert protected == {"/v1/plan:reload", "/v1/customers/{customer_id}/decisions", "/v1/outbox", "/v1/moments",
                         "/v1/events/{event_id}",
                         "/v1/decisions/{decision_id}:reproduce", "/v1/decisions/{decision_id}:replay",
                         "/v1/journeys", "/v1/journeys/{journey_id}", "/v1/customers/{customer_id}/journeys",
                         "/v1/results"}
    assert all("401" in ops[m]["responses"] for p in protected for ops in [spec["paths"][p]] for m in ops)
