"""Terraform and the chat-ops bot agree (issue 16, item 7), shown by the real Terraform CLI.

infra/tests/platform_agreement.tftest.hcl plans the whole platform against a mocked AWS provider (offline)
and applies the ECS module twice to show that an apply after `/scale` leaves the autoscaling bounds alone;
these tests read its outcome and its plan (tests/infra/mockplan.py).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import yaml

from bot.config import parse_config

from .mockplan import Results, Run, results
from .tfchecks import REPO

FILE = "platform_agreement.tftest.hcl"
SERVICES = ("service-a", "service-b")


@pytest.fixture(scope="module")
def tftest(tmp_path_factory: pytest.TempPathFactory) -> Results:
    return results(tmp_path_factory)


@pytest.fixture(scope="module")
def platform(tftest: Results) -> Run:
    run = tftest.run(FILE, "platform")
    assert run.status == "pass", run.diagnostics
    return run


def test_an_apply_after_scale_keeps_the_autoscaling_bounds_the_bot_set(tftest: Results) -> None:
    """service_updated plans new min/max for a service created with others; its assertion fails with
    "would undo /scale" when Terraform would change them."""
    created = tftest.run(FILE, "service_created")
    updated = tftest.run(FILE, "service_updated")
    assert created.status == "pass", created.diagnostics
    assert updated.status == "pass", updated.diagnostics
    bounds = updated.resources()['aws_appautoscaling_target.this["web"]']
    assert (bounds["min_capacity"], bounds["max_capacity"]) == (1, 10)


def test_every_costly_resource_of_a_service_carries_the_bots_cost_tag(platform: Run) -> None:
    """/cost groups by the tag cost.tag_key: a resource without it is "(untagged)" in every report."""
    config = parse_config(yaml.safe_load((REPO / "config" / "example.yaml").read_text()))
    key = config.cost.tag_key
    planned = platform.resources()
    kinds = {
        "ECS service (its tasks get the tag through propagate_tags)": 'module.ecs.aws_ecs_service.this["{}"]',
        "task definition": 'module.ecs.aws_ecs_task_definition.this["{}"]',
        "ECR repository": 'module.ecr.aws_ecr_repository.this["{}"]',
        "log group": 'module.ecs.aws_cloudwatch_log_group.service["{}"]',
    }
    untagged = []
    for kind, address in kinds.items():
        for service in SERVICES:
            tags = planned[address.format(service)].get("tags") or {}
            if tags.get(key) != service:
                untagged.append(f"{kind} of {service}: tags {tags}")
    assert untagged == [], f"not tagged {key}=<service>"
    for service in SERVICES:
        assert planned[f'module.ecs.aws_ecs_service.this["{service}"]']["propagate_tags"] == "SERVICE"


def test_the_cost_doc_says_how_to_activate_the_tag() -> None:
    text = (REPO / "docs" / "cost.md").read_text()
    assert "update-cost-allocation-tags-status" in text
    for kind in ("ECS service", "task definition", "ECR repositor", "log group"):
        assert kind in text, kind


# --------------------------------------------------------------------------- ECR lifecycle


def expired(policy: dict[str, Any], images: list[tuple[str | None, datetime]], now: datetime) -> set[str | None]:
    """ECR's documented lifecycle evaluation: rules in rulePriority order; an image belongs to the first rule
    whose tag selection it matches (lower rules never expire it); a count rule keeps the newest countNumber
    of its images; an age rule expires its images pushed more than countNumber days ago."""
    rules = sorted(policy["rules"], key=lambda r: r["rulePriority"])
    claimed: dict[int, list[tuple[str | None, datetime]]] = {r["rulePriority"]: [] for r in rules}
    for tag, pushed in images:
        for rule in rules:
            selection = rule["selection"]
            status = selection["tagStatus"]
            if (
                status == "any"
                or (status == "untagged" and tag is None)
                or (
                    status == "tagged"
                    and tag is not None
                    and any(tag.startswith(p) for p in selection.get("tagPrefixList", []))
                )
            ):
                claimed[rule["rulePriority"]].append((tag, pushed))
                break
    gone: set[str | None] = set()
    for rule in rules:
        selection, mine = rule["selection"], claimed[rule["rulePriority"]]
        assert rule["action"]["type"] == "expire"
        if selection["countType"] == "imageCountMoreThan":
            newest_first = sorted(mine, key=lambda image: image[1], reverse=True)
            gone |= {tag for tag, _ in newest_first[selection["countNumber"] :]}
        else:
            assert selection["countType"] == "sinceImagePushed"
            assert selection["countUnit"] == "days"
            gone |= {tag for tag, pushed in mine if now - pushed > timedelta(days=selection["countNumber"])}
    return gone


def test_ecr_keeps_release_images_long_after_ci_pushed_many_commits(platform: Run) -> None:
    """CI pushes every commit (tag = SHA); a release tagged v1.2.0 months ago must still be there to roll back to."""
    policy = json.loads(platform.resources()['module.ecr.aws_ecr_lifecycle_policy.this["service-a"]']["policy"])
    priorities = [r["rulePriority"] for r in policy["rules"]]
    assert policy["rules"][priorities.index(max(priorities))]["selection"]["tagStatus"] == "any", (
        "ECR requires the `any` rule to be evaluated last"
    )
    now = datetime(2026, 6, 1, tzinfo=UTC)
    releases = [(f"v1.{i}.0", now - timedelta(days=100 - i)) for i in range(20)]
    commits = [(f"{i:012x}", now - timedelta(hours=200 - i)) for i in range(200)]
    untagged = [(None, now - timedelta(days=3))]
    gone = expired(policy, [*releases, *commits, *untagged], now)
    assert not gone & {tag for tag, _ in releases}, "release images expired"
    assert None in gone, "untagged images (nothing can deploy them) are kept forever"
    kept_commits = [tag for tag, _ in commits if tag not in gone]
    assert 30 <= len(kept_commits) < len(commits), "the newest commits are kept, the oldest expire"
    assert kept_commits == [tag for tag, _ in commits[-len(kept_commits) :]], "the newest commits are the ones kept"
