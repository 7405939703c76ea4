################################################################################
# The bot (its account's stack: template.yaml outputs)
################################################################################

variable "role_name" {
  description = "Name of the role the bot assumes in this account; template.yaml's WorkloadRoleName builds its ARN from it (keep the two equal)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,64}$", var.role_name))
    error_message = "role_name must be a valid IAM role name (1-64 characters)."
  }
}

variable "bot_role_arns" {
  description = "ARNs of the bot's function roles (template.yaml output FunctionRoleArns): the only principals the role trusts."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.bot_role_arns) > 0 && alltrue([for arn in var.bot_role_arns : can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", arn))])
    error_message = "bot_role_arns must list one or more IAM role ARNs, without wildcards."
  }
}

variable "external_id" {
  description = "External id the bot passes when it assumes the role (its stack parameter ExternalId, OPSBOT_EXTERNAL_ID): sts:ExternalId must equal it. Checked by the role's precondition (16-1224 characters)."
  type        = string
  sensitive   = true
}

variable "bot_event_bus_arn" {
  description = "Event bus of the bot's account that receives this platform's ECS deployment events (template.yaml output DeploymentEventBusArn)."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:events:[a-z0-9-]+:[0-9]{12}:event-bus/[A-Za-z0-9._-]+$", var.bot_event_bus_arn))
    error_message = "bot_event_bus_arn must be an EventBridge event bus ARN."
  }
}

variable "bot_alarm_queue_arn" {
  description = "The bot's alarm queue (template.yaml output AlarmQueueArn), which may subscribe to this platform's alarm topic."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", var.bot_alarm_queue_arn))
    error_message = "bot_alarm_queue_arn must be an SQS queue ARN."
  }
}

################################################################################
# This account's platform (what the role may touch)
################################################################################

variable "name_prefix" {
  description = "\"{project}-{env}\": the platform's ECS services, log groups and alarms start with \"{prefix}-\"."
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "The platform's ECS cluster."
  type        = string
  nullable    = false
}

variable "ecr_repository_arns" {
  description = "The platform's ECR repositories."
  type        = list(string)
  nullable    = false
}

variable "pass_role_arns" {
  description = "Task roles and the execution role a /deploy passes to ECS (iam:PassRole, to ecs-tasks.amazonaws.com only)."
  type        = list(string)
  nullable    = false
}

variable "alarm_topic_arn" {
  description = "The platform's alarm topic (the bot's queue subscribes to it)."
  type        = string
  nullable    = false
}
