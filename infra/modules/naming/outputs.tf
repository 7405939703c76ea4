output "prefix" {
  description = "\"{project}-{environment}\": the start of every platform-wide name."
  value       = local.prefix
}

output "cluster" {
  description = "ECS cluster name: \"{project}-{env}-cluster\"."
  value       = "${local.prefix}-cluster"
}

output "alb" {
  description = "Application Load Balancer name (at most 32 characters)."
  value       = local.alb
}

output "target_groups" {
  description = "Readable target group name per service (at most 32 characters): the group's Name tag."
  value       = local.target_groups
}

output "target_group_prefixes" {
  description = "Target group name prefix per service (6 characters; AWS completes the name with a unique suffix)."
  value       = local.target_group_prefixes
}

output "ecs_services" {
  description = "ECS service name per service: \"{project}-{env}-{name}\"."
  value       = { for name in keys(var.service_ports) : name => "${local.prefix}-${name}" }
}

output "task_families" {
  description = "Task definition family per service: \"{project}-{env}-{name}\"."
  value       = { for name in keys(var.service_ports) : name => "${local.prefix}-${name}" }
}

output "containers" {
  description = "Container name per service: the short name itself."
  value       = { for name in keys(var.service_ports) : name => name }
}

output "ecr_repositories" {
  description = "ECR repository name per service: \"{project}-{env}-{name}\"."
  value       = { for name in keys(var.service_ports) : name => "${local.prefix}-${name}" }
}

output "log_groups" {
  description = "CloudWatch log group per service: \"/ecs/{project}-{env}-{name}\"."
  value       = { for name in keys(var.service_ports) : name => "/ecs/${local.prefix}-${name}" }
}

output "alarm_prefixes" {
  description = "Prefix of every per-service alarm name: \"{project}-{env}-{name}-\"."
  value       = { for name in keys(var.service_ports) : name => "${local.prefix}-${name}-" }
}

output "security_groups" {
  description = "Security group Name tag per service; with \"-\" the prefix of the group's name."
  value       = { for name in keys(var.service_ports) : name => "${local.prefix}-${name}-tasks" }
}

output "task_roles" {
  description = "IAM task role name per service (at most 64 characters)."
  value       = { for name in keys(var.service_ports) : name => "${local.prefix}-${name}-task" }
}

output "singletons" {
  description = "Names of the platform-wide resources, keyed by what they name."
  value = {
    alb_security_group  = "${local.prefix}-alb"
    alb_logs_bucket     = "${local.prefix}-alb-logs-${var.account_id}"
    alb_5xx_alarm       = "${local.prefix}-alb-5xx"
    alarm_topic         = "${local.prefix}-alarms"
    dashboard           = local.prefix
    endpoint_sg         = "${local.prefix}-vpc-endpoints"
    execution_role      = "${local.prefix}-ecs-execution"
    flow_log_group      = "/vpc/${local.prefix}/flow-logs"
    flow_log_role       = "${local.prefix}-vpc-flow-logs"
    github_actions_role = "${local.prefix}-github-actions"
    github_plan_role    = "${local.prefix}-github-plan"
    kms_alias           = "alias/${local.prefix}"
    vpc                 = "${local.prefix}-vpc"
    waf_acl             = "${local.prefix}-waf"
    waf_log_group       = "aws-waf-logs-${local.prefix}"
  }
}
