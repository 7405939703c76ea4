# What the chat-ops bot, running in another AWS account, needs in this one (issue 21): docs/deploy.md,
# "Adding an AWS account".
#
# - The role the bot assumes: trusts only the bot's function roles, with the external id; its policy is
#   exactly what bot/permissions.py lists for the platform's resources (the scopes in WORKLOAD_SCOPES),
#   scoped as template.yaml scopes them in the bot's own account. tests/infra/test_workload_access.py
#   compares the two and checks every statement against AWS's action database.
# - An EventBridge rule forwarding the platform cluster's "ECS Deployment State Change" events to the bot
#   account's event bus, with the role EventBridge needs to put events there.
# - A statement for the alarm topic's policy (the monitoring module merges it) letting the bot account
#   subscribe its alarm queue, and only that queue, over SQS.
#
# The role trusts another account, so like the GitHub roles it is applied by an administrator: the deploy
# role of CI may change only the platform's own roles (modules/iam/github.tf), never this one.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  bot_account = split(":", var.bot_alarm_queue_arn)[4]

  # The ARNs template.yaml builds for the bot's own account, here for this one.
  service_arns   = "arn:${local.partition}:ecs:${local.region}:${local.account}:service/${var.cluster_name}/${var.name_prefix}-*"
  log_group_arns = "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/ecs/${var.name_prefix}-*"
  alarm_arns     = "arn:${local.partition}:cloudwatch:${local.region}:${local.account}:alarm:${var.name_prefix}-*"
  scalable_arns  = "arn:${local.partition}:application-autoscaling:${local.region}:${local.account}:scalable-target/*"
}

################################################################################
# The role the bot assumes
################################################################################

data "aws_iam_policy_document" "trust" {
  lifecycle {
    precondition {
      condition     = can(regex("^[A-Za-z0-9+=,.@:/-]{16,}$", var.external_id)) && try(length(var.external_id) <= 1224, false)
      error_message = "external_id (bot_external_id) must be 16-1224 characters of letters, digits and +=,.@:/- (what STS accepts); the bot's stack passes the same value."
    }
  }

  statement {
    sid     = "TheBotsFunctionsOnly"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "AWS"
      identifiers = var.bot_role_arns
    }

    # The confused-deputy guard: the bot names this account's external id (its config's external_id).
    condition {
      test     = "StringEquals"
      variable = "sts:ExternalId"
      values   = [var.external_id]
    }
  }
}

# Statement ids are template.yaml's (tests/deploy/checks.py SID_OF_SCOPE): one per bot/permissions.py Scope.
data "aws_iam_policy_document" "bot" {
  #checkov:skip=CKV_AWS_356:the "*" statement holds only actions AWS offers no resource-level permission for, and DescribeAlarms, whose API reference requires "*" for composite alarms (tests/infra/test_workload_access.py checks it against AWS's action database).
  #checkov:skip=CKV_AWS_111:RegisterTaskDefinition and DeregisterTaskDefinition support no resource type (AWS's action database); PassRole below limits which roles a registered task definition can use.
  statement {
    sid = "NoResourceLevelPermission"
    # wildcard: these actions support no resource type (AWS's action database); DescribeAlarms returns
    # composite alarms only when granted on "*" (its API reference). Read-only but for the task-definition
    # revisions a /deploy registers, whose roles the PassRole statement limits.
    actions = [
      "application-autoscaling:DescribeScalableTargets",
      "ce:GetCostAndUsage",
      "cloudwatch:DescribeAlarms",
      "cloudwatch:GetMetricWidgetImage",
      "ecs:DeregisterTaskDefinition",
      "ecs:DescribeTaskDefinition",
      "ecs:ListTaskDefinitions",
      "ecs:RegisterTaskDefinition",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "ClusterServices"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = [local.service_arns]
  }

  statement {
    sid       = "TaskAndExecutionRoles"
    actions   = ["iam:PassRole"]
    resources = var.pass_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "EcrRepositories"
    actions   = ["ecr:DescribeImages"]
    resources = var.ecr_repository_arns
  }

  statement {
    sid     = "ScalableTargets"
    actions = ["application-autoscaling:RegisterScalableTarget"]
    # Scalable-target ARNs end in a random id: the condition keys limit this to ECS services' desired count.
    resources = [local.scalable_arns]

    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:service-namespace"
      values   = ["ecs"]
    }

    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:scalable-dimension"
      values   = ["ecs:service:DesiredCount"]
    }
  }

  statement {
    sid       = "LogGroups"
    actions   = ["logs:FilterLogEvents"]
    resources = [local.log_group_arns]
  }

  statement {
    sid       = "PlatformAlarms"
    actions   = ["cloudwatch:DescribeAlarmHistory", "cloudwatch:ListTagsForResource"]
    resources = [local.alarm_arns]
  }
}

resource "aws_iam_role" "bot" {
  name                 = var.role_name
  description          = "Assumed by the chat-ops bot of account ${local.bot_account} to operate ${var.name_prefix} (ECS, ECR, logs, alarms, costs)"
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  max_session_duration = 3600
}

resource "aws_iam_role_policy" "bot" {
  name   = "operate-${var.name_prefix}"
  role   = aws_iam_role.bot.id
  policy = data.aws_iam_policy_document.bot.json
}

################################################################################
# ECS deployment events -> the bot account's event bus
################################################################################

# An "ECS Deployment State Change" event names its service in `resources` (service/<cluster>/<service>);
# its detail has no cluster ARN. The prefix keeps this to the platform's cluster, as the bot's own rule does.
resource "aws_cloudwatch_event_rule" "deployments" {
  name        = "${var.name_prefix}-opsbot-deployments"
  description = "ECS deployment events of ${var.cluster_name}, forwarded to the chat-ops bot's event bus"
  event_pattern = jsonencode({
    source        = ["aws.ecs"]
    "detail-type" = ["ECS Deployment State Change"]
    resources     = [{ prefix = "arn:${local.partition}:ecs:${local.region}:${local.account}:service/${var.cluster_name}/" }]
  })
}

data "aws_iam_policy_document" "forwarder_trust" {
  statement {
    sid     = "ThisAccountsDeploymentRule"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_cloudwatch_event_rule.deployments.arn]
    }
  }
}

data "aws_iam_policy_document" "forwarder" {
  statement {
    sid       = "BotEventBus"
    actions   = ["events:PutEvents"]
    resources = [var.bot_event_bus_arn]
  }
}

resource "aws_iam_role" "forwarder" {
  name               = "${var.role_name}-events"
  description        = "EventBridge puts ${var.cluster_name}'s deployment events on the chat-ops bot's event bus"
  assume_role_policy = data.aws_iam_policy_document.forwarder_trust.json
}

resource "aws_iam_role_policy" "forwarder" {
  name   = "put-events-on-the-bot-bus"
  role   = aws_iam_role.forwarder.id
  policy = data.aws_iam_policy_document.forwarder.json
}

resource "aws_cloudwatch_event_target" "bot_bus" {
  rule      = aws_cloudwatch_event_rule.deployments.name
  target_id = "opsbot-event-bus"
  arn       = var.bot_event_bus_arn
  role_arn  = aws_iam_role.forwarder.arn
}

################################################################################
# The alarm topic: the bot's queue may subscribe
################################################################################

# AWS's cross-account SQS subscription: the queue's owner subscribes (so no confirmation is needed), and the
# topic's policy lets that account subscribe exactly that queue over SQS. The monitoring module merges this
# statement into the topic's policy (a topic has one policy).
data "aws_iam_policy_document" "alarm_topic" {
  statement {
    sid       = "BotQueueSubscribes"
    actions   = ["sns:Subscribe"]
    resources = [var.alarm_topic_arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.bot_account}:root"]
    }

    condition {
      test     = "StringEquals"
      variable = "sns:Protocol"
      values   = ["sqs"]
    }

    condition {
      test     = "StringEquals"
      variable = "sns:Endpoint"
      values   = [var.bot_alarm_queue_arn]
    }
  }

  # CloudFormation's AWS::SNS::Subscription handlers (create, read, delete) call sns:GetTopicAttributes on the
  # topic: across accounts the topic's policy must allow it as well as the bot deploy role's own policy
  # (infra/modules/iam/github_bot.tf, ReadWorkloadAlarmTopics). No sns:Protocol or sns:Endpoint with this call.
  statement {
    sid       = "BotDeployReadsTopic"
    actions   = ["sns:GetTopicAttributes"]
    resources = [var.alarm_topic_arn]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.bot_account}:root"]
    }
  }
}
