data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

data "aws_region" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  region    = data.aws_region.current.name

  github_enabled = var.github_repo != null

  secretsmanager_arns = [for arn in var.secret_arns : arn if can(regex("^arn:[^:]+:secretsmanager:", arn))]
  ssm_parameter_arns  = [for arn in var.secret_arns : arn if can(regex("^arn:[^:]+:ssm:", arn))]
}

################################################################################
# Permissions boundary of the platform's roles (task, execution, flow-log)
################################################################################

# The most any platform role may ever do, whatever policy is attached to it: the deploy role may only
# create or change roles that carry this boundary (github.tf), so it cannot mint a stronger role and
# run a task with it. A service that needs another AWS API adds it here, applied by an administrator.
data "aws_iam_policy_document" "platform_boundary" {
  statement {
    sid = "EcrLogin"
    # wildcard: ecr:GetAuthorizationToken has no resource-level permission.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullPlatformImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account}:repository/${var.name_prefix}-*"]
  }

  statement {
    sid     = "WritePlatformLogs"
    actions = ["logs:CreateLogStream", "logs:DescribeLogStreams", "logs:PutLogEvents"]
    resources = [
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/ecs/${var.name_prefix}-*",
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/vpc/${var.name_prefix}/*",
    ]
  }

  # Only the platform's own secrets and parameters, named "{prefix}/..." (declared ones are checked to
  # be, below): a role within the boundary reads no other team's. The names, not the declared ARNs, so
  # declaring another secret does not change the boundary, which CI may not change.
  statement {
    sid     = "ReadPlatformSecretsAndParameters"
    actions = ["secretsmanager:GetSecretValue", "ssm:GetParameters"]
    resources = [
      "arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:${var.name_prefix}/*",
      "arn:${local.partition}:ssm:${local.region}:${local.account}:parameter/${var.name_prefix}/*",
    ]
  }

  statement {
    sid       = "UsePlatformKey"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }

  statement {
    sid = "EcsExecSessions"
    # wildcard: the SSM messages channel actions have no resource-level permission.
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }
}

resource "aws_iam_policy" "platform_boundary" {
  name        = "${var.name_prefix}-platform-boundary"
  description = "Permissions boundary of the platform's task, execution and flow-log roles"
  policy      = data.aws_iam_policy_document.platform_boundary.json
}

################################################################################
# Task execution role (used by the ECS agent, not by the application)
################################################################################

data "aws_iam_policy_document" "ecs_tasks_assume" {
  statement {
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["ecs-tasks.amazonaws.com"]
    }

    # Confused-deputy guard: only ECS acting for this account may assume the role.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }

    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ecs:${local.region}:${local.account}:*"]
    }
  }
}

resource "aws_iam_role" "execution" {
  name                 = var.execution_role_name
  description          = "ECS task execution role: pull the platform's images, write its logs, read its declared secrets"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = aws_iam_policy.platform_boundary.arn
}

data "aws_iam_policy_document" "execution" {
  statement {
    sid = "EcrLogin"
    # wildcard: ecr:GetAuthorizationToken has no resource-level permission; the token alone grants nothing.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid       = "PullPlatformImages"
    actions   = ["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"]
    resources = values(var.repository_arns)
  }

  statement {
    sid       = "WritePlatformLogs"
    actions   = ["logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [for arn in values(var.log_group_arns) : "${arn}:log-stream:*"]
  }

  dynamic "statement" {
    for_each = length(local.secretsmanager_arns) > 0 ? [1] : []

    content {
      sid       = "ReadDeclaredSecrets"
      actions   = ["secretsmanager:GetSecretValue"]
      resources = local.secretsmanager_arns
    }
  }

  dynamic "statement" {
    for_each = length(local.ssm_parameter_arns) > 0 ? [1] : []

    content {
      sid       = "ReadDeclaredParameters"
      actions   = ["ssm:GetParameters"]
      resources = local.ssm_parameter_arns
    }
  }
}

resource "aws_iam_role_policy" "execution" {
  name   = "pull-log-secrets"
  role   = aws_iam_role.execution.id
  policy = data.aws_iam_policy_document.execution.json

  lifecycle {
    precondition {
      condition = alltrue([
        for arn in var.secret_arns : can(regex(
          "^arn:[^:]+:(secretsmanager:[^:]+:[0-9]+:secret:|ssm:[^:]+:[0-9]+:parameter/)${var.name_prefix}/", arn
        ))
      ])
      error_message = "Every service secret must be a Secrets Manager secret named \"${var.name_prefix}/...\" or an SSM parameter \"/${var.name_prefix}/...\" (the platform boundary allows no other), got: ${join(", ", [for arn in var.secret_arns : arn if !can(regex("^arn:[^:]+:(secretsmanager:[^:]+:[0-9]+:secret:|ssm:[^:]+:[0-9]+:parameter/)${var.name_prefix}/", arn))])}. Rename the secret or parameter, or ask an administrator to widen the boundary in infra/modules/iam/main.tf."
    }
  }
}

################################################################################
# Task roles: one per service, empty unless a feature needs a permission
################################################################################

resource "aws_iam_role" "task" {
  for_each = var.task_role_names

  name                 = each.value
  description          = "Role of the ${each.key} application code"
  assume_role_policy   = data.aws_iam_policy_document.ecs_tasks_assume.json
  permissions_boundary = aws_iam_policy.platform_boundary.arn
}

data "aws_iam_policy_document" "execute_command" {
  statement {
    sid = "EcsExecSessions"
    # wildcard: the SSM messages channel actions have no resource-level permission.
    actions = [
      "ssmmessages:CreateControlChannel",
      "ssmmessages:CreateDataChannel",
      "ssmmessages:OpenControlChannel",
      "ssmmessages:OpenDataChannel",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "DecryptExecSessions"
    actions   = ["kms:Decrypt"]
    resources = [var.kms_key_arn]
  }
}

resource "aws_iam_role_policy" "execute_command" {
  for_each = var.enable_execute_command ? aws_iam_role.task : {}

  name   = "ecs-exec"
  role   = each.value.id
  policy = data.aws_iam_policy_document.execute_command.json
}

################################################################################
# GitHub OIDC
################################################################################

resource "aws_iam_openid_connect_provider" "github" {
  count = local.github_enabled && var.create_github_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # AWS validates GitHub's certificate against its trusted CAs; the list is still required by
  # older 5.x providers. These are GitHub's published intermediate thumbprints.
  thumbprint_list = ["6938fd4d98bab03faadb97b34396831e3780aea1", "1c58a3a8518e8759bf075b76b750d4f2df264fcd"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = local.github_enabled && !var.create_github_oidc_provider ? 1 : 0

  url = "https://token.actions.githubusercontent.com"
}

locals {
  github_oidc_provider_arn = local.github_enabled ? (
    var.create_github_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : data.aws_iam_openid_connect_provider.github[0].arn
  ) : null
}
