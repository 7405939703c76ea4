# The chat-ops bot's deploy (scripts/deploy-bot.sh) reads these names: keep them stable.

output "project_name" {
  description = "Project identifier used in every name."
  value       = var.project_name
}

output "environment" {
  description = "Environment name used in every name."
  value       = var.environment
}

output "aws_region" {
  description = "Region of the platform."
  value       = var.aws_region
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = module.ecs.cluster_name
}

output "ecs_service_names" {
  description = "ECS service name per service short name."
  value       = module.ecs.service_names
}

output "task_definition_families" {
  description = "Task definition family per service short name."
  value       = module.ecs.task_definition_families
}

output "task_definition_arns" {
  description = "Task definition revision Terraform registered last, per service; the deploy workflow rolls these out."
  value       = module.ecs.task_definition_arns
}

output "log_group_names" {
  description = "CloudWatch log group per service short name."
  value       = module.ecs.log_group_names
}

output "ecr_repository_urls" {
  description = "ECR repository URL per service short name."
  value       = module.ecr.repository_urls
}

output "ecr_repository_arns" {
  description = "ECR repository ARN per service short name."
  value       = module.ecr.repository_arns
}

output "task_role_arns" {
  description = "Task role ARN per service short name."
  value       = module.iam.task_role_arns
}

output "execution_role_arn" {
  description = "Task execution role ARN shared by the services."
  value       = module.iam.execution_role_arn
}

output "alarm_topic_arn" {
  description = "SNS topic every alarm notifies."
  value       = module.monitoring.alarm_topic_arn
}

output "alarm_names" {
  description = "Every CloudWatch alarm of the platform."
  value       = module.monitoring.alarm_names
}

output "alb_dns_name" {
  description = "DNS name of the ALB."
  value       = module.alb.dns_name
}

output "alb_url" {
  description = "Base URL of the platform (https:// when certificate_arn is set)."
  value       = module.alb.url
}

output "alb_security_warning" {
  description = "Non-empty when the ALB serves plain HTTP because no certificate_arn was given."
  value       = module.alb.security_warning
}

output "github_actions_role_arn" {
  description = "Deploy role for the deploy workflow (null without github_repo)."
  value       = module.iam.github_actions_role_arn
}

output "github_plan_role_arn" {
  description = "Read-only role for terraform plan in pull requests (null without github_repo)."
  value       = module.iam.github_plan_role_arn
}

output "github_bot_deploy_role_arn" {
  description = "Role for the bot's deploy workflow, deploy-bot.yml (sam deploy; null without github_repo)."
  value       = module.iam.github_bot_deploy_role_arn
}

output "platform_boundary_arn" {
  description = "Permissions boundary every platform role carries; the deploy role may create or change only roles with it."
  value       = module.iam.platform_boundary_arn
}

output "bot_functions_boundary_arn" {
  description = "Permissions boundary of the bot's function roles (template.yaml FunctionPermissionsBoundary); the bot deploy role may create or change only roles with it."
  value       = module.iam.bot_functions_boundary_arn
}

output "cloudwatch_dashboard_url" {
  description = "Console URL of the platform's CloudWatch dashboard."
  value       = module.monitoring.dashboard_url
}

output "service_discovery_names" {
  description = "Private DNS name of each discoverable service."
  value       = module.ecs.service_discovery_names
}

output "vpc_id" {
  description = "ID of the VPC."
  value       = module.vpc.vpc_id
}

output "bot_access_role_arn" {
  description = "The role the chat-ops bot of another account assumes here (role_arn of this environment in its config); null without bot_access."
  value       = one(module.workload_access[*].role_arn)
}

output "bot_access_role_name" {
  description = "Its name: the bot stack's WorkloadRoleName must be the same. Null without bot_access."
  value       = one(module.workload_access[*].role_name)
}
