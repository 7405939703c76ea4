output "arn" {
  description = "ARN of the ALB."
  value       = aws_lb.this.arn
}

output "arn_suffix" {
  description = "ARN suffix of the ALB (the LoadBalancer dimension of its CloudWatch metrics)."
  value       = aws_lb.this.arn_suffix
}

output "dns_name" {
  description = "DNS name of the ALB."
  value       = aws_lb.this.dns_name
}

output "zone_id" {
  description = "Route 53 zone of the ALB (for alias records)."
  value       = aws_lb.this.zone_id
}

output "url" {
  description = "Base URL of the platform: https:// with a certificate, http:// without."
  value       = "${local.https_enabled ? "https" : "http"}://${aws_lb.this.dns_name}"
}

output "https_enabled" {
  description = "Whether the ALB serves HTTPS."
  value       = local.https_enabled
}

output "security_group_id" {
  description = "Security group of the ALB."
  value       = aws_security_group.this.id
}

output "target_group_arns" {
  description = "Target group ARN per routed service, read through its listener rule so that ECS services created from it wait for the rule (a service attached to a group without a listener fails to create)."
  value       = { for k, rule in aws_lb_listener_rule.service : k => rule.action[0].target_group_arn }
}

output "target_group_arn_suffixes" {
  description = "Target group ARN suffix per routed service (the TargetGroup dimension of CloudWatch metrics)."
  value       = { for k, tg in aws_lb_target_group.this : k => tg.arn_suffix }
}

output "web_acl_arn" {
  description = "ARN of the WAF web ACL (null without WAF)."
  value       = try(aws_wafv2_web_acl.this[0].arn, null)
}

output "access_logs_bucket" {
  description = "S3 bucket of the ALB access logs."
  value       = aws_s3_bucket.access_logs.id
}

output "security_warning" {
  description = "Non-empty when the ALB serves plain HTTP."
  value       = local.https_enabled ? "" : "WARNING: no certificate_arn: the ALB serves plain HTTP. Set certificate_arn to an ACM certificate to get HTTPS with an HTTP -> HTTPS redirect."
}
