################################################################################
# Notifications
################################################################################

variable "alarm_topic_name" {
  description = "Name of the SNS topic every alarm notifies (on ALARM and on OK)."
  type        = string
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key encrypting the topic; its policy must let CloudWatch use it."
  type        = string
  nullable    = false
}

variable "topic_policy_documents" {
  description = "Policy documents (JSON) whose statements are added to the topic's policy; empty adds none."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "alarm_email" {
  description = "E-mail subscribed to the topic; null subscribes nobody."
  type        = string
  default     = null

  validation {
    condition     = var.alarm_email == null || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.alarm_email))
    error_message = "alarm_email must be an e-mail address or null."
  }
}

################################################################################
# What is watched
################################################################################

variable "cluster_name" {
  description = "ECS cluster of the services."
  type        = string
  nullable    = false
}

variable "services" {
  description = "Watched services keyed by short name: ECS service name, alarm name prefix (\"{project}-{env}-{name}-\") whether it is behind the ALB (known at plan time) and then its target group ARN suffix."
  type = map(object({
    ecs_service_name        = string
    alarm_prefix            = string
    public                  = bool
    target_group_arn_suffix = optional(string)
  }))
  nullable = false
}

variable "alb_arn_suffix" {
  description = "ARN suffix of the ALB (LoadBalancer metric dimension)."
  type        = string
  nullable    = false
}

variable "alb_5xx_alarm_name" {
  description = "Name of the ALB 5xx alarm."
  type        = string
  nullable    = false
}

variable "dashboard_name" {
  description = "Name of the CloudWatch dashboard."
  type        = string
  nullable    = false
}

################################################################################
# Thresholds
################################################################################

variable "cpu_alarm_percent" {
  description = "Average CPU utilization of a service above which its alarm fires (autoscaling aims at 70)."
  type        = number
  default     = 80
  nullable    = false
}

variable "memory_alarm_percent" {
  description = "Average memory utilization of a service above which its alarm fires (autoscaling aims at 70)."
  type        = number
  default     = 80
  nullable    = false
}

variable "alb_5xx_threshold" {
  description = "5xx responses (from targets and from the ALB itself) in 5 minutes above which the ALB alarm fires."
  type        = number
  default     = 10
  nullable    = false
}
