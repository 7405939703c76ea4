# Two roles for GitHub Actions:
# - the deploy role, trusted only for jobs of the protected GitHub environment: pushes images,
#   runs terraform apply and rolls the services out;
# - the plan role, trusted for pull requests: reads state and describes resources for
#   `terraform plan -lock=false`; it can change nothing.
# Both policies list what the workflow and Terraform call, scoped to the platform's names
# ("{project}-{env}-*") wherever the AWS service supports resource-level permissions.
#
# The deploy role cannot raise its own privileges: it may change only the platform's own roles (task,
# execution, flow-log) by exact ARN, each carrying the platform permissions boundary (required by
# condition); a guard policy denies it every change to the GitHub roles, their policies and the
# boundary. Changes to those are applied by an administrator (`make plan apply`), never by CI.

locals {
  github_sub_prefix = local.github_enabled ? "repo:${var.github_repo}" : ""

  arn = {
    ecr_repos     = "arn:${local.partition}:ecr:${local.region}:${local.account}:repository/${var.name_prefix}-*"
    cluster       = "arn:${local.partition}:ecs:${local.region}:${local.account}:cluster/${var.cluster_name}"
    services      = "arn:${local.partition}:ecs:${local.region}:${local.account}:service/${var.cluster_name}/*"
    task_defs     = "arn:${local.partition}:ecs:${local.region}:${local.account}:task-definition/${var.name_prefix}-*:*"
    role          = "arn:${local.partition}:iam::${local.account}:role"
    policy        = "arn:${local.partition}:iam::${local.account}:policy"
    oidc_provider = "arn:${local.partition}:iam::${local.account}:oidc-provider/token.actions.githubusercontent.com"
    log_groups = [
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/ecs/${var.name_prefix}-*",
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:/vpc/${var.name_prefix}/*",
      "arn:${local.partition}:logs:${local.region}:${local.account}:log-group:aws-waf-logs-${var.name_prefix}*",
    ]
    topics       = "arn:${local.partition}:sns:${local.region}:${local.account}:${var.name_prefix}-*"
    alarms       = "arn:${local.partition}:cloudwatch:${local.region}:${local.account}:alarm:${var.name_prefix}-*"
    dashboard    = "arn:${local.partition}:cloudwatch::${local.account}:dashboard/${var.name_prefix}*"
    logs_bucket  = "arn:${local.partition}:s3:::${var.name_prefix}-alb-logs-*"
    kms_alias    = "arn:${local.partition}:kms:${local.region}:${local.account}:alias/${var.name_prefix}"
    state_bucket = "arn:${local.partition}:s3:::${coalesce(var.terraform_state_bucket, "unset")}"
    lock_table   = "arn:${local.partition}:dynamodb:${local.region}:${local.account}:table/${var.terraform_lock_table}"
  }

  # The only roles the deploy role may change or pass: exactly the platform's (never a GitHub role).
  platform_role_arns = [
    for name in concat(values(var.task_role_names), [var.execution_role_name, var.flow_log_role_name]) :
    "${local.arn.role}/${name}"
  ]
  github_role_arns = [
    for name in [var.github_actions_role_name, var.github_plan_role_name, var.github_bot_deploy_role_name] :
    "${local.arn.role}/${name}"
  ]
  # Managed policies only an administrator changes: the GitHub roles' own and the boundary.
  guarded_policy_arns = concat(
    [for name in [var.github_actions_role_name, var.github_plan_role_name, var.github_bot_deploy_role_name] : "${local.arn.policy}/${name}-*"],
    [aws_iam_policy.platform_boundary.arn],
  )

  # Read-only calls Terraform makes to refresh the platform's resources.
  refresh_actions = [
    "application-autoscaling:Describe*",
    "application-autoscaling:ListTagsForResource",
    "cloudwatch:DescribeAlarms",
    "cloudwatch:GetDashboard",
    "cloudwatch:ListTagsForResource",
    "ec2:Describe*",
    "ecr:DescribeImages",
    "ecr:DescribeRepositories",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource",
    "ecs:Describe*",
    "ecs:List*",
    "elasticloadbalancing:Describe*",
    "events:DescribeRule",
    "events:ListTagsForResource",
    "events:ListTargetsByRule",
    "iam:GetOpenIDConnectProvider",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:ListPolicyVersions",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListOpenIDConnectProviders",
    "iam:ListRolePolicies",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "logs:DescribeLogGroups",
    "logs:ListTagsForResource",
    "logs:ListTagsLogGroup",
    "route53:GetHostedZone",
    "route53:ListResourceRecordSets",
    "route53:ListTagsForResource",
    "s3:GetAccelerateConfiguration",
    "s3:GetBucket*",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:GetReplicationConfiguration",
    "servicediscovery:Get*",
    "servicediscovery:List*",
    "sns:GetSubscriptionAttributes",
    "sns:GetTopicAttributes",
    "sns:ListSubscriptionsByTopic",
    "sns:ListTagsForResource",
    "wafv2:Get*",
    "wafv2:List*",
  ]
}

data "aws_iam_policy_document" "github_deploy_assume" {
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

    # One exact subject: jobs that declare the protected environment (deploy.yml's deploy job), so
    # every assumption passes the environment's reviewers and branch rule. No branch subject: it would
    # admit any job on the branch without them.
    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["${local.github_sub_prefix}:environment:${var.github_environment}"]
    }
  }
}

resource "aws_iam_role" "github_actions" {
  count = local.github_enabled ? 1 : 0

  name                 = var.github_actions_role_name
  description          = "Deploy role of ${var.github_repo}'s deploy workflow (jobs of environment ${var.github_environment}, deploying ${var.github_branch})"
  assume_role_policy   = data.aws_iam_policy_document.github_deploy_assume[0].json
  max_session_duration = 3600

  lifecycle {
    precondition {
      condition     = var.terraform_state_bucket != null
      error_message = "Set terraform_state_bucket: the deploy role must read and write the Terraform state."
    }
  }
}

# Images and rollout: what the workflow itself calls.
data "aws_iam_policy_document" "github_deploy_images" {
  statement {
    sid = "EcrLogin"
    # wildcard: ecr:GetAuthorizationToken has no resource-level permission.
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    sid = "PushAndScanImages"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:DescribeImageScanFindings",
      "ecr:DescribeImages",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = [local.arn.ecr_repos]
  }

  statement {
    sid       = "RollOutServices"
    actions   = ["ecs:DescribeServices", "ecs:UpdateService"]
    resources = [local.arn.services]
  }

  statement {
    sid       = "TerraformStateObjects"
    actions   = ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.arn.state_bucket}/${var.terraform_state_key_prefix}/*"]
  }

  statement {
    sid       = "TerraformStateBucket"
    actions   = ["s3:ListBucket"]
    resources = [local.arn.state_bucket]
  }

  statement {
    sid       = "TerraformStateLock"
    actions   = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
    resources = [local.arn.lock_table]
  }
}

# terraform apply of infra/: create, change and delete the platform's own resources.
data "aws_iam_policy_document" "github_refresh" {
  statement {
    sid = "RefreshPlatform"
    # wildcard: read-only Describe/List/Get calls, most without resource-level permissions.
    actions   = local.refresh_actions
    resources = ["*"]
  }
}

# A managed policy holds at most 6,144 characters: network writes, other writes and reads are
# separate policies.
data "aws_iam_policy_document" "github_deploy_network" {
  #checkov:skip=CKV_AWS_356:EC2, ELB, WAF, Cloud Map and autoscaling create calls cannot be scoped to resources that do not exist yet; those statements are limited to the platform's region.
  statement {
    sid = "ManageNetworkLoadBalancerWaf"
    # wildcard: EC2, ELB, WAF, Cloud Map and Application Auto Scaling create calls have no
    # resource to scope to before the resource exists; limited to the platform's region.
    actions = [
      "application-autoscaling:DeleteScalingPolicy",
      "application-autoscaling:DeregisterScalableTarget",
      "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:RegisterScalableTarget",
      "application-autoscaling:TagResource",
      "ec2:AllocateAddress",
      "ec2:AssociateRouteTable",
      "ec2:AttachInternetGateway",
      "ec2:AuthorizeSecurityGroupEgress",
      "ec2:AuthorizeSecurityGroupIngress",
      "ec2:CreateFlowLogs",
      "ec2:CreateInternetGateway",
      "ec2:CreateNatGateway",
      "ec2:CreateRoute",
      "ec2:CreateRouteTable",
      "ec2:CreateSecurityGroup",
      "ec2:CreateSubnet",
      "ec2:CreateTags",
      "ec2:CreateVpc",
      "ec2:CreateVpcEndpoint",
      "ec2:DeleteFlowLogs",
      "ec2:DeleteInternetGateway",
      "ec2:DeleteNatGateway",
      "ec2:DeleteRoute",
      "ec2:DeleteRouteTable",
      "ec2:DeleteSecurityGroup",
      "ec2:DeleteSubnet",
      "ec2:DeleteTags",
      "ec2:DeleteVpc",
      "ec2:DeleteVpcEndpoints",
      "ec2:DetachInternetGateway",
      "ec2:DisassociateAddress",
      "ec2:DisassociateRouteTable",
      "ec2:ModifySubnetAttribute",
      "ec2:ModifyVpcAttribute",
      "ec2:ModifyVpcEndpoint",
      "ec2:ReleaseAddress",
      "ec2:RevokeSecurityGroupEgress",
      "ec2:RevokeSecurityGroupIngress",
      "ec2:UpdateSecurityGroupRuleDescriptionsEgress",
      "ec2:UpdateSecurityGroupRuleDescriptionsIngress",
      "elasticloadbalancing:AddTags",
      "elasticloadbalancing:CreateListener",
      "elasticloadbalancing:CreateLoadBalancer",
      "elasticloadbalancing:CreateRule",
      "elasticloadbalancing:CreateTargetGroup",
      "elasticloadbalancing:DeleteListener",
      "elasticloadbalancing:DeleteLoadBalancer",
      "elasticloadbalancing:DeleteRule",
      "elasticloadbalancing:DeleteTargetGroup",
      "elasticloadbalancing:ModifyListener",
      "elasticloadbalancing:ModifyLoadBalancerAttributes",
      "elasticloadbalancing:ModifyRule",
      "elasticloadbalancing:ModifyTargetGroup",
      "elasticloadbalancing:ModifyTargetGroupAttributes",
      "elasticloadbalancing:RemoveTags",
      "elasticloadbalancing:SetSecurityGroups",
      "elasticloadbalancing:SetSubnets",
      "elasticloadbalancing:SetWebAcl",
      "route53:AssociateVPCWithHostedZone",
      "route53:ChangeResourceRecordSets",
      "route53:CreateHostedZone",
      "route53:DeleteHostedZone",
      "route53:GetChange",
      "servicediscovery:CreatePrivateDnsNamespace",
      "servicediscovery:CreateService",
      "servicediscovery:DeleteNamespace",
      "servicediscovery:DeleteService",
      "servicediscovery:TagResource",
      "servicediscovery:UpdateService",
      "wafv2:AssociateWebACL",
      "wafv2:CreateWebACL",
      "wafv2:DeleteLoggingConfiguration",
      "wafv2:DeleteWebACL",
      "wafv2:DisassociateWebACL",
      "wafv2:PutLoggingConfiguration",
      "wafv2:TagResource",
      "wafv2:UpdateWebACL",
    ]
    resources = ["*"]

    condition {
      test     = "StringEquals"
      variable = "aws:RequestedRegion"
      values   = [local.region]
    }
  }
}

data "aws_iam_policy_document" "github_deploy_terraform" {
  statement {
    sid = "ManageEcs"
    actions = [
      "ecs:CreateCluster",
      "ecs:CreateService",
      "ecs:DeleteCluster",
      "ecs:DeleteService",
      "ecs:PutClusterCapacityProviders",
      "ecs:TagResource",
      "ecs:UntagResource",
      "ecs:UpdateCluster",
      "ecs:UpdateClusterSettings",
      "ecs:UpdateService",
    ]
    resources = [local.arn.cluster, local.arn.services, local.arn.task_defs]
  }

  statement {
    sid = "RegisterTaskDefinitions"
    # wildcard: task definition (de)registration has no resource-level permission.
    actions   = ["ecs:DeregisterTaskDefinition", "ecs:RegisterTaskDefinition"]
    resources = ["*"]
  }

  statement {
    sid = "ManageEcrRepositories"
    actions = [
      "ecr:CreateRepository",
      "ecr:DeleteLifecyclePolicy",
      "ecr:DeleteRepository",
      "ecr:PutImageScanningConfiguration",
      "ecr:PutImageTagMutability",
      "ecr:PutLifecyclePolicy",
      "ecr:TagResource",
      "ecr:UntagResource",
    ]
    resources = [local.arn.ecr_repos]
  }

  statement {
    sid = "ManageLogGroups"
    actions = [
      "logs:AssociateKmsKey",
      "logs:CreateLogGroup",
      "logs:DeleteLogGroup",
      "logs:DeleteRetentionPolicy",
      "logs:DisassociateKmsKey",
      "logs:PutRetentionPolicy",
      "logs:TagResource",
      "logs:UntagResource",
    ]
    resources = local.arn.log_groups
  }

  statement {
    sid = "WafLogDelivery"
    # wildcard: WAF sets up CloudWatch Logs delivery through these account-level calls.
    actions   = ["logs:CreateLogDelivery", "logs:DeleteLogDelivery", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies"]
    resources = ["*"]
  }

  statement {
    sid = "ManagePlatformRoles"
    actions = [
      "iam:DeleteRole",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateRole",
      "iam:UpdateRoleDescription",
    ]
    resources = local.platform_role_arns
  }

  # No iam:UpdateAssumeRolePolicy: the request carries no iam:PermissionsBoundary key to condition
  # it on, and a task role made to trust an outside account would outlive the deploy. A change to the
  # platform roles' trust (ecs_tasks_assume, modules/vpc) is applied by an administrator.

  # What can add permissions to a role: only on the platform's roles, and only while the role carries
  # the platform boundary, so no role it creates or changes can exceed the boundary.
  statement {
    sid = "GrantWithinPlatformBoundary"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreateRole",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
    ]
    resources = local.platform_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PermissionsBoundary"
      values   = [aws_iam_policy.platform_boundary.arn]
    }
  }

  # Terraform updates a managed policy by adding a version (and deleting the oldest of five); the
  # guard policy denies this on the GitHub roles' policies and the boundary.
  statement {
    sid       = "UpdatePlatformManagedPolicies"
    actions   = ["iam:CreatePolicyVersion", "iam:DeletePolicyVersion", "iam:ListPolicyVersions"]
    resources = ["${local.arn.policy}/${var.name_prefix}-*"]
  }

  statement {
    sid = "ManageGitHubOidcProvider"
    actions = [
      "iam:AddClientIDToOpenIDConnectProvider",
      "iam:CreateOpenIDConnectProvider",
      "iam:DeleteOpenIDConnectProvider",
      "iam:TagOpenIDConnectProvider",
      "iam:UpdateOpenIDConnectProviderThumbprint",
    ]
    resources = [local.arn.oidc_provider]
  }

  statement {
    sid       = "PassTaskRolesToEcs"
    actions   = ["iam:PassRole"]
    resources = local.platform_role_arns

    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com"]
    }
  }

  statement {
    sid       = "ServiceLinkedRoles"
    actions   = ["iam:CreateServiceLinkedRole"]
    resources = ["arn:${local.partition}:iam::${local.account}:role/aws-service-role/*"]

    condition {
      test     = "StringEquals"
      variable = "iam:AWSServiceName"
      values = [
        "ecs.amazonaws.com",
        "ecs.application-autoscaling.amazonaws.com",
        "elasticloadbalancing.amazonaws.com",
        "wafv2.amazonaws.com",
      ]
    }
  }

  statement {
    sid = "UsePlatformKey"
    actions = [
      "kms:Decrypt",
      "kms:EnableKeyRotation",
      "kms:GenerateDataKey",
      "kms:PutKeyPolicy",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateKeyDescription",
    ]
    resources = [var.kms_key_arn]
  }

  # Grants only for the AWS services that encrypt with the key (ECR, CloudWatch Logs), never to a
  # principal of the caller's choosing.
  statement {
    sid       = "GrantPlatformKeyToAwsServices"
    actions   = ["kms:CreateGrant"]
    resources = [var.kms_key_arn]

    condition {
      test     = "Bool"
      variable = "kms:GrantIsForAWSResource"
      values   = ["true"]
    }
  }

  # Terraform never bypasses the lockout check (aws_kms_key's default); a key policy that shuts out
  # the account's administrators is refused whatever the Allow above.
  statement {
    sid       = "NeverBypassKeyPolicyLockoutCheck"
    effect    = "Deny"
    actions   = ["kms:PutKeyPolicy"]
    resources = [var.kms_key_arn]

    condition {
      test     = "Bool"
      variable = "kms:BypassPolicyLockoutSafetyCheck"
      values   = ["true"]
    }
  }

  statement {
    sid       = "ManagePlatformKeyAlias"
    actions   = ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"]
    resources = [local.arn.kms_alias, var.kms_key_arn]
  }

  statement {
    sid       = "ManageAlbLogsBucket"
    actions   = ["s3:CreateBucket", "s3:DeleteBucket", "s3:DeleteBucketPolicy", "s3:PutBucket*", "s3:PutEncryptionConfiguration", "s3:PutLifecycleConfiguration"]
    resources = [local.arn.logs_bucket]
  }

  statement {
    sid = "ManageAlarmsTopic"
    actions = [
      "sns:CreateTopic",
      "sns:DeleteTopic",
      "sns:SetTopicAttributes",
      "sns:Subscribe",
      "sns:TagResource",
      "sns:UntagResource",
    ]
    resources = [local.arn.topics]
  }

  statement {
    sid = "RemoveAlarmSubscriptions"
    # wildcard: sns:Unsubscribe has no resource-level permission (AWS's action database).
    actions   = ["sns:Unsubscribe"]
    resources = ["*"]
  }

  statement {
    sid       = "ManageAlarms"
    actions   = ["cloudwatch:DeleteAlarms", "cloudwatch:PutMetricAlarm", "cloudwatch:TagResource", "cloudwatch:UntagResource"]
    resources = [local.arn.alarms]
  }

  statement {
    sid       = "ManageDashboard"
    actions   = ["cloudwatch:DeleteDashboards", "cloudwatch:PutDashboard"]
    resources = [local.arn.dashboard]
  }
}

resource "aws_iam_policy" "github_deploy_images" {
  count = local.github_enabled ? 1 : 0

  name        = "${var.github_actions_role_name}-images"
  description = "Push the platform's images, roll out its services, use the Terraform state"
  policy      = data.aws_iam_policy_document.github_deploy_images.json
}

resource "aws_iam_policy" "github_deploy_terraform" {
  count = local.github_enabled ? 1 : 0

  name        = "${var.github_actions_role_name}-terraform"
  description = "Apply infra/: manage the platform's ECS, ECR, IAM roles, KMS key, logs, bucket, topic, alarms"
  policy      = data.aws_iam_policy_document.github_deploy_terraform.json
}

resource "aws_iam_policy" "github_deploy_network" {
  count = local.github_enabled ? 1 : 0

  name        = "${var.github_actions_role_name}-network"
  description = "Apply infra/: manage the platform's network, load balancer, WAF, Cloud Map and autoscaling"
  policy      = data.aws_iam_policy_document.github_deploy_network.json
}

resource "aws_iam_policy" "github_refresh" {
  count = local.github_enabled ? 1 : 0

  name        = "${var.github_actions_role_name}-refresh"
  description = "Read the platform's resources for terraform plan (deploy and plan roles)"
  policy      = data.aws_iam_policy_document.github_refresh.json
}

# Deny wins over every Allow: the deploy role can never change a GitHub role (its own included), the
# policies attached to them or the boundary, whatever its other policies say.
data "aws_iam_policy_document" "github_deploy_guard" {
  statement {
    sid    = "NeverChangeGitHubRoles"
    effect = "Deny"
    actions = [
      "iam:AttachRolePolicy",
      "iam:CreateRole",
      "iam:DeleteRole",
      "iam:DeleteRolePermissionsBoundary",
      "iam:DeleteRolePolicy",
      "iam:DetachRolePolicy",
      "iam:PutRolePermissionsBoundary",
      "iam:PutRolePolicy",
      "iam:TagRole",
      "iam:UntagRole",
      "iam:UpdateAssumeRolePolicy",
      "iam:UpdateRole",
    ]
    resources = local.github_role_arns
  }

  statement {
    sid    = "NeverChangeGuardedPolicies"
    effect = "Deny"
    actions = [
      "iam:CreatePolicyVersion",
      "iam:DeletePolicy",
      "iam:DeletePolicyVersion",
      "iam:SetDefaultPolicyVersion",
      "iam:TagPolicy",
      "iam:UntagPolicy",
    ]
    resources = local.guarded_policy_arns
  }
}

resource "aws_iam_policy" "github_deploy_guard" {
  count = local.github_enabled ? 1 : 0

  name        = "${var.github_actions_role_name}-guard"
  description = "Deny the deploy role any change to the GitHub roles, their policies and the platform boundary"
  policy      = data.aws_iam_policy_document.github_deploy_guard.json
}

resource "aws_iam_role_policy_attachment" "github_deploy" {
  for_each = local.github_enabled ? {
    images    = aws_iam_policy.github_deploy_images[0].arn
    terraform = aws_iam_policy.github_deploy_terraform[0].arn
    network   = aws_iam_policy.github_deploy_network[0].arn
    refresh   = aws_iam_policy.github_refresh[0].arn
    guard     = aws_iam_policy.github_deploy_guard[0].arn
  } : {}

  role       = aws_iam_role.github_actions[0].name
  policy_arn = each.value
}

################################################################################
# Plan role for pull requests (read-only)
################################################################################

data "aws_iam_policy_document" "github_plan_assume" {
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

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:sub"
      values   = ["${local.github_sub_prefix}:pull_request"]
    }
  }
}

resource "aws_iam_role" "github_plan" {
  count = local.github_enabled ? 1 : 0

  name                 = var.github_plan_role_name
  description          = "Read-only role for terraform plan in ${var.github_repo}'s pull requests"
  assume_role_policy   = data.aws_iam_policy_document.github_plan_assume[0].json
  max_session_duration = 3600
}

resource "aws_iam_role_policy_attachment" "github_plan_refresh" {
  count = local.github_enabled ? 1 : 0

  role       = aws_iam_role.github_plan[0].name
  policy_arn = aws_iam_policy.github_refresh[0].arn
}

data "aws_iam_policy_document" "github_plan" {
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
}

resource "aws_iam_role_policy" "github_plan" {
  count = local.github_enabled ? 1 : 0

  name   = "read-terraform-state"
  role   = aws_iam_role.github_plan[0].id
  policy = data.aws_iam_policy_document.github_plan.json
}
