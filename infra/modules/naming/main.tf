# One place where every physical name of the platform is derived. The bot's config
# (config/example.yaml, "naming") uses the same templates: change both together.
locals {
  prefix = "${var.project_name}-${var.environment}"

  # ALB and target group names are limited to 32 characters. The ALB keeps "{prefix}-alb" when it
  # fits and is otherwise cut to 25 characters plus "-" and 6 hex of a hash of the full name.
  alb_full = "${local.prefix}-alb"
  alb      = length(local.alb_full) <= 32 ? local.alb_full : "${trimsuffix(substr(local.alb_full, 0, 25), "-")}-${substr(sha1(local.alb_full), 0, 6)}"

  # Target groups are named by AWS from a prefix (create_before_destroy needs a name the group being
  # replaced does not have, whatever forced the replacement): 5 hex of sha1("{prefix}-{service}") + "-",
  # completed by AWS to 32 characters, e.g. "3f9a2-20260601120000000000000001". The prefix is stable per
  # service and platform; the chat-ops bot does not read it: it maps a TargetGroup alarm dimension to its
  # service through the ECS service's load balancer configuration (DescribeServices).
  target_group_prefixes = {
    for name in keys(var.service_ports) : name => "${substr(sha1("${local.prefix}-${name}"), 0, 5)}-"
  }

  # The readable name of each target group, its Name tag: "{env}-{service}" (cut to 25) + "-" + 6 hex of
  # sha1("{prefix}-{service}:{port}").
  target_groups = {
    for name, port in var.service_ports :
    name => "${trimsuffix(substr("${var.environment}-${name}", 0, 25), "-")}-${substr(sha1("${local.prefix}-${name}:${port}"), 0, 6)}"
  }
}
