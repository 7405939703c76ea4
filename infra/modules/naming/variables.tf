variable "project_name" {
  description = "Project identifier; first part of every name."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.project_name))
    error_message = "project_name must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name (production, staging, dev, ...); part of every name so environments can share an account."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*[a-z0-9]$", var.environment))
    error_message = "environment must be lowercase letters, digits and hyphens, starting with a letter."
  }
}

variable "service_ports" {
  description = "Container port of each service, keyed by the service's short name (service-a, ...). The port is part of the target group's name hash so a port change can create the new group before destroying the old one."
  type        = map(number)
  nullable    = false
}

variable "account_id" {
  description = "AWS account id; makes the S3 bucket names globally unique."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be 12 digits."
  }
}
