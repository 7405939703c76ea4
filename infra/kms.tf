# One customer-managed key for the platform's data at rest: log groups (services, VPC flow logs,
# WAF), ECR images, the alarm topic and ECS Exec sessions.
resource "aws_kms_key" "platform" {
  description             = "${module.naming.prefix}: logs, images, alarm topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
}

resource "aws_kms_alias" "platform" {
  name          = module.naming.singletons.kms_alias
  target_key_id = aws_kms_key.platform.key_id
}

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_109:In a key policy "*" is this key; the account statement delegates to IAM policies, which is the AWS default.
  #checkov:skip=CKV_AWS_111:Same as CKV_AWS_109: key policy resources always are the key itself.
  #checkov:skip=CKV_AWS_356:Same as CKV_AWS_109: key policy resources always are the key itself.
  statement {
    sid = "AccountAdministersKeyThroughIam"
    # wildcard: in a key policy "*" means this key; access is then governed by IAM policies.
    actions   = ["kms:*"]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account}:root"]
    }
  }

  statement {
    sid = "CloudWatchLogsForPlatformLogGroups"
    # wildcard: in a key policy "*" means this key; the encryption context limits it to the platform's log groups.
    # No kms:Describe*: DescribeKey carries no encryption context, so under this condition it is never granted
    # (AWS's action database; tests/infra/test_iam_database_terraform.py).
    actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${var.aws_region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values = [
        "arn:${local.partition}:logs:${var.aws_region}:${local.account}:log-group:/ecs/${module.naming.prefix}-*",
        "arn:${local.partition}:logs:${var.aws_region}:${local.account}:log-group:${module.naming.singletons.flow_log_group}",
        "arn:${local.partition}:logs:${var.aws_region}:${local.account}:log-group:${module.naming.singletons.waf_log_group}",
      ]
    }
  }

  statement {
    sid = "CloudWatchAlarmsPublishToEncryptedTopic"
    # wildcard: in a key policy "*" means this key; alarms of this account only.
    actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
  }
}
