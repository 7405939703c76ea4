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
    rules = "arn:${local.partition}:events:${local.region}:${local.account}:rule/${var.name_prefix}-*"
    apis  = "arn:${local.partition}:apigateway:${local.region}::/apis*"
  }
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
    # validation, event source mappings (scoped by function below), API access-log delivery.
    actions = [
      "cloudformation:ValidateTemplate",
      "lambda:CreateEventSourceMapping",
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

  statement {
    sid = "BotFunctionRoles"
    actions = [
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
    ]
    resources = [local.bot_arn.roles]
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
    actions   = ["sns:CreateTopic", "sns:DeleteTopic", "sns:GetTopicAttributes", "sns:SetTopicAttributes", "sns:Subscribe", "sns:TagResource", "sns:UntagResource"]
    resources = [local.bot_arn.topics]
  }

  statement {
    sid       = "SubscribeToPlatformAlarms"
    actions   = ["sns:GetTopicAttributes", "sns:Subscribe"]
    resources = [local.bot_arn.platform_topic]
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
