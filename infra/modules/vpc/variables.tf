variable "name" {
  description = "Name of the VPC; prefix of the names of its subnets, gateways and route tables."
  type        = string
  nullable    = false
}

variable "cidr" {
  description = "CIDR block of the VPC."
  type        = string
  nullable    = false

  validation {
    condition     = can(cidrhost(var.cidr, 0))
    error_message = "cidr must be a valid IPv4 CIDR block."
  }
}

variable "az_count" {
  description = "Number of availability zones taken from the region when availability_zones is empty."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.az_count >= 2
    error_message = "az_count must be at least 2."
  }
}

variable "availability_zones" {
  description = "Explicit availability zones; empty means the first az_count available zones of the region."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "public_subnet_cidrs" {
  description = "Public subnet CIDR per zone; empty means cidrsubnet(cidr, 8, 1 + index)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "private_subnet_cidrs" {
  description = "Private subnet CIDR per zone; empty means cidrsubnet(cidr, 8, 11 + index)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per zone (true, survives a zone outage) or a single one (false, cheaper)."
  type        = bool
  nullable    = false
}

variable "enable_vpc_endpoints" {
  description = "Create interface endpoints for ECR api/dkr and CloudWatch Logs, and a gateway endpoint for S3."
  type        = bool
  default     = false
  nullable    = false
}

variable "endpoint_security_group_name" {
  description = "Name tag of the interface endpoints' security group, and with \"-\" the prefix of its name."
  type        = string
  nullable    = false
}

variable "flow_log_group_name" {
  description = "CloudWatch log group receiving the VPC flow logs."
  type        = string
  nullable    = false
}

variable "flow_log_role_name" {
  description = "IAM role that VPC Flow Logs assumes to write to the log group."
  type        = string
  nullable    = false
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary of the flow-log role: the platform boundary (modules/iam), which CI's deploy role requires on every role it changes."
  type        = string
  nullable    = false
}

variable "flow_log_retention_days" {
  description = "Retention of the flow log group, in days."
  type        = number
  default     = 365
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key encrypting the flow log group."
  type        = string
  nullable    = false
}
