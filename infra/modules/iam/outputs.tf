output "execution_role_arn" {
  description = "ARN of the task execution role shared by the services."
  value       = aws_iam_role.execution.arn
}

output "execution_role_name" {
  description = "Name of the task execution role."
  value       = aws_iam_role.execution.name
}

output "task_role_arns" {
  description = "Task role ARN per service."
  value       = { for k, r in aws_iam_role.task : k => r.arn }
}

output "task_role_names" {
  description = "Task role name per service."
  value       = { for k, r in aws_iam_role.task : k => r.name }
}

output "github_actions_role_arn" {
  description = "ARN of the deploy role for the deploy workflow (null without github_repo)."
  value       = try(aws_iam_role.github_actions[0].arn, null)
}

output "github_plan_role_arn" {
  description = "ARN of the read-only plan role for pull requests (null without github_repo)."
  value       = try(aws_iam_role.github_plan[0].arn, null)
}

output "github_oidc_provider_arn" {
  description = "ARN of the GitHub OIDC provider used by the roles (null without github_repo)."
  value       = local.github_oidc_provider_arn
}

output "platform_boundary_arn" {
  description = "ARN of the permissions boundary every platform role (task, execution, flow-log) must carry."
  value       = aws_iam_policy.platform_boundary.arn
}

output "github_bot_deploy_role_arn" {
  description = "ARN of the role of the bot's deploy workflow (sam deploy; null without github_repo)."
  value       = try(aws_iam_role.github_bot_deploy[0].arn, null)
}

output "bot_functions_boundary_arn" {
  description = "ARN of the permissions boundary every function role of the bot's stack must carry (template.yaml)."
  value       = aws_iam_policy.bot_functions_boundary.arn
}
