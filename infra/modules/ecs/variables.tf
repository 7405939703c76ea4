################################################################################
# Cluster
################################################################################

variable "cluster_name" {
  description = "Name of the ECS cluster."
  type        = string
  nullable    = false
}

variable "aws_region" {
  description = "Region of the platform (the awslogs driver's region). A variable, not a data source: the module is applied after the IAM module (depends_on), which would defer a data source's read and with it the task definitions."
  type        = string
  nullable    = false
}

variable "allow_destroy" {
  description = "Let `terraform destroy` remove the services and Cloud Map services without draining them first (apply it before the destroy)."
  type        = bool
  default     = false
  nullable    = false
}

variable "use_fargate_spot" {
  description = "Place tasks beyond the first of each service on FARGATE_SPOT (1:3)."
  type        = bool
  default     = false
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key encrypting the log groups and ECS Exec sessions."
  type        = string
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of the service log groups, in days."
  type        = number
  default     = 30
  nullable    = false
}

variable "enable_execute_command" {
  description = "Enable ECS Exec on the services."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Network and discovery
################################################################################

variable "vpc_id" {
  description = "VPC of the tasks and of the Cloud Map namespace."
  type        = string
  nullable    = false
}

variable "subnet_ids" {
  description = "Private subnets the tasks run in."
  type        = list(string)
  nullable    = false
}

variable "alb_security_group_id" {
  description = "Security group of the ALB; services with a target group accept their port from it."
  type        = string
  nullable    = false
}

variable "service_discovery_namespace" {
  description = "Private DNS namespace of discoverable services (\"local\" gives service-b.local)."
  type        = string
  default     = "local"
  nullable    = false
}

################################################################################
# Services
################################################################################

variable "services" {
  description = "Services keyed by short name, with every name already derived (see modules/naming; security_group_name is the Name tag and, with \"-\", the name prefix of the tasks' security group) and the image to run. `public` (known at plan time) says whether the service is behind the ALB; target_group_arn is then its target group."
  type = map(object({
    ecs_service_name    = string
    task_family         = string
    container_name      = string
    log_group_name      = string
    security_group_name = string
    image               = string
    port                = number
    cpu                 = number
    memory              = number
    min_tasks           = number
    max_tasks           = number
    health_path         = string
    environment         = map(string)
    secrets             = map(string)
    allow_from          = list(string)
    discoverable        = bool
    task_role_arn       = string
    public              = bool
    target_group_arn    = optional(string)
  }))
  nullable = false
}

variable "execution_role_arn" {
  description = "Task execution role shared by the services."
  type        = string
  nullable    = false
}

variable "cpu_target_percent" {
  description = "Average CPU utilization autoscaling keeps each service at."
  type        = number
  default     = 70
  nullable    = false
}

variable "memory_target_percent" {
  description = "Average memory utilization autoscaling keeps each service at."
  type        = number
  default     = 70
  nullable    = false
}

variable "health_check_grace_period_seconds" {
  description = "Seconds after a task starts during which failing ALB health checks are ignored."
  type        = number
  default     = 60
  nullable    = false
}

variable "stop_timeout_seconds" {
  description = "Seconds a container gets between SIGTERM and SIGKILL."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.stop_timeout_seconds >= 2 && var.stop_timeout_seconds <= 120
    error_message = "Fargate accepts a stop timeout between 2 and 120 seconds."
  }
}

variable "deployment_minimum_healthy_percent" {
  description = "Lower bound of running tasks during a deployment, in percent of the desired count."
  type        = number
  default     = 100
  nullable    = false
}

variable "deployment_maximum_percent" {
  description = "Upper bound of running tasks during a deployment, in percent of the desired count."
  type        = number
  default     = 200
  nullable    = false
}
