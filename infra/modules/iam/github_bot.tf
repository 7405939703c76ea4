# Role of the bot's deploy workflow (.github/workflows/deploy-bot.yml): `sam deploy` of template.yaml as
# the stack "{project}-{env}-opsbot". Its job declares `environment: production`, so GitHub's OIDC token
# names the environment, not the branch: the role trusts exactly "repo:<owner/name>:environment:<env>".
#
# CloudFormation creates the stack's resources with this role's permissions (no service role), so the
# policy lists what template.yaml creates, scoped to the stack's names. CloudFormation generates the
# names of the functions' roles, the EventBridge rules and the state table from the stack name and
# cuts them to fit AWS's limits, so those are scoped by the platform prefix "{project}-{env}-"; the
# platform's own roles and the GitHub roles are excluded by exact ARN (the guard statements below).
# The first `sam deploy` (which also creates SAM's artefact bucket stack) is made by an administrator.

locals {
  bot_stack = "${var.name_prefix}-opsbot"
  bot_arn = {
    stack          = "arn:${local.partition}:cloudformation:${local.region}:${local.account}:stack/${local.bot_stack}/*"
    sam_stack      = "arn:${local.partition}:cloudformation:${local.region}:${local.account}:stack/aws-sam-cli-managed-default/*"
    transform      = "arn:${local.partition}:cloudformation:${local.region}:aws:transform/Serverless-2016-10-31"
    sam_bucket     = "arn:${local.partition}:s3:::aws-sam-cli-managed-default-samclisourcebucket-*"
    functions      = "arn:${local.partition}:lambda:${local.region}:${local.account}:function:${local.bot_stack}-*"
    layers         = "arn:${local.partition}:lambda:${local.region}:${local.account}:layer:${local.bot_stack}-*"
    roles          = "${local.arn.role}/${var.name_prefix}-*"
    queues         = "arn:${local.partition}:sqs:${local.region}:${local.account}:${local.bot_stack}-*"
    topics         = "arn:${local.partition}:sns:${local.region}:${local.account}:${local.bot_stack}-*"
    platform_topic = "arn:${local.partition}:sns:${local.region}:${local.account}:${var.name_prefix}-alarms"
    table          = "arn:${local.partition}:dynamodb:${local.region}:${local.account}:table/${local.bot_stack}-*"
    alarms         = "arn:${local.partition}:cloudwatch:${local.region}:${local.account}:alarm:${local.bot_stack}-*"
    log_groups = [
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/lambda/${local.bot_stack}-*",
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/aws/vendedlogs/${local.bot_stack}-*",
    ]
    rules       = "arn:${local.partition}:events:${local.region}:${local.account}:rule/${var.name_prefix}-*"
    default_bus = "arn:${local.partition}:events:${local.region}:${local.account}:event-bus/default"
    apis        = "arn:${local.partition}:apigateway:${local.region}::/apis*"
  }
}

################################################################################
# Permissions boundary of the bot's function roles (template.yaml, Globals.Function.PermissionsBoundary)
################################################################################

# The most any role the bot's deploy role creates may ever do, whatever policy the stack gives it: the
# deploy role may create or change a role only while it carries this boundary (below), so its token
# cannot mint an administrator under the prefix. It covers what template.yaml's functions are granted
# (bot/permissions.py) and what SAM adds (logs, X-Ray, SQS event sources and destinations), scoped by
# the platform's and the stack's names; no IAM but passing the platform's task roles to ECS, and
# sts:AssumeRole only into other accounts (template.yaml WorkloadAccountIds, modules/workload_access). Named under the bot deploy role's name,
# so the platform deploy role's guard (github.tf) keeps it as an administrator's, as the role's own.
data "aws_iam_policy_document" "bot_functions_boundary" {
  #checkov:skip=CKV_AWS_356:the "*" statement holds only actions without resource-level permissions, and DescribeAlarms, whose API reference requires "*" (checked by tests/infra/test_iam_database_terraform.py).
  statement {
    sid = "NoResourceLevelPermission"
    # wildcard: these actions have no resource-level permission (AWS's action database), and
    # DescribeAlarms's API reference requires "*".
    actions = [
      "application-autoscaling:DescribeScalableTargets",
      "ce:GetCostAndUsage",
      "cloudwatch:DescribeAlarms",
      "cloudwatch:GetMetricWidgetImage",
      "ecs:DeregisterTaskDefinition",
      "ecs:DescribeTaskDefinition",
      "ecs:ListTaskDefinitions",
      "ecs:RegisterTaskDefinition",
      "xray:GetSamplingRules",
      "xray:GetSamplingStatisticSummaries",
      "xray:GetSamplingTargets",
      "xray:PutTelemetryRecords",
      "xray:PutTraceSegments",
    ]
    resources = ["*"]
  }

  statement {
    sid       = "PlatformServices"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = ["arn:${local.partition}:ecs:${local.region}:${local.account}:service/*/${var.name_prefix}-*"]
  }

  statement {
    sid       = "PlatformTaskRoles"
    actions   = ["iam:PassRole"]
    resources = [for name in concat(values(var.task_role_names), [var.execution_role_name]) : "${local.arn.role}/${name}"]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com"]
    }
  }

  statement {
    sid       = "PlatformImages"
    actions   = ["ecr:DescribeImages"]
    resources = ["arn:${local.partition}:ecr:${local.region}:${local.account}:repository/${var.name_prefix}-*"]
  }

  statement {
    sid       = "PlatformScaling"
    actions   = ["application-autoscaling:RegisterScalableTarget"]
    resources = ["arn:${local.partition}:application-autoscaling:${local.region}:${local.account}:scalable-target/*"]

    condition {
      test     = "StringEquals"
      variable = "application-autoscaling:service-namespace"
      values   = ["ecs"]
    }
  }

  statement {
    sid       = "PlatformLogs"
    actions   = ["logs:FilterLogEvents"]
    resources = ["arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/ecs/${var.name_prefix}-*"]
  }

  statement {
    sid       = "PlatformAlarms"
    actions   = ["cloudwatch:DescribeAlarmHistory", "cloudwatch:ListTagsForResource"]
    resources = ["arn:${local.partition}:cloudwatch:${local.region}:${local.account}:alarm:${var.name_prefix}-*"]
  }

  statement {
    sid       = "FunctionLogs"
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"]
    resources = [local.bot_arn.log_groups[0], "${local.bot_arn.log_groups[0]}:*"]
  }

  statement {
    sid       = "StateTable"
    actions   = ["dynamodb:BatchGetItem", "dynamodb:DeleteItem", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:UpdateItem"]
    resources = [local.bot_arn.table]
  }

  statement {
    sid       = "SlackSecrets"
    actions   = ["secretsmanager:GetSecretValue"]
    resources = ["arn:${local.partition}:secretsmanager:${local.region}:${local.account}:secret:*"]
  }

  statement {
    sid       = "BotFunctions"
    actions   = ["lambda:InvokeFunction"]
    resources = [local.bot_arn.functions]
  }

  statement {
    sid       = "BotQueues"
    actions   = ["sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:SendMessage"]
    resources = [local.bot_arn.queues]
  }

  statement {
    sid       = "OtherAccountsEnvironmentRoles"
    actions   = ["sts:AssumeRole"]
    resources = ["arn:${local.partition}:iam::*:role/*"]

    condition {
      test     = "StringNotEquals"
      variable = "aws:ResourceAccount"
      values   = [local.account]
    }
  }
}

resource "aws_iam_policy" "bot_functions_boundary" {
  name        = "${var.github_bot_deploy_role_name}-functions-boundary"
  description = "Permissions boundary of every function role of ${local.bot_stack} (template.yaml)"
  policy      = data.aws_iam_policy_document.bot_functions_boundary.json
}

data "aws_iam_policy_document" "github_bot_deploy_assume" {
  count = local.github_enabled ? 1 : 0

  statement {
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.github_oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    # The job declares `environment: production`: this is the subject of its token.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["${local.github_sub_prefix}:environment:${var.github_environment}"]
    }
  }
}

resource "aws_iam_role" "github_bot_deploy" {
  count = local.github_enabled ? 1 : 0

  name                 = var.github_bot_deploy_role_name
  description          = "sam deploy of ${local.bot_stack} by ${var.github_repo}'s deploy-bot workflow (environment ${var.github_environment})"
  assume_role_policy   = data.aws_iam_policy_document.github_bot_deploy_assume[0].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "github_bot_deploy" {
  #checkov:skip=CKV_AWS_356:the "*" statements hold only actions without resource-level permissions, and DescribeAlarms, whose API reference requires "*" (checked by tests/infra/test_iam_database_terraform.py).
  statement {
    sid       = "BotStack"
    actions   = ["cloudformation:CreateChangeSet", "cloudformation:DeleteChangeSet", "cloudformation:DescribeChangeSet", "cloudformation:DescribeStackEvents", "cloudformation:DescribeStacks", "cloudformation:ExecuteChangeSet", "cloudformation:GetTemplate", "cloudformation:GetTemplateSummary", "cloudformation:ListStackResources"]
    resources = [local.bot_arn.stack]
  }

  statement {
    sid       = "SamTransform"
    actions   = ["cloudformation:CreateChangeSet"]
    resources = [local.bot_arn.transform]
  }

  statement {
    sid       = "SamArtefactBucket"
    actions   = ["cloudformation:DescribeStacks"]
    resources = [local.bot_arn.sam_stack]
  }

  statement {
    sid       = "SamArtefactObjects"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.bot_arn.sam_bucket}/*"]
  }

  statement {
    sid       = "SamArtefactListing"
    actions   = ["s3:GetBucketLocation", "s3:ListBucket"]
    resources = [local.bot_arn.sam_bucket]
  }

  # scripts/deploy-bot.sh reads infra/'s Terraform outputs from the state.
  statement {
    sid       = "ReadTerraformState"
    actions   = ["s3:GetObject"]
    resources = ["${local.arn.state_bucket}/${var.terraform_state_key_prefix}/*"]
  }

  statement {
    sid       = "ListTerraformState"
    actions   = ["s3:ListBucket"]
    resources = [local.arn.state_bucket]
  }

  statement {
    sid = "NoResourceLevelPermission"
    # wildcard: these actions have no resource-level permission (AWS's action database): template
    # validation, API access-log delivery, the default event bus's policy (WorkloadDeploymentEventsPolicy).
    actions = [
      "cloudformation:ValidateTemplate",
      "events:PutPermission",
      "events:RemovePermission",
      "logs:CreateLogDelivery",
      "logs:DeleteLogDelivery",
      "logs:DescribeLogGroups",
      "logs:DescribeResourcePolicies",
      "logs:GetLogDelivery",
      "logs:ListLogDeliveries",
      "logs:PutResourcePolicy",
      "logs:UpdateLogDelivery",
      "sns:Unsubscribe",
    ]
    resources = ["*"]
  }

  statement {
    sid = "BotFunctions"
    actions = [
      "lambda:AddPermission",
      "lambda:CreateFunction",
      "lambda:DeleteFunction",
      "lambda:DeleteFunctionConcurrency",
      "lambda:DeleteFunctionEventInvokeConfig",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:GetFunctionEventInvokeConfig",
      "lambda:ListTags",
      "lambda:PutFunctionConcurrency",
      "lambda:PutFunctionEventInvokeConfig",
      "lambda:RemovePermission",
      "lambda:TagResource",
      "lambda:UntagResource",
      "lambda:UpdateFunctionCode",
      "lambda:UpdateFunctionConfiguration",
      "lambda:UpdateFunctionEventInvokeConfig",
    ]
    resources = [local.bot_arn.functions]
  }

  statement {
    # wildcard: CreateEventSourceMapping has no resource-level permission; the function is its condition.
    sid       = "CreateBotEventSourceMappings"
    actions   = ["lambda:CreateEventSourceMapping"]
    resources = ["*"]

    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = [local.bot_arn.functions]
    }
  }

  statement {
    sid       = "BotEventSourceMappings"
    actions   = ["lambda:DeleteEventSourceMapping", "lambda:GetEventSourceMapping", "lambda:UpdateEventSourceMapping"]
    resources = ["arn:${local.partition}:lambda:${local.region}:${local.account}:event-source-mapping:*"]

    condition {
      test     = "ArnLike"
      variable = "lambda:FunctionArn"
      values   = [local.bot_arn.functions]
    }
  }

  statement {
    sid       = "BotLayers"
    actions   = ["lambda:DeleteLayerVersion", "lambda:GetLayerVersion", "lambda:PublishLayerVersion"]
    resources = [local.bot_arn.layers, "${local.bot_arn.layers}:*"]
  }

  # Reading and removing a function role needs no boundary; everything that can add a permission, or
  # change who may assume the role, only while the role carries the bot functions' boundary.
  statement {
    sid       = "BotFunctionRoles"
    actions   = ["iam:DeleteRole", "iam:GetRole", "iam:GetRolePolicy", "iam:TagRole", "iam:UntagRole"]
    resources = [local.bot_arn.roles]
  }

  statement {
    sid = "BotFunctionRolesWithinBoundary"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
      "iam:UpdateAssumeRolePolicy",
    ]
    resources = [local.bot_arn.roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.bot_functions_boundary.arn]
    }
  }

  # SAM attaches AWS's basic Lambda execution policies; nothing else may be attached.
  statement {
    sid       = "BotFunctionManagedPolicies"
    actions   = ["iam:AttachRolePolicy"]
    resources = [local.bot_arn.roles]

    condition {
      test     = "ArnEquals"
      variable = "iam:PolicyARN"
      values = [
        "arn:${local.partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
        "arn:${local.partition}:iam::aws:policy/AWSXrayWriteOnlyAccess",
      ]
    }

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.bot_functions_boundary.arn]
    }
  }

  # A function role never loses the boundary, and the boundary is an administrator's to change.
  statement {
    sid       = "NeverWithoutBotBoundary"
    effect    = "Deny"
    actions   = ["iam:DeleteRolePermissionsBoundary"]
    resources = [local.bot_arn.roles]
  }

  statement {
    sid       = "NeverChangeBotBoundary"
    effect    = "Deny"
    actions   = ["iam:CreatePolicyVersion", "iam:DeletePolicy", "iam:DeletePolicyVersion", "iam:SetDefaultPolicyVersion"]
    resources = [aws_iam_policy.bot_functions_boundary.arn]
  }

  statement {
    sid       = "PassFunctionRolesToLambda"
    actions   = ["iam:PassRole"]
    resources = [local.bot_arn.roles]

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["lambda.amazonaws.com"]
    }
  }

  # Never the platform's roles or the GitHub roles, though their names share the prefix.
  statement {
    sid    = "NeverOtherRoles"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePermissionsBoundary",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PassRole",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
    ]
    resources = concat(local.platform_role_arns, local.github_role_arns)
  }

  statement {
    sid       = "BotQueues"
    actions   = ["sqs:CreateQueue", "sqs:DeleteQueue", "sqs:GetQueueAttributes", "sqs:SetQueueAttributes", "sqs:TagQueue", "sqs:UntagQueue", "sqs:ListQueueTags"]
    resources = [local.bot_arn.queues]
  }

  statement {
    sid       = "BotTopics"
    actions   = ["sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:TagResource", "sns:UntagResource"]
    resources = [local.bot_arn.topics]
  }

  # What template.yaml subscribes: AlarmQueue to the platform's alarm topic, AlarmsFunction and the
  # optional OwnAlarmEmail to its own alarm topic; never an HTTP(S) endpoint or another account's queue.
  statement {
    sid       = "ReadPlatformAlarmTopic"
    actions   = ["sns:GetTopicAttributes"]
    resources = [local.bot_arn.platform_topic]
  }

  statement {
    sid       = "SubscribeBotQueueToPlatformAlarms"
    actions   = ["sns:Subscribe"]
    resources = [local.bot_arn.platform_topic]

    condition {
      test     = "StringEquals"
      variable = "sns:Protocol"
      values   = ["sqs"]
    }

    condition {
      test     = "ArnLike"
      variable = "sns:Endpoint"
      values   = [local.bot_arn.queues]
    }
  }

  statement {
    sid       = "SubscribeBotFunctionsToBotTopics"
    actions   = ["sns:Subscribe"]
    resources = [local.bot_arn.topics]

    condition {
      test     = "StringEquals"
      variable = "sns:Protocol"
      values   = ["lambda"]
    }

    condition {
      test     = "ArnLike"
      variable = "sns:Endpoint"
      values   = [local.bot_arn.functions]
    }
  }

  # An e-mail endpoint is an address: only the protocol can be named (AWS mails a confirmation first).
  statement {
    sid       = "SubscribeEmailToBotTopics"
    actions   = ["sns:Subscribe"]
    resources = [local.bot_arn.topics]

    condition {
      test     = "StringEquals"
      variable = "sns:Protocol"
      values   = ["email"]
    }
  }

  statement {
    sid       = "BotStateTable"
    actions   = ["dynamodb:CreateTable", "dynamodb:DeleteTable", "dynamodb:DescribeContinuousBackups", "dynamodb:DescribeTable", "dynamodb:DescribeTimeToLive", "dynamodb:TagResource", "dynamodb:UntagResource", "dynamodb:UpdateContinuousBackups", "dynamodb:UpdateTable", "dynamodb:UpdateTimeToLive"]
    resources = [local.bot_arn.table]
  }

  statement {
    sid = "ReadAlarms"
    # wildcard: DescribeAlarms needs '*' (its API reference: composite alarms); read-only.
    actions   = ["cloudwatch:DescribeAlarms"]
    resources = ["*"]
  }

  statement {
    sid       = "BotAlarms"
    actions   = ["cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"]
    resources = [local.bot_arn.alarms]
  }

  statement {
    sid       = "BotLogGroups"
    actions   = ["logs:CreateLogGroup", "logs:DeleteLogGroup", "logs:PutRetentionPolicy", "logs:TagResource", "logs:UntagResource", "logs:ListTagsForResource"]
    resources = local.bot_arn.log_groups
  }

  # WorkloadDeploymentEventsPolicy: the default bus's policy statement for the workload accounts (issue 21);
  # PutPermission and RemovePermission take no resource (NoResourceLevelPermission above).
  statement {
    sid       = "BotEventBusPolicy"
    actions   = ["events:DescribeEventBus"]
    resources = [local.bot_arn.default_bus]
  }

  # WorkloadAlarmSubscriptionN: AlarmQueue to the alarm topics of the workload accounts, listed exactly.
  dynamic "statement" {
    for_each = length(var.workload_alarm_topic_arns) > 0 ? [1] : []

    # CloudFormation's AWS::SNS::Subscription handlers call it (create, read, delete); the workload topic's
    # policy allows it too (infra/modules/workload_access, BotDeployReadsTopic).
    content {
      sid       = "ReadWorkloadAlarmTopics"
      actions   = ["sns:GetTopicAttributes"]
      resources = var.workload_alarm_topic_arns
    }
  }

  dynamic "statement" {
    for_each = length(var.workload_alarm_topic_arns) > 0 ? [1] : []

    content {
      sid       = "SubscribeBotQueueToWorkloadAlarms"
      actions   = ["sns:Subscribe"]
      resources = var.workload_alarm_topic_arns

      condition {
        test     = "StringEquals"
        variable = "sns:Protocol"
        values   = ["sqs"]
      }

      condition {
        test     = "ArnLike"
        variable = "sns:Endpoint"
        values   = [local.bot_arn.queues]
      }
    }
  }

  statement {
    sid       = "BotRules"
    actions   = ["events:DeleteRule", "events:DescribeRule", "events:PutRule", "events:PutTargets", "events:RemoveTargets", "events:TagResource", "events:UntagResource"]
    resources = [local.bot_arn.rules]
  }

  statement {
    sid       = "BotHttpApi"
    actions   = ["apigateway:DELETE", "apigateway:GET", "apigateway:PATCH", "apigateway:POST", "apigateway:PUT"]
    resources = [local.bot_arn.apis] # the API, its stages, routes and integrations; tags are given on creation
  }
}

resource "aws_iam_policy" "github_bot_deploy" {
  count = local.github_enabled ? 1 : 0

  name        = "${var.github_bot_deploy_role_name}-sam"
  description = "sam deploy of ${local.bot_stack}: its stack, SAM's artefacts and the resources template.yaml creates"
  policy      = data.aws_iam_policy_document.github_bot_deploy.json
}

resource "aws_iam_role_policy_attachment" "github_bot_deploy" {
  count = local.github_enabled ? 1 : 0

  role       = aws_iam_role.github_bot_deploy[0].name
  policy_arn = aws_iam_policy.github_bot_deploy[0].arn
}
