locals {
  capacity_provider_strategy = concat(
    [{ capacity_provider = "FARGATE", base = 1, weight = 1 }],
    var.use_fargate_spot ? [{ capacity_provider = "FARGATE_SPOT", base = 0, weight = 3 }] : [],
  )

  # Caller -> callee pairs from each service's allow_from, e.g. "service-a>service-b".
  service_calls = merge([
    for callee, s in var.services : {
      for caller in s.allow_from : "${caller}>${callee}" => { caller = caller, callee = callee }
    }
  ]...)

  # Filter on `public`, not on target_group_arn: the ARN is unknown until the group exists, and
  # for_each keys must be known at plan time.
  routed = { for name, s in var.services : name => s if s.public }

  # Cost per service (the bot's /cost) groups by this tag; the chat-ops bot's cost.tag_key must match.
  # propagate_tags = "SERVICE" copies a service's tags onto its tasks, which is where Fargate cost lands.
  service_tags = { for name, _ in var.services : name => { Service = name } }
}

################################################################################
# Cluster
################################################################################

resource "aws_ecs_cluster" "this" {
  #checkov:skip=CKV_AWS_223:ECS Exec output is deliberately not logged (logging NONE): a shell session may show secrets, and DEFAULT would write it to the task's log group that /logs shows to viewers; who ran ECS Exec stays in CloudTrail (ExecuteCommand).
  #checkov:skip=CKV_AWS_224:ECS Exec (off by default) sessions are encrypted with the platform key; their output is deliberately not logged (logging NONE), since a shell session may show secrets and DEFAULT would write it to the task's log group that /logs shows to viewers.
  name = var.cluster_name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }

  configuration {
    execute_command_configuration {
      kms_key_id = var.kms_key_arn
      # Not "DEFAULT": that writes session output to the task's log group, which every viewer reads with /logs.
      logging = "NONE"
    }
  }
}

resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  dynamic "default_capacity_provider_strategy" {
    for_each = local.capacity_provider_strategy

    content {
      capacity_provider = default_capacity_provider_strategy.value.capacity_provider
      base              = default_capacity_provider_strategy.value.base
      weight            = default_capacity_provider_strategy.value.weight
    }
  }
}

resource "aws_service_discovery_private_dns_namespace" "this" {
  name        = var.service_discovery_namespace
  description = "Private names of the ${var.cluster_name} services"
  vpc         = var.vpc_id
}

resource "aws_service_discovery_service" "this" {
  for_each = { for name, s in var.services : name => s if s.discoverable }

  name = each.key
  # Lets `terraform destroy` remove the service while ECS still has instances registered in it.
  force_destroy = var.allow_destroy

  dns_config {
    namespace_id   = aws_service_discovery_private_dns_namespace.this.id
    routing_policy = "MULTIVALUE"

    dns_records {
      type = "A"
      ttl  = 10
    }
  }
}

################################################################################
# Logs
################################################################################

resource "aws_cloudwatch_log_group" "service" {
  for_each = var.services

  name              = each.value.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = var.kms_key_arn

  tags = local.service_tags[each.key]
}

################################################################################
# Security groups: one per service
################################################################################

resource "aws_security_group" "service" {
  for_each = var.services

  # A prefix, not a name: a replacement is created before the old group is destroyed, and a fixed name
  # would collide with it. The readable name is the Name tag.
  name_prefix = "${each.value.security_group_name}-"
  description = "Tasks of ${each.value.ecs_service_name}"
  vpc_id      = var.vpc_id

  tags = { Name = each.value.security_group_name, Service = each.key }

  lifecycle {
    create_before_destroy = true
  }
}

resource "aws_vpc_security_group_ingress_rule" "from_alb" {
  for_each = local.routed

  security_group_id            = aws_security_group.service[each.key].id
  description                  = "From the ALB on the container port"
  ip_protocol                  = "tcp"
  from_port                    = each.value.port
  to_port                      = each.value.port
  referenced_security_group_id = var.alb_security_group_id
}

resource "aws_vpc_security_group_ingress_rule" "from_caller" {
  for_each = local.service_calls

  security_group_id            = aws_security_group.service[each.value.callee].id
  description                  = "From ${each.value.caller} on the container port"
  ip_protocol                  = "tcp"
  from_port                    = var.services[each.value.callee].port
  to_port                      = var.services[each.value.callee].port
  referenced_security_group_id = aws_security_group.service[each.value.caller].id
}

resource "aws_vpc_security_group_egress_rule" "to_callee" {
  for_each = local.service_calls

  security_group_id            = aws_security_group.service[each.value.caller].id
  description                  = "To ${each.value.callee} on its container port"
  ip_protocol                  = "tcp"
  from_port                    = var.services[each.value.callee].port
  to_port                      = var.services[each.value.callee].port
  referenced_security_group_id = aws_security_group.service[each.value.callee].id
}

# Image pulls (ECR, S3 layers), logs and AWS APIs, through the NAT gateway or VPC endpoints.
resource "aws_vpc_security_group_egress_rule" "https" {
  for_each = var.services

  security_group_id = aws_security_group.service[each.key].id
  description       = "HTTPS to AWS APIs (ECR, S3, CloudWatch Logs)"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

################################################################################
# Task definitions
################################################################################

resource "aws_ecs_task_definition" "this" {
  for_each = var.services

  family                   = each.value.task_family
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = each.value.cpu
  memory                   = each.value.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = each.value.task_role_arn
  skip_destroy             = true # keep old revisions registered: they are the rollback targets
  tags                     = local.service_tags[each.key]

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64"
  }

  # The root filesystem is read-only; /tmp is a task-local scratch volume.
  volume {
    name = "tmp"
  }

  container_definitions = jsonencode([{
    name      = each.value.container_name
    image     = each.value.image
    essential = true

    portMappings = [{
      name          = each.key
      containerPort = each.value.port
      protocol      = "tcp"
    }]

    environment = [for k in sort(keys(each.value.environment)) : { name = k, value = each.value.environment[k] }]
    secrets     = [for k in sort(keys(each.value.secrets)) : { name = k, valueFrom = each.value.secrets[k] }]

    readonlyRootFilesystem = true
    mountPoints            = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    stopTimeout            = var.stop_timeout_seconds
    linuxParameters        = { initProcessEnabled = true }

    # python:3.11-slim has no curl: probe with the interpreter the image already has.
    healthCheck = {
      command = [
        "CMD", "python", "-c",
        "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:${each.value.port}${each.value.health_path}', timeout=3).status == 200 else 1)",
      ]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 20
    }

    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.service[each.key].name
        awslogs-region        = var.aws_region
        awslogs-stream-prefix = "ecs"
      }
    }
  }])
}

################################################################################
# Services
################################################################################

resource "aws_ecs_service" "this" {
  for_each = var.services

  name                    = each.value.ecs_service_name
  cluster                 = aws_ecs_cluster.this.id
  task_definition         = aws_ecs_task_definition.this[each.key].arn
  desired_count           = each.value.min_tasks
  platform_version        = "LATEST"
  enable_execute_command  = var.enable_execute_command
  propagate_tags          = "SERVICE"
  enable_ecs_managed_tags = true
  tags                    = local.service_tags[each.key]

  # ECS applies a changed capacity provider strategy (use_fargate_spot) to a running service only with
  # a new deployment; with this, any in-place update of the service starts one.
  force_new_deployment = true
  # With allow_destroy, `terraform destroy` deletes the service without first scaling it to zero.
  force_delete = var.allow_destroy

  deployment_minimum_healthy_percent = var.deployment_minimum_healthy_percent
  deployment_maximum_percent         = var.deployment_maximum_percent
  health_check_grace_period_seconds  = each.value.public ? var.health_check_grace_period_seconds : null

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  dynamic "capacity_provider_strategy" {
    for_each = local.capacity_provider_strategy

    content {
      capacity_provider = capacity_provider_strategy.value.capacity_provider
      base              = capacity_provider_strategy.value.base
      weight            = capacity_provider_strategy.value.weight
    }
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [aws_security_group.service[each.key].id]
    assign_public_ip = false
  }

  dynamic "load_balancer" {
    for_each = each.value.public ? [each.value.target_group_arn] : []

    content {
      target_group_arn = load_balancer.value
      container_name   = each.value.container_name
      container_port   = each.value.port
    }
  }

  dynamic "service_registries" {
    for_each = each.value.discoverable ? [aws_service_discovery_service.this[each.key].arn] : []

    content {
      registry_arn = service_registries.value
    }
  }

  lifecycle {
    # desired_count belongs to autoscaling after creation. The running revision belongs to the
    # deploy workflow and the chat-ops bot (they register revisions and update the service);
    # Terraform registers a revision when the definition changes and the workflow rolls it out.
    ignore_changes = [desired_count, task_definition]
  }

  depends_on = [aws_ecs_cluster_capacity_providers.this]
}

################################################################################
# Autoscaling
################################################################################

resource "aws_appautoscaling_target" "this" {
  for_each = var.services

  service_namespace  = "ecs"
  scalable_dimension = "ecs:service:DesiredCount"
  resource_id        = "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this[each.key].name}"
  min_capacity       = each.value.min_tasks
  max_capacity       = each.value.max_tasks

  lifecycle {
    # min_tasks/max_tasks are the bounds a service is created with. After that they belong to the
    # chat-ops bot (/scale moves them, `/scale <service> auto` hands back to min_tasks): an apply must
    # not undo a /scale. To change the bounds of an existing service use /scale (or the
    # application-autoscaling API); Terraform applies new values only to a service it creates.
    ignore_changes = [min_capacity, max_capacity]
  }
}

resource "aws_appautoscaling_policy" "cpu" {
  for_each = aws_appautoscaling_target.this

  name               = "${var.services[each.key].ecs_service_name}-cpu-${var.cpu_target_percent}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = each.value.service_namespace
  scalable_dimension = each.value.scalable_dimension
  resource_id        = each.value.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.cpu_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageCPUUtilization"
    }
  }
}

resource "aws_appautoscaling_policy" "memory" {
  for_each = aws_appautoscaling_target.this

  name               = "${var.services[each.key].ecs_service_name}-memory-${var.memory_target_percent}"
  policy_type        = "TargetTrackingScaling"
  service_namespace  = each.value.service_namespace
  scalable_dimension = each.value.scalable_dimension
  resource_id        = each.value.resource_id

  target_tracking_scaling_policy_configuration {
    target_value       = var.memory_target_percent
    scale_in_cooldown  = 300
    scale_out_cooldown = 60

    predefined_metric_specification {
      predefined_metric_type = "ECSServiceAverageMemoryUtilization"
    }
  }
}
