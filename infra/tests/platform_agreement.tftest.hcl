# Terraform and the chat-ops bot agree (issue 16, item 7). Run offline by
# tests/infra/test_platform_agreement.py, which also reads the plans of these runs.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag       = "0123456789ab"
  certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
}

# The whole platform as production plans it; the Python test reads its tags and ECR lifecycle policy.
run "platform" {
  command = plan
}

# An existing service, changed by a later apply (the ECS module alone, applied to the mock, then planned).
#
# /scale moves the autoscaling target's min/max. A later apply must leave them as they are: here the
# configuration's min/max change after creation, which Terraform compares exactly as it would values the
# bot changed in AWS. And turning Fargate Spot on changes the capacity provider strategy, which ECS
# applies to a running service only with a new deployment (tests/infra/test_safe_defaults.py).
run "service_created" {
  command = apply

  module {
    source = "./modules/ecs"
  }

  variables {
    aws_region            = "us-east-1"
    use_fargate_spot      = false
    cluster_name          = "mock-cluster"
    kms_key_arn           = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    vpc_id                = "vpc-00000000"
    subnet_ids            = ["subnet-00000001", "subnet-00000002"]
    alb_security_group_id = "sg-00000000"
    execution_role_arn    = "arn:aws:iam::123456789012:role/mock-execution"
    services = {
      web = {
        ecs_service_name    = "mock-web"
        task_family         = "mock-web"
        container_name      = "web"
        log_group_name      = "/ecs/mock-web"
        security_group_name = "mock-web-tasks"
        image               = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mock-web:0123456789ab"
        port                = 8000
        cpu                 = 256
        memory              = 512
        min_tasks           = 1
        max_tasks           = 10
        health_path         = "/health"
        environment         = {}
        secrets             = {}
        allow_from          = []
        discoverable        = false
        task_role_arn       = "arn:aws:iam::123456789012:role/mock-web-task"
        public              = false
      }
    }
  }

  assert {
    condition     = aws_appautoscaling_target.this["web"].min_capacity == 1 && aws_appautoscaling_target.this["web"].max_capacity == 10
    error_message = "The autoscaling target starts at the service's min_tasks and max_tasks."
  }
}

run "service_updated" {
  command = plan

  module {
    source = "./modules/ecs"
  }

  variables {
    aws_region            = "us-east-1"
    use_fargate_spot      = true
    cluster_name          = "mock-cluster"
    kms_key_arn           = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    vpc_id                = "vpc-00000000"
    subnet_ids            = ["subnet-00000001", "subnet-00000002"]
    alb_security_group_id = "sg-00000000"
    execution_role_arn    = "arn:aws:iam::123456789012:role/mock-execution"
    services = {
      web = {
        ecs_service_name    = "mock-web"
        task_family         = "mock-web"
        container_name      = "web"
        log_group_name      = "/ecs/mock-web"
        security_group_name = "mock-web-tasks"
        image               = "123456789012.dkr.ecr.us-east-1.amazonaws.com/mock-web:0123456789ab"
        port                = 8000
        cpu                 = 256
        memory              = 512
        min_tasks           = 4
        max_tasks           = 12
        health_path         = "/health"
        environment         = {}
        secrets             = {}
        allow_from          = []
        discoverable        = false
        task_role_arn       = "arn:aws:iam::123456789012:role/mock-web-task"
        public              = false
      }
    }
  }

  assert {
    condition     = aws_appautoscaling_target.this["web"].min_capacity == 1 && aws_appautoscaling_target.this["web"].max_capacity == 10
    error_message = "An apply after creation changed the autoscaling min/max: it would undo /scale (ignore_changes must cover min_capacity and max_capacity)."
  }

  assert {
    condition     = length(aws_ecs_service.this["web"].capacity_provider_strategy) == 2
    error_message = "With use_fargate_spot the service runs on FARGATE and FARGATE_SPOT."
  }

  assert {
    condition     = aws_ecs_service.this["web"].force_new_deployment == true
    error_message = "Turning Fargate Spot on or off changes the capacity provider strategy, which ECS applies to a running service only with force_new_deployment."
  }
}
