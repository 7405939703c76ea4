################################################################################
# Load balancer
################################################################################

variable "name" {
  description = "Name of the ALB (at most 32 characters)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.name) <= 32
    error_message = "An ALB name has at most 32 characters."
  }
}

variable "security_group_name" {
  description = "Name tag of the ALB's security group, and with \"-\" the prefix of its name (AWS adds a unique suffix)."
  type        = string
  nullable    = false

  validation {
    condition     = length(var.security_group_name) < 100
    error_message = "A security group name_prefix has at most 100 characters."
  }
}

variable "vpc_id" {
  description = "VPC of the ALB and its target groups."
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Public subnets of the ALB (at least two zones)."
  type        = list(string)
  nullable    = false

  validation {
    condition     = length(var.subnet_ids) >= 2
    error_message = "An ALB needs subnets in at least two availability zones."
  }
}

variable "deletion_protection" {
  description = "Refuse to delete the ALB until this is turned off."
  type        = bool
  nullable    = false
}

variable "idle_timeout" {
  description = "Idle connection timeout, in seconds."
  type        = number
  default     = 60
  nullable    = false
}

################################################################################
# Routing
################################################################################

variable "services" {
  description = "Services reachable from the internet, keyed by short name: container port, health check path, ALB path patterns, target group name prefix (at most 6 characters; AWS adds a unique suffix) and the readable target group name for its Name tag."
  type = map(object({
    port                = number
    health_path         = string
    path_patterns       = list(string)
    target_group_prefix = string
    target_group_name   = string
  }))
  nullable = false

  validation {
    condition     = alltrue([for s in values(var.services) : length(s.target_group_prefix) <= 6 && length(s.path_patterns) >= 1 && length(s.path_patterns) <= 5])
    error_message = "Each routed service needs a target group name prefix of at most 6 characters and 1-5 path patterns."
  }
}

variable "service_security_group_ids" {
  description = "Security group of each routed service; the ALB may open connections to these on the service port only."
  type        = map(string)
  nullable    = false
}

variable "certificate_arn" {
  description = "ACM certificate for HTTPS; null serves plain HTTP."
  type        = string
  default     = null
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false

  validation {
    condition     = can(regex("TLS13|TLS-1-2", var.ssl_policy))
    error_message = "Use a TLS 1.2+ policy (ELBSecurityPolicy-TLS13-* or ELBSecurityPolicy-TLS-1-2-*)."
  }
}

variable "deregistration_delay" {
  description = "Seconds a target keeps draining connections before it is deregistered."
  type        = number
  default     = 30
  nullable    = false
}

################################################################################
# Access logs
################################################################################

variable "access_logs_bucket_name" {
  description = "S3 bucket created for the ALB access logs."
  type        = string
  nullable    = false
}

variable "access_logs_retention_days" {
  description = "Days access logs are kept."
  type        = number
  default     = 90
  nullable    = false
}

################################################################################
# WAF
################################################################################

variable "enable_waf" {
  description = "Attach a WAF web ACL to the ALB."
  type        = bool
  default     = true
  nullable    = false
}

variable "waf_name" {
  description = "Name of the web ACL."
  type        = string
  nullable    = false
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes before WAF blocks it."
  type        = number
  default     = 2000
  nullable    = false
}

variable "waf_log_group_name" {
  description = "CloudWatch log group of the WAF logs; must start with \"aws-waf-logs-\"."
  type        = string
  nullable    = false

  validation {
    condition     = startswith(var.waf_log_group_name, "aws-waf-logs-")
    error_message = "WAF only logs to log groups whose name starts with \"aws-waf-logs-\"."
  }
}

variable "waf_log_retention_days" {
  description = "Retention of the WAF log group, in days."
  type        = number
  default     = 365
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key encrypting the WAF log group."
  type        = string
  nullable    = false
}
