################################################################################
# ECS task roles
################################################################################

variable "execution_role_name" {
  description = "Name of the task execution role shared by the services (pulls images, writes logs, reads the declared secrets)."
  type        = string
  nullable    = false
}

variable "task_role_names" {
  description = "Task role name per service; each service's code runs with its own role."
  type        = map(string)
  nullable    = false
}

variable "repository_arns" {
  description = "ECR repository ARN per service; the execution role may pull from these only."
  type        = map(string)
  nullable    = false
}

variable "log_group_arns" {
  description = "Log group ARN (without \":*\") per service; the execution role may write to these only."
  type        = map(string)
  nullable    = false
}

variable "secret_arns" {
  description = "Secrets Manager secret and SSM parameter ARNs referenced by the task definitions; the execution role may read these only."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "flow_log_role_name" {
  description = "Name of the VPC flow-log role (modules/vpc): the deploy role may manage it, within the platform boundary."
  type        = string
  nullable    = false
}

variable "enable_execute_command" {
  description = "Give the task roles the SSM messages permissions ECS Exec needs."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# GitHub Actions
################################################################################

variable "github_repo" {
  description = "\"owner/name\" of the GitHub repository trusted to assume the roles; null creates no GitHub role."
  type        = string
  default     = null
}

variable "github_branch" {
  description = "Branch the deploy workflow deploys from (named in the deploy role's description; the role trusts only jobs of github_environment, whose deployment branches GitHub limits)."
  type        = string
  default     = "main"
  nullable    = false
}

variable "github_environment" {
  description = "GitHub environment whose jobs may assume the deploy role."
  type        = string
  default     = "production"
  nullable    = false
}

variable "create_github_oidc_provider" {
  description = "Create the GitHub OIDC provider (true) or look up the account's existing one (false)."
  type        = bool
  default     = true
  nullable    = false
}

variable "github_actions_role_name" {
  description = "Name of the deploy role assumed by the deploy workflow on the trusted branch/environment."
  type        = string
  nullable    = false
}

variable "github_plan_role_name" {
  description = "Name of the read-only role assumed by pull-request workflows to run terraform plan."
  type        = string
  nullable    = false
}

variable "github_bot_deploy_role_name" {
  description = "Name of the role the bot's deploy workflow (deploy-bot.yml, environment github_environment) assumes for sam deploy."
  type        = string
  nullable    = false
}

variable "name_prefix" {
  description = "\"{project}-{env}\": the deploy role may manage resources whose names start with it."
  type        = string
  nullable    = false
}

variable "cluster_name" {
  description = "ECS cluster whose services the deploy role may update."
  type        = string
  nullable    = false
}

variable "kms_key_arn" {
  description = "The platform's KMS key, managed by Terraform through the deploy role."
  type        = string
  nullable    = false
}

variable "terraform_state_bucket" {
  description = "S3 bucket of the Terraform state (required when github_repo is set)."
  type        = string
  default     = null
}

variable "terraform_state_key_prefix" {
  description = "Key prefix of this configuration's state objects in the bucket."
  type        = string
  nullable    = false
}

variable "terraform_lock_table" {
  description = "DynamoDB table used for state locking."
  type        = string
  nullable    = false
}

variable "workload_alarm_topic_arns" {
  description = "Alarm topics of other accounts the bot's stack subscribes its alarm queue to (template.yaml WorkloadAlarmTopicArns): the bot deploy role may subscribe that queue to them. Empty: none."
  type        = list(string)
  default     = []
  nullable    = false
}
