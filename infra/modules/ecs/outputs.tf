output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "service_names" {
  description = "ECS service name per service."
  value       = { for k, s in aws_ecs_service.this : k => s.name }
}

output "task_definition_families" {
  description = "Task definition family per service."
  value       = { for k, td in aws_ecs_task_definition.this : k => td.family }
}

output "task_definition_arns" {
  description = "ARN (with revision) of the task definition Terraform registered last, per service; the deploy workflow rolls these out."
  value       = { for k, td in aws_ecs_task_definition.this : k => td.arn }
}

output "log_group_names" {
  description = "CloudWatch log group per service."
  value       = { for k, lg in aws_cloudwatch_log_group.service : k => lg.name }
}

output "security_group_ids" {
  description = "Security group per service."
  value       = { for k, sg in aws_security_group.service : k => sg.id }
}

output "service_discovery_namespace" {
  description = "Private DNS namespace of the discoverable services."
  value       = aws_service_discovery_private_dns_namespace.this.name
}

output "service_discovery_names" {
  description = "DNS name of each discoverable service (e.g. service-b.local)."
  value       = { for k, _ in aws_service_discovery_service.this : k => "${k}.${aws_service_discovery_private_dns_namespace.this.name}" }
}
