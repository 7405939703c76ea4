# One place where every physical name of the platform is derived. The bot's config
# (config/example.yaml, "naming") uses the same templates: change both together.
locals {
  prefix = "${var.project_name}-${var.environment}"

  # ALB and target group names are limited to 32 characters. The ALB keeps "{prefix}-alb" when it
  # fits and is otherwise cut to 25 characters plus "-" and 6 hex of a hash of the full name.
  alb_full = "${local.prefix}-alb"
  alb      = length(local.alb_full) <= 32 ? local.alb_full : "${trimsuffix(substr(local.alb_full, 0, 25), "-")}-${substr(sha1(local.alb_full), 0, 6)}"

  # Target groups: "{env}-{service}" (cut to 25) + "-" + 6 hex of sha1("{prefix}-{service}:{port}").
  # The hash keeps names of different projects apart and changes with the port, so a replaced
  # group gets a new name (create_before_destroy).
  target_groups = {
    for name, port in var.service_ports :
    name => "${trimsuffix(substr("${var.environment}-${name}", 0, 25), "-")}-${substr(sha1("${local.prefix}-${name}:${port}"), 0, 6)}"
  }
}
