output "alarm_topic_arn" {
  description = "ARN of the SNS topic the alarms notify."
  value       = aws_sns_topic.alarms.arn
}

output "alarm_names" {
  description = "Every alarm name, keyed by \"<service>/<kind>\" and \"alb/5xx\"."
  value = merge(
    { for k, a in aws_cloudwatch_metric_alarm.cpu_high : "${k}/cpu-high" => a.alarm_name },
    { for k, a in aws_cloudwatch_metric_alarm.memory_high : "${k}/memory-high" => a.alarm_name },
    { for k, a in aws_cloudwatch_metric_alarm.running_tasks_low : "${k}/running-tasks-low" => a.alarm_name },
    { for k, a in aws_cloudwatch_metric_alarm.unhealthy_hosts : "${k}/unhealthy-hosts" => a.alarm_name },
    { "alb/5xx" = aws_cloudwatch_metric_alarm.alb_5xx.alarm_name },
  )
}

output "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  value       = aws_cloudwatch_dashboard.this.dashboard_name
}

output "dashboard_url" {
  description = "Console URL of the dashboard."
  value       = "https://${local.region}.console.aws.amazon.com/cloudwatch/home?region=${local.region}#dashboards:name=${aws_cloudwatch_dashboard.this.dashboard_name}"
}
