"""The HTTP API's shapes: request bodies, answers and problems, as pydantic models.

Requests are validated with them (bodies.py). Answers are not: the hot routes build
their JSON themselves (a decision's record, a batch encoded once by orjson), and these
models only document that JSON in the OpenAPI document (openapi.py), under the class's
name. tests/service/test_openapi.py checks every answer against them, through a client
generated from the document. Kept apart from the engine's own models (decision.py), as
sqlmodel keeps ``HeroPublic`` apart from ``Hero``: the API may add (a log id) or leave out.
"""

from __future__ import annotations

from datetime import date
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..decision import Trace
from .bodies import MAX_BATCH

Treatment = Literal["delight", "contain", "leave_alone"]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DecideRequest(_Request):
    """One profile to decide (or explain)."""

    profile: dict[str, Any] = Field(description="One customer profile (a JSON object).")
    as_of: date | None = Field(default=None, description="The decision day; today (UTC) if absent.")


class BatchRequest(_Request):
    """Up to 10,000 profiles decided in one request."""

    profiles: list[Any] = Field(max_length=MAX_BATCH, description=f"Up to {MAX_BATCH:,} profiles; "
                                "each is decided or answered with an inline error.")
    as_of: date | None = Field(default=None, description="The decision day; today (UTC) if absent.")


class EventsRequest(_Request):
    """Customer events: one (``event``) or a list (``events``)."""

    event: dict[str, Any] | None = Field(default=None, description="One customer event.")
    events: list[Any] | None = Field(default=None, max_length=MAX_BATCH,
                                     description=f"Up to {MAX_BATCH:,} events; each is accepted or refused inline.")

    @model_validator(mode="after")
    def _one_shape(self) -> EventsRequest:
        if (self.event is None) == (self.events is None):
            raise ValueError("give either 'event' (one) or 'events' (a list)")
        return self


class WouldHave(BaseModel):
    """What the champion would have decided for a customer an experiment treated otherwise."""

    rule: str
    treatment: Treatment
    actions: list[str]
    channels: list[str]
    cost: float


class Decision(BaseModel):
    """How to treat one customer (spec section 4)."""

    customer_id: str
    segment: str | None
    lifecycle_stage: str | None
    value_tier: str | None
    treatment: Treatment
    rule: str = Field(description="The id of the rule that decided.")
    actions: list[str]
    channels: list[str]
    cost: float = Field(description="What the actions cost, to the cent.")
    plan_version: str
    as_of: str = Field(description="The decision day, ISO 8601.")
    id: str | None = Field(default=None, description="The decision log's id (with a log).")
    arm: str = Field(default="champion", description="The experiment arm that decided (appendix H): champion, "
                     "holdout, universal_holdout or a challenger's id.")
    experiment: str | None = Field(default=None, description="The experiment the customer is in (a rule's id, "
                                   "or universal_holdout); absent outside experiments.")
    bucket: int | None = Field(default=None, ge=0, le=9999, description="The customer's bucket in it.")
    would_have: WouldHave | None = Field(default=None, description="What the champion would have given; "
                                         "absent on the champion's arm.")


class DecisionError(BaseModel):
    """A profile that could not be decided (spec section 5): nothing decided, and why."""

    customer_id: str | None
    error: str


class BatchResult(BaseModel):
    """The batch's answers in the order of its profiles."""

    plan_version: str
    decisions: list[Decision | DecisionError]


class Explanation(Decision):
    """A decision and why: how each dimension was found, and every rule's fate."""

    trace: Trace


class HeldReload(BaseModel):
    plan_version: str
    dropped_rules: list[str]
    share: float
    since: str
    message: str


class Fleet(BaseModel):
    release: int | None
    source: str
    poll_seconds: float
    last_poll_at: str | None
    error: str | None


class ArmSize(BaseModel):
    arm: str
    declared_share: float = Field(description="The share of the experiment's customers the plan gives the arm.")
    customers: int = Field(description="Customers the decision log holds in the arm under the live version.")
    share: float | None = Field(description="Their share of the experiment's customers so far (null before any).")


class ExperimentArms(BaseModel):
    experiment: str = Field(description="A rule's id, or universal_holdout.")
    customers: int
    arms: list[ArmSize]


class PlanInfo(BaseModel):
    """The live plan. ``root`` (the server's plan directory) only for a request with a
    valid API key, or from a service that requires none. ``experiments``, with a decision
    log and a plan that has experiments: each one's arms so far (counted at most 30 s ago)."""

    plan_version: str
    loaded_at: str
    counts: dict[str, int]
    reloads: int
    last_reload_error: str | None
    contact_limits: str | None
    held_reload: HeldReload | None
    watch_error: str | None
    fleet: Fleet | None
    root: str | None = None
    experiments: list[ExperimentArms] | None = None


class Reloaded(BaseModel):
    reloaded: Literal[True]
    plan_version: str


class LoggedDecision(BaseModel):
    """A decision as the log keeps it."""

    id: str
    customer_id: str
    plan_version: str
    rule: str
    treatment: Treatment
    actions: list[str]
    channels: list[str]
    cost: float
    as_of: str
    created_at: str
    segment: str | None = Field(None, description="The cell the decision resolved (logged since migration 0010).")
    lifecycle_stage: str | None = None
    value_tier: str | None = None


class History(BaseModel):
    customer_id: str
    decisions: list[LoggedDecision]


class Difference(BaseModel):
    logged: Any
    again: Any


class Reproduction(BaseModel):
    """A logged decision decided again from its stored plan and inputs."""

    id: str
    reproduces: bool
    logged: LoggedDecision
    again: dict[str, Any]
    differences: dict[str, Difference]


class RefusedEvent(BaseModel):
    index: int
    customer_id: str | None
    error: str


class FiredMoment(BaseModel):
    """A moment an event completed, and the decision made for it (an outbox item)."""

    id: int
    moment: str
    customer_id: str
    fired_at: str
    events: list[str] = Field(description="The stored ids of the events that completed it.")
    decision: Decision | DecisionError | None
    decision_id: str | None = None


class EventResult(BaseModel):
    """Events taken: 202 once stored; 200 with ``processed`` and ``fired`` when ``wait``
    saw them processed."""

    accepted: int
    event_ids: list[str | None] = Field(description="One per event of the request, in order; null for a "
                                                    "refused one.")
    refused: list[RefusedEvent]
    processed: bool | None = None
    fired: list[FiredMoment] | None = None


class StoredEvent(BaseModel):
    id: str
    event: dict[str, Any]
    partition: int
    seq: int
    received_at: str
    processed: bool
    fired: list[FiredMoment]


class Partition(BaseModel):
    partition: int
    owner: str | None
    lease_seconds_left: float | None
    processed_seq: int
    next_seq: int
    lag: int


class Partitions(BaseModel):
    owner: str
    held: list[int]
    last_error: str | None
    lease_seconds: float
    partitions: list[Partition]


class Outbox(BaseModel):
    items: list[FiredMoment]


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    plan_version: str


class FieldError(BaseModel):
    """One field of an invalid request."""

    pointer: str = Field(description="#/json/pointer into the body, ?name of a query parameter, "
                                     "{name} of a path parameter.")
    detail: str
    type: str = Field(description="pydantic's error type, e.g. missing, too_long.")


class Problem(BaseModel):
    """RFC 9457 problem details: every 4xx and 5xx (``application/problem+json``)."""

    type: str = Field(description="The kind of problem: urn:treatment:..., or about:blank for a plain "
                                  "HTTP status.")
    title: str
    status: int
    detail: str = Field(description="What happened to this request.")
    errors: list[FieldError] | None = Field(default=None, description="Per field, for an invalid request.")
    customer_id: str | None = Field(default=None, description="For a profile or event that was refused.")
    error: str | None = Field(default=None, description="For a refused profile or event: the reason, as a "
                                                        "batch answers it inline.")


class ReloadRefused(BaseModel):
    """A reload refused (409: a broken plan, or one held for dropping rules; 503: the
    plan could not be read): the live plan keeps serving."""

    type: str
    title: str
    status: int
    detail: str
    reloaded: Literal[False]
    plan_version: str
    errors: list[str] = Field(description="The plan's problems, each located (path:line:col).")
    held: bool


# -- journeys (docs/plan-format.md, appendix J): the report treatment journeys prints ----

class JourneyTimes(BaseModel):
    """Seconds at the 50th, 75th and 90th percentile (nearest rank), over count runs."""

    count: int
    median: float | None
    p75: float | None
    p90: float | None


class JourneyStep(BaseModel):
    name: str
    optional: bool
    reached: int = Field(description="Runs that reached the step.")
    dropped: int | None = Field(description="Abandoned after the required step before it, without it.")
    waiting: int | None = Field(description="In progress between the required step before it and it.")
    conversion: float | None
    times: JourneyTimes = Field(description="From the step reached before it.")
    target: float | None = Field(description="The touchpoint's own target rate.")
    touchpoint_rate: float | None
    touchpoint_runs: int


class Journey(BaseModel):
    """One journey's runs measured from the stored events."""

    id: str
    owner: str
    customers: int
    entered: int
    completed: int
    abandoned: int
    in_progress: int
    succeeded: int
    failed: int
    conversion: float | None
    success_rate: float | None = Field(description="Succeeded of decided runs: in-progress runs left out.")
    success_target: float | None
    margin: float | None
    total: JourneyTimes
    steps: list[JourneyStep]
    watermelon: str | None = Field(description="Why every touchpoint is green and the journey red, in words; "
                                               "null when it is not so.")


class Journeys(BaseModel):
    as_of: str
    journeys: list[Journey]


class OneJourney(BaseModel):
    as_of: str
    journey: Journey


class StepReached(BaseModel):
    step: str
    reached_at: str | None


class CustomerRun(BaseModel):
    """One run of a journey by one customer, and where it stands."""

    journey: str
    run: int = Field(description="The customer's first run of this journey is 1.")
    status: Literal["completed", "abandoned", "in_progress"]
    success: bool | None = Field(description="null: not decided yet.")
    at: str = Field(description="The step reached last.")
    next: list[str] = Field(description="The steps an in-progress run may take next.")
    steps: list[StepReached]


class CustomerJourneys(BaseModel):
    customer_id: str
    as_of: str
    runs: list[CustomerRun]


class Comparison(BaseModel):
    """One arm against its control on one metric (docs/plan-format.md, appendix I): the
    fields and meanings of `treatment measure --format json`. Intervals are 95%."""

    plan_version: str
    experiment: str = Field(description="A rule's id, or universal_holdout.")
    rule: str
    cell: str = Field(description="With by: 'segment=young, value_tier=gold'; empty without.")
    arm: str
    control: str
    metric: str
    customers: int = Field(description="Customers in both arms whose window has closed.")
    arm_n: int
    arm_mean: float | None
    arm_low: float | None
    arm_high: float | None
    control_n: int
    control_mean: float | None
    control_low: float | None
    control_high: float | None
    difference: float | None = Field(description="Arm less control, in the metric's unit.")
    difference_low: float | None
    difference_high: float | None
    relative: float | None
    relative_low: float | None
    relative_high: float | None
    p_value: float | None
    adjusted_p: float | None = Field(description="Holm-corrected across the metric's comparisons.")
    value: float | None = Field(description="Incremental value per treated customer, in money.")
    value_low: float | None
    value_high: float | None
    cost: float = Field(description="Extra cost per treated customer against the control.")
    roi: float | None
    srm_p: float | None = Field(description="Sample-ratio chi-square p-value against the plan's shares.")
    srm: bool = Field(description="True when srm_p < 0.001: the arms are not the sizes the plan gives them.")
    verdict: str = Field(description="pays back, does not pay back, no detectable effect, better, worse, "
                                     "not measurable (a value too large to compute with), or "
                                     "not enough data yet (about N more customers per arm).")


class Results(BaseModel):
    as_of: str | None = Field(description="As asked; null: measured as of the request.")
    comparisons: list[Comparison]


MODELS: tuple[type[BaseModel], ...] = (
    DecideRequest, BatchRequest, EventsRequest, Decision, DecisionError, BatchResult, Explanation, PlanInfo,
    Reloaded, ReloadRefused, History, Reproduction, EventResult, StoredEvent, Partitions, Outbox, Health, Ready,
    Problem, Journeys, OneJourney, CustomerJourneys, Results)
