data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition

  nat_gateway_per_az      = coalesce(var.nat_gateway_per_az, var.environment == "production")
  alb_deletion_protection = !var.allow_destroy && coalesce(var.alb_deletion_protection, var.environment == "production")

  # CI passes optional settings as TF_VAR_x="" when unset; treat that as "not given".
  certificate_arn = var.certificate_arn != "" ? var.certificate_arn : null
  alarm_email     = var.alarm_email != "" ? var.alarm_email : null

  routed_services = { for name, s in var.services : name => s if length(s.public_path_patterns) > 0 }

  # A caller finds each service it may call through "<NAME>_URL", e.g. service-a gets
  # SERVICE_B_URL=http://service-b.local:8001 because service-b lists it in allow_from.
  discovery_urls = {
    for caller in keys(var.services) : caller => {
      for callee, s in var.services :
      "${upper(replace(callee, "-", "_"))}_URL" => "http://${callee}.${var.service_discovery_namespace}:${s.port}"
      if s.discoverable && contains(s.allow_from, caller)
    }
  }

  log_group_arns = {
    for name, group in module.naming.log_groups :
    name => "arn:${local.partition}:logs:${var.aws_region}:${local.account}:log-group:${group}"
  }
}

module "naming" {
  source = "./modules/naming"

  project_name  = var.project_name
  environment   = var.environment
  service_ports = { for name, s in var.services : name => s.port }
  account_id    = local.account
}

module "vpc" {
  source = "./modules/vpc"

  name                         = module.naming.singletons.vpc
  cidr                         = var.vpc_cidr
  az_count                     = var.az_count
  availability_zones           = var.availability_zones
  public_subnet_cidrs          = var.public_subnet_cidrs
  private_subnet_cidrs         = var.private_subnet_cidrs
  nat_gateway_per_az           = local.nat_gateway_per_az
  enable_vpc_endpoints         = var.enable_vpc_endpoints
  endpoint_security_group_name = module.naming.singletons.endpoint_sg
  flow_log_group_name          = module.naming.singletons.flow_log_group
  flow_log_role_name           = module.naming.singletons.flow_log_role
  permissions_boundary_arn     = module.iam.platform_boundary_arn
  flow_log_retention_days      = var.flow_log_retention_days
  kms_key_arn                  = aws_kms_key.platform.arn
}

module "ecr" {
  source = "./modules/ecr"

  repositories     = module.naming.ecr_repositories
  kms_key_arn      = aws_kms_key.platform.arn
  keep_last_images = var.ecr_keep_last_images
  force_delete     = var.ecr_force_delete || var.allow_destroy

  release_tag_prefixes = var.ecr_release_tag_prefixes
  keep_release_images  = var.ecr_keep_release_images
}

module "iam" {
  source = "./modules/iam"

  execution_role_name    = module.naming.singletons.execution_role
  task_role_names        = module.naming.task_roles
  repository_arns        = module.ecr.repository_arns
  log_group_arns         = local.log_group_arns
  secret_arns            = distinct(flatten([for s in values(var.services) : values(s.secrets)]))
  enable_execute_command = var.enable_execute_command

  github_repo                 = var.github_repo
  github_branch               = var.github_branch
  github_environment          = var.github_environment
  create_github_oidc_provider = var.create_github_oidc_provider
  github_actions_role_name    = module.naming.singletons.github_actions_role
  github_plan_role_name       = module.naming.singletons.github_plan_role
  github_bot_deploy_role_name = "${module.naming.prefix}-github-bot-deploy"
  flow_log_role_name          = module.naming.singletons.flow_log_role
  name_prefix                 = module.naming.prefix
  cluster_name                = module.naming.cluster
  kms_key_arn                 = aws_kms_key.platform.arn
  terraform_state_bucket      = var.terraform_state_bucket
  terraform_state_key_prefix  = var.project_name
  terraform_lock_table        = var.terraform_lock_table
  workload_alarm_topic_arns   = var.bot_workload_alarm_topic_arns
}

module "alb" {
  source = "./modules/alb"

  name                = module.naming.alb
  security_group_name = module.naming.singletons.alb_security_group
  vpc_id              = module.vpc.vpc_id
  subnet_ids          = module.vpc.public_subnet_ids
  deletion_protection = local.alb_deletion_protection

  services = {
    for name, s in local.routed_services : name => {
      port                = s.port
      health_path         = s.health_path
      path_patterns       = s.public_path_patterns
      target_group_prefix = module.naming.target_group_prefixes[name]
      target_group_name   = module.naming.target_groups[name]
    }
  }
  service_security_group_ids = { for name in keys(local.routed_services) : name => module.ecs.security_group_ids[name] }
  certificate_arn            = local.certificate_arn
  ssl_policy                 = var.ssl_policy

  access_logs_bucket_name    = module.naming.singletons.alb_logs_bucket
  access_logs_retention_days = var.alb_log_retention_days

  enable_waf         = var.enable_waf
  waf_name           = module.naming.singletons.waf_acl
  waf_rate_limit     = var.waf_rate_limit
  waf_log_group_name = module.naming.singletons.waf_log_group
  kms_key_arn        = aws_kms_key.platform.arn
}

module "ecs" {
  source = "./modules/ecs"

  # The services' first tasks pull their images with the execution role: they must wait for its policy,
  # not only for the role, whose ARN exists before the policy is attached.
  depends_on = [module.iam]

  aws_region             = var.aws_region
  allow_destroy          = var.allow_destroy
  cluster_name           = module.naming.cluster
  use_fargate_spot       = var.use_fargate_spot
  kms_key_arn            = aws_kms_key.platform.arn
  log_retention_days     = var.log_retention_days
  enable_execute_command = var.enable_execute_command

  vpc_id                      = module.vpc.vpc_id
  subnet_ids                  = module.vpc.private_subnet_ids
  alb_security_group_id       = module.alb.security_group_id
  service_discovery_namespace = var.service_discovery_namespace
  execution_role_arn          = module.iam.execution_role_arn

  services = {
    for name, s in var.services : name => {
      ecs_service_name    = module.naming.ecs_services[name]
      task_family         = module.naming.task_families[name]
      container_name      = module.naming.containers[name]
      log_group_name      = module.naming.log_groups[name]
      security_group_name = module.naming.security_groups[name]
      image               = "${module.ecr.repository_urls[name]}:${var.image_tag}"
      port                = s.port
      cpu                 = s.cpu
      memory              = s.memory
      min_tasks           = s.min_tasks
      max_tasks           = s.max_tasks
      health_path         = s.health_path
      environment         = merge(local.discovery_urls[name], s.environment, { APP_VERSION = var.image_tag })
      secrets             = s.secrets
      allow_from          = s.allow_from
      discoverable        = s.discoverable
      task_role_arn       = module.iam.task_role_arns[name]
      public              = contains(keys(local.routed_services), name)
      target_group_arn    = lookup(module.alb.target_group_arns, name, null)
    }
  }
}

module "monitoring" {
  source = "./modules/monitoring"

  alarm_topic_name = module.naming.singletons.alarm_topic
  kms_key_arn      = aws_kms_key.platform.arn
  alarm_email      = local.alarm_email

  cluster_name = module.ecs.cluster_name
  services = {
    for name in keys(var.services) : name => {
      ecs_service_name        = module.ecs.service_names[name]
      alarm_prefix            = module.naming.alarm_prefixes[name]
      public                  = contains(keys(local.routed_services), name)
      target_group_arn_suffix = lookup(module.alb.target_group_arn_suffixes, name, null)
    }
  }
  topic_policy_documents = module.workload_access[*].alarm_topic_policy_json

  alb_arn_suffix     = module.alb.arn_suffix
  alb_5xx_alarm_name = module.naming.singletons.alb_5xx_alarm
  dashboard_name     = module.naming.singletons.dashboard
}

# The chat-ops bot of another account (off unless bot_access is set): the role it assumes, the forwarding of
# deployment events to its bus, and its queue's subscription to the alarm topic (merged into the topic's
# policy above).
module "workload_access" {
  source = "./modules/workload_access"
  count  = var.bot_access == null ? 0 : 1

  role_name           = var.bot_access.role_name
  bot_role_arns       = var.bot_access.bot_role_arns
  external_id         = var.bot_external_id
  bot_event_bus_arn   = var.bot_access.event_bus_arn
  bot_alarm_queue_arn = var.bot_access.alarm_queue_arn

  name_prefix         = module.naming.prefix
  cluster_name        = module.ecs.cluster_name
  ecr_repository_arns = values(module.ecr.repository_arns)
  pass_role_arns      = concat(values(module.iam.task_role_arns), [module.iam.execution_role_arn])
  alarm_topic_arn     = module.monitoring.alarm_topic_arn
}
