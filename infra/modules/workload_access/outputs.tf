output "role_arn" {
  description = "The role the bot assumes here: role_arn of this environment in the bot's config."
  value       = aws_iam_role.bot.arn
}

output "role_name" {
  description = "Its name (template.yaml's WorkloadRoleName)."
  value       = aws_iam_role.bot.name
}

output "event_rule_arn" {
  description = "The rule forwarding the cluster's ECS deployment events to the bot's event bus."
  value       = aws_cloudwatch_event_rule.deployments.arn
}

output "alarm_topic_policy_json" {
  description = "The statement letting the bot's queue subscribe to the alarm topic (merged into the topic's policy)."
  value       = data.aws_iam_policy_document.alarm_topic.json
}
