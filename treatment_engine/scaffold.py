"""The starter plan ``treatment init`` writes: small, commented, and lint-clean."""

from __future__ import annotations

import json
from pathlib import Path

from .schema import plan_file_schema

SCHEMA_LINE = "# yaml-language-server: $schema=../plan-schema.json\n"

FILES = {
    "segments/customers.yaml": SCHEMA_LINE + """\
# Who the customer is. The first entry whose `if` holds wins; one without `if` catches the rest.
segments:
  - id: loyal
    if: days_since(first_purchase_date) > 365
  - id: everyone_else

lifecycle:
  - id: active
    if: days_since(last_purchase_date) <= 90
  - id: lapsing

value_tiers:
  field: annual_value
  tiers:
    - {id: high, min: 1000}
    - {id: standard, min: 0}

# The profile fields this plan reads, so that `treatment lint` can catch typos.
fields:
  first_purchase_date: date
  last_purchase_date: date
  annual_value: number
  consent: object
""",
    "rules/catalog.yaml": SCHEMA_LINE + """\
channels:
  email: {cost: 0.02, consent: consent.email}   # only for customers with consent.email = true
  self_service: {cost: 0}

actions:
  thank_you_gift: {kind: delight, cost: 10}
  self_service_tips: {kind: contain, cost: 0}

# Delight only where it pays: actions may cost at most 2% of the annual value.
policy:
  value_field: annual_value
  delight_max_cost_ratio: 0.02

default:
  treatment: contain
  actions: [self_service_tips]
  channels: [email, self_service]
""",
    "rules/rules.yaml": SCHEMA_LINE + """\
rules:
  - id: thank-valuable-loyal
    description: Thank our valuable long-standing customers while they are active
    priority: 20
    when:
      segment: loyal
      lifecycle_stage: active
      value_tier: high
    then:
      treatment: delight
      actions: [thank_you_gift]
      channels: [email]

  - id: quiet-customers-self-service
    description: Customers who have not bought for two months are shown self-service first
    priority: 10
    when:
      if: missing(last_purchase_date) or days_since(last_purchase_date) > 60
    then:
      treatment: contain
      actions: [self_service_tips]
      channels: [self_service, email]
""",
    "tests/example.yaml": """\
# Run with: treatment test --plan <this directory>
as_of: 2026-11-01
tests:
  - name: a valuable loyal active customer is thanked
    profile:
      customer_id: t1
      first_purchase_date: "2023-05-01"
      last_purchase_date: "2026-10-20"
      annual_value: 2400
      consent: {email: true}
    expect:
      treatment: delight
      rule: thank-valuable-loyal
      channels: [email]
""",
}


# yamllint's rules for plan files, the same as the repository's own .yamllint (a test
# keeps them alike), so that `yamllint .` in a new plan checks it as the project does.
FILES[".yamllint"] = """\
# yamllint's configuration for this plan (https://yamllint.readthedocs.io): yamllint .
extends: default

rules:
  # A plan file starts with its schema comment and holds one document: no `---` needed.
  document-start: disable
  # Catalogs line their values up in columns (`email:   {cost: 0.02, ...}`).
  colons:
    max-spaces-after: -1
  # Conditions and descriptions read better on one line than folded at 80.
  line-length:
    max: 120
  # Plan values are YAML 1.2 words: `yes`/`no`/`on`/`off` are refused as ambiguous.
  truthy:
    allowed-values: ["true", "false"]
    check-keys: true
"""


def write_scaffold(directory: Path) -> list[Path]:
    written = []
    for relative, text in FILES.items():
        target = directory / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        written.append(target)
    schema_path = directory / "plan-schema.json"
    schema_path.write_text(json.dumps(plan_file_schema(), indent=2) + "\n", encoding="utf-8")
    written.append(schema_path)
    return written
