"""A rollback plan checks that the target revision's image is still in ECR (issue 16, item 7).

ECR's lifecycle policy expires old images (infra/modules/ecr); a revision whose image is gone can be rolled
back to, and its tasks then fail to pull: the plan refuses it first and says what to do instead.
"""

from __future__ import annotations

import hashlib
import json

import boto3
from harness import CHANNEL, DEPLOYER, Bot, ecs_service

REPOSITORY = "ecs-microservices-production-service-a"


def delete_image(tag: str) -> None:
    ecr = boto3.client("ecr", region_name="us-east-1")
    ecr.batch_delete_image(repositoryName=REPOSITORY, imageIds=[{"imageTag": tag}])


def register_revision(image: str) -> str:
    """A copy of service-a's current revision running `image`; returns its ARN."""
    ecs = boto3.client("ecs", region_name="us-east-1")
    current = ecs.describe_task_definition(taskDefinition=ecs_service("service-a")["taskDefinition"])["taskDefinition"]
    containers = [{**c, "image": image} for c in current["containerDefinitions"]]
    keep = ("family", "taskRoleArn", "executionRoleArn", "networkMode", "requiresCompatibilities", "cpu", "memory")
    request = {k: current[k] for k in keep if k in current}
    arn: str = ecs.register_task_definition(**request, containerDefinitions=containers)["taskDefinition"][
        "taskDefinitionArn"
    ]
    return arn


def test_rollback_to_the_last_known_good_revision_whose_image_expired_is_refused(bot: Bot) -> None:
    delete_image("v1.1.0")  # revision 2, the one /rollback picks
    reply = bot.command("/rollback service-a", user=DEPLOYER)
    assert "the image `v1.1.0` of revision 2 is no longer in ECR" in reply.text
    assert REPOSITORY in reply.text
    assert "push it again" in reply.text  # what to do
    assert "/rollback service-a &lt;revision&gt;" in reply.text  # Slack shows "<revision>"
    assert bot.slack.channel(CHANNEL) == []  # no plan card to confirm
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")


def test_rollback_to_a_named_revision_whose_image_expired_is_refused(bot: Bot) -> None:
    delete_image("v1.0.0")
    reply = bot.command("/rollback service-a 1", user=DEPLOYER)
    assert "the image `v1.0.0` of revision 1 is no longer in ECR" in reply.text
    assert ecs_service("service-a")["taskDefinition"].endswith(":3")


def push_image(tag: str) -> str:
    """An image with a layer of its own (moto derives the digest from the layers); returns its digest."""
    layer = "sha256:" + hashlib.sha256(tag.encode()).hexdigest()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": layer},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": layer}],
    }
    ecr = boto3.client("ecr", region_name="us-east-1")
    image = ecr.put_image(repositoryName=REPOSITORY, imageManifest=json.dumps(manifest), imageTag=tag)["image"]
    return str(image["imageId"]["imageDigest"])


def test_an_image_pinned_by_digest_is_looked_up_by_digest(bot: Bot) -> None:
    digest = push_image("v0.9.0")
    ecr = boto3.client("ecr", region_name="us-east-1")
    uri = ecr.describe_repositories(repositoryNames=[REPOSITORY])["repositories"][0]["repositoryUri"]
    revision = register_revision(f"{uri}@{digest}").rpartition(":")[2]  # 4
    reply = bot.command(f"/rollback service-a {revision}", user=DEPLOYER)
    assert reply.text == "", reply.text  # the plan card is the answer
    delete_image("v0.9.0")
    reply = bot.command(f"/rollback service-a {revision}", user=DEPLOYER)
    assert f"the image `{digest}` of revision {revision} is no longer in ECR" in reply.text


def test_an_image_outside_the_services_repository_is_not_checked(bot: Bot) -> None:
    """The bot may read only its services' repositories; ECS reports a pull failure of any other image."""
    other = register_revision("public.ecr.aws/docker/library/python:3.12-slim")
    reply = bot.command(f"/rollback service-a {other.rpartition(':')[2]}", user=DEPLOYER)
    assert reply.text == "", reply.text  # the plan card is the answer
