################################################################################
# General
################################################################################

variable "aws_region" {
  description = "AWS region to deploy into."
  type        = string
  default     = "us-east-1"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z]{2}(-[a-z]+)+-[0-9]$", var.aws_region))
    error_message = "aws_region must look like \"us-east-1\"."
  }
}

variable "project_name" {
  description = "Project identifier, first part of every resource name (\"{project}-{env}-...\")."
  type        = string
  default     = "ecs-microservices"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,18}[a-z0-9]$", var.project_name))
    error_message = "project_name must be 3-20 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "environment" {
  description = "Environment name; part of every resource name. \"production\" turns on NAT per AZ and ALB deletion protection by default."
  type        = string
  default     = "production"
  nullable    = false

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{1,10}[a-z0-9]$", var.environment))
    error_message = "environment must be 3-12 lowercase letters, digits or hyphens, starting with a letter."
  }
}

variable "tags" {
  description = "Extra tags for every resource (Project, Environment and ManagedBy are always set)."
  type        = map(string)
  default     = {}
  nullable    = false
}

################################################################################
# Network
################################################################################

variable "vpc_cidr" {
  description = "CIDR block of the VPC."
  type        = string
  default     = "10.0.0.0/16"
  nullable    = false

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid IPv4 CIDR block."
  }
}

variable "az_count" {
  description = "How many availability zones to use when availability_zones is empty (taken in order from the region's available zones)."
  type        = number
  default     = 2
  nullable    = false

  validation {
    condition     = var.az_count >= 2 && var.az_count <= 6
    error_message = "az_count must be between 2 and 6 (an ALB needs at least two zones)."
  }
}

variable "availability_zones" {
  description = "Availability zones to use. Empty (the default) means the first az_count available zones of the region."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "public_subnet_cidrs" {
  description = "CIDR of the public subnet in each zone, in zone order. Empty means derived from vpc_cidr (10.0.1.0/24, 10.0.2.0/24, ... for a /16)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "private_subnet_cidrs" {
  description = "CIDR of the private subnet in each zone, in zone order. Empty means derived from vpc_cidr (10.0.11.0/24, 10.0.12.0/24, ... for a /16)."
  type        = list(string)
  default     = []
  nullable    = false
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per zone (true) or one for the whole VPC (false). Null means true in production and false elsewhere."
  type        = bool
  default     = null
}

variable "enable_vpc_endpoints" {
  description = "Create VPC endpoints for ECR (api, dkr), CloudWatch Logs (interface) and S3 (gateway), so image pulls and logs do not cross the NAT gateway."
  type        = bool
  default     = false
  nullable    = false
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
  default     = 365
  nullable    = false
}

################################################################################
# Services
################################################################################

variable "services" {
  description = <<-EOT
    The services of the platform, keyed by short name. Every per-service resource (ECR repository,
    log group, security group, task role, task definition, ECS service, autoscaling, target group,
    alarms) is created from this map; a new service is one more entry.
      port                 container port
      cpu, memory          Fargate task size (CPU units, MiB)
      min_tasks, max_tasks autoscaling bounds a service is created with (desired count starts at min_tasks);
                           afterwards /scale owns them and an apply leaves them alone
      health_path          HTTP path answering 200 when healthy (container and ALB health checks)
      public_path_patterns ALB path patterns routed to the service; empty means not reachable from the internet
      environment          plain environment variables
      secrets              environment variable name => Secrets Manager secret or SSM parameter ARN
      allow_from           short names of the services allowed to call this one on its port
      discoverable         register in Cloud Map as "{name}.{namespace}"
  EOT
  type = map(object({
    port                 = number
    cpu                  = optional(number, 256)
    memory               = optional(number, 512)
    min_tasks            = optional(number, 1)
    max_tasks            = optional(number, 10)
    health_path          = optional(string, "/health")
    public_path_patterns = optional(list(string), [])
    environment          = optional(map(string), {})
    secrets              = optional(map(string), {})
    allow_from           = optional(list(string), [])
    discoverable         = optional(bool, false)
  }))
  nullable = false
  default = {
    "service-a" = {
      port                 = 8000
      public_path_patterns = ["/api/*", "/health"]
    }
    "service-b" = {
      port         = 8001
      allow_from   = ["service-a"]
      discoverable = true
    }
  }

  validation {
    condition     = alltrue([for name, _ in var.services : can(regex("^[a-z][a-z0-9-]{0,18}[a-z0-9]$", name))])
    error_message = "Service names must be 2-20 lowercase letters, digits or hyphens (they become DNS labels and parts of resource names)."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.port >= 1024 && s.port <= 65535])
    error_message = "Service ports must be between 1024 and 65535 (the containers do not run as root)."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : s.min_tasks >= 1 && s.min_tasks <= s.max_tasks])
    error_message = "Each service needs 1 <= min_tasks <= max_tasks."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : length(s.public_path_patterns) <= 5])
    error_message = "An ALB listener rule takes at most 5 path patterns per service."
  }
  validation {
    condition     = alltrue([for s in values(var.services) : startswith(s.health_path, "/")])
    error_message = "health_path must start with \"/\"."
  }
  validation {
    condition     = alltrue(flatten([for s in values(var.services) : [for caller in s.allow_from : contains(keys(var.services), caller)]]))
    error_message = "allow_from may only name services of this map."
  }
}

variable "image_tag" {
  description = "Image tag deployed for every service (the commit SHA pushed by scripts/push-images.sh or the deploy workflow); also set as APP_VERSION. ECR tags are immutable, so never \"latest\"."
  type        = string
  nullable    = false

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.image_tag)) && var.image_tag != "latest"
    error_message = "image_tag must be a valid Docker tag other than \"latest\" (use the commit SHA)."
  }
}

variable "use_fargate_spot" {
  description = "Run tasks beyond the first of each service on FARGATE_SPOT (base 1 on FARGATE, then 1:3 FARGATE:FARGATE_SPOT)."
  type        = bool
  default     = false
  nullable    = false
}

variable "enable_execute_command" {
  description = "Enable ECS Exec (aws ecs execute-command) on every service; adds the SSM messages permissions to the task roles."
  type        = bool
  default     = false
  nullable    = false
}

variable "service_discovery_namespace" {
  description = "Private DNS namespace (Cloud Map) in which discoverable services are registered, e.g. service-b.local."
  type        = string
  default     = "local"
  nullable    = false
}

variable "log_retention_days" {
  description = "Retention of the services' CloudWatch log groups, in days."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a value CloudWatch Logs accepts (1, 3, 5, 7, 14, 30, 60, 90, ... 3653)."
  }
}

################################################################################
# Load balancer and WAF
################################################################################

variable "certificate_arn" {
  description = "ACM certificate ARN for the HTTPS listener. Required when environment is \"production\" unless allow_http = true; elsewhere null (or \"\") serves plain HTTP (the alb_security_warning output says so)."
  type        = string
  default     = null

  validation {
    condition     = var.environment != "production" || var.allow_http || (var.certificate_arn != null && var.certificate_arn != "")
    error_message = "environment \"production\" needs certificate_arn, an ACM certificate of aws_region, so the ALB serves HTTPS (HTTP then redirects to it). To serve plain HTTP in production on purpose, set allow_http = true."
  }
}

variable "allow_http" {
  description = "Let environment \"production\" serve plain HTTP without certificate_arn. Off by default: a production ALB without a certificate is refused at plan time."
  type        = bool
  default     = false
  nullable    = false
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.2 or newer)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"
  nullable    = false
}

variable "alb_deletion_protection" {
  description = "ALB deletion protection. Null means on in production and off elsewhere; allow_destroy = true turns it off."
  type        = bool
  default     = null
}

variable "alb_log_retention_days" {
  description = "Days the ALB access logs are kept in their S3 bucket."
  type        = number
  default     = 90
  nullable    = false
}

variable "enable_waf" {
  description = "Attach a WAF web ACL (rate limit per IP and AWS managed rule groups) to the ALB."
  type        = bool
  default     = true
  nullable    = false
}

variable "waf_rate_limit" {
  description = "Requests allowed per client IP in any 5-minute window before WAF blocks it."
  type        = number
  default     = 2000
  nullable    = false

  validation {
    condition     = var.waf_rate_limit >= 100
    error_message = "waf_rate_limit must be at least 100 (the WAF minimum)."
  }
}

################################################################################
# Container registry
################################################################################

variable "ecr_keep_last_images" {
  description = "How many commit builds (tags without a release prefix, e.g. the SHAs CI pushes) each ECR repository keeps; older ones are expired."
  type        = number
  default     = 50
  nullable    = false
}

variable "ecr_release_tag_prefixes" {
  description = "Tag prefixes of release images (v1.4.0): counted apart from commit builds and kept ecr_keep_release_images per prefix, so a rollback to a release still finds its image after many CI pushes."
  type        = list(string)
  default     = ["v"]
  nullable    = false
}

variable "ecr_keep_release_images" {
  description = "How many release images (per prefix of ecr_release_tag_prefixes) each ECR repository keeps."
  type        = number
  default     = 200
  nullable    = false
}

variable "ecr_force_delete" {
  description = "Let terraform destroy delete ECR repositories that still contain images (allow_destroy = true does too)."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Teardown
################################################################################

variable "allow_destroy" {
  description = "Prepare a teardown: lifts the ALB's deletion protection and lets `terraform destroy` delete the access-log bucket with its logs, the ECR repositories with their images, and the ECS and Cloud Map services without draining them. Apply with it first (the flags live in the state), then destroy with it."
  type        = bool
  default     = false
  nullable    = false
}

################################################################################
# Monitoring
################################################################################

variable "alarm_email" {
  description = "E-mail address subscribed to the alarm topic (confirm the subscription e-mail). Null subscribes nobody."
  type        = string
  default     = null
}

################################################################################
# GitHub Actions (OIDC)
################################################################################

variable "github_repo" {
  description = "GitHub repository \"owner/name\" whose workflows may assume the deploy role. Null creates no GitHub roles."
  type        = string
  default     = null

  validation {
    condition     = var.github_repo == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repo))
    error_message = "github_repo must be \"owner/name\"."
  }
}

variable "github_branch" {
  description = "Branch the deploy workflow deploys from; the deploy role trusts only jobs of github_environment (limit its deployment branches to this one in GitHub)."
  type        = string
  default     = "main"
  nullable    = false
}

variable "github_environment" {
  description = "GitHub environment whose jobs may assume the deploy role (protect it with required reviewers)."
  type        = string
  default     = "production"
  nullable    = false
}

variable "create_github_oidc_provider" {
  description = "Create the account's GitHub OIDC provider; false reuses the existing one (there can be only one per account)."
  type        = bool
  default     = true
  nullable    = false
}

variable "terraform_state_bucket" {
  description = "S3 bucket that holds this configuration's state; the deploy role gets read/write on it and the plan role read. Required with github_repo."
  type        = string
  default     = null
}

variable "terraform_lock_table" {
  description = "DynamoDB table used for state locking (see backend.tf)."
  type        = string
  default     = "terraform-state-lock"
  nullable    = false
}

################################################################################
# The chat-ops bot in another account (modules/workload_access)
################################################################################

variable "bot_access" {
  description = <<-EOT
    Lets the chat-ops bot, deployed in another AWS account, operate this platform (docs/deploy.md, "Adding an
    AWS account"). Null (the default) creates nothing: a bot in this same account needs none of it. The values
    are the bot stack's outputs:
      bot_role_arns    FunctionRoleArns: the only principals the role trusts
      event_bus_arn    DeploymentEventBusArn: receives this cluster's ECS deployment events
      alarm_queue_arn  AlarmQueueArn: may subscribe to this platform's alarm topic
      role_name        the stack's WorkloadRoleName (same default): the role the bot assumes here
    The external id is bot_external_id.
  EOT
  type = object({
    bot_role_arns   = list(string)
    event_bus_arn   = string
    alarm_queue_arn = string
    role_name       = optional(string, "opsbot-workload-access")
  })
  default = null
}

variable "bot_external_id" {
  description = "External id the bot passes when it assumes the role (the bot stack's ExternalId, the environment's external_id in its config). Required with bot_access."
  type        = string
  default     = null
  sensitive   = true

  validation {
    condition     = var.bot_external_id == null ? true : can(regex("^[A-Za-z0-9+=,.@:/-]{16,}$", var.bot_external_id)) && length(var.bot_external_id) <= 1224
    error_message = "bot_external_id must be 16-1224 characters of letters, digits and +=,.@:/- (what STS accepts)."
  }
}

variable "bot_workload_alarm_topic_arns" {
  description = "In the bot's own account: the alarm topics of the workload accounts its stack subscribes to (its WorkloadAlarmTopicArns), which the bot deploy role may then subscribe the bot's alarm queue to. Empty (the default): none."
  type        = list(string)
  default     = []
  nullable    = false

  validation {
    condition     = alltrue([for arn in var.bot_workload_alarm_topic_arns : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", arn))])
    error_message = "bot_workload_alarm_topic_arns must list SNS topic ARNs, without wildcards."
  }
}
