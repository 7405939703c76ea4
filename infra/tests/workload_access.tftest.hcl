# The chat-ops bot of another account (modules/workload_access, issue 21): when enabled (off by default:
# tests/infra/test_workload_access.py reads the platform_agreement plan, made without it),
# the role, the forwarding rule and the topic statement it plans. Run offline by
# tests/infra/test_workload_access.py, which also reads these plans. The policies themselves are rendered
# only by the real provider: the same test reads them from the apply into moto (tests/infra/tfreal.py).

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag       = "0123456789ab"
  certificate_arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
}

run "enabled" {
  command = plan

  variables {
    bot_access = {
      bot_role_arns   = ["arn:aws:iam::210987654321:role/ecs-microservices-production-opsb-SlackFunctionRole-ABC123"]
      event_bus_arn   = "arn:aws:events:us-east-1:210987654321:event-bus/default"
      alarm_queue_arn = "arn:aws:sqs:us-east-1:210987654321:ecs-microservices-production-opsbot-alarms"
    }
    bot_external_id = "opsbot-0123456789abcdef"
  }

  assert {
    condition     = module.workload_access[0].role_name == "opsbot-workload-access"
    error_message = "The role has the name template.yaml's WorkloadRoleName defaults to."
  }
}

run "short_external_id" {
  command = plan

  variables {
    bot_access = {
      bot_role_arns   = ["arn:aws:iam::210987654321:role/opsbot"]
      event_bus_arn   = "arn:aws:events:us-east-1:210987654321:event-bus/default"
      alarm_queue_arn = "arn:aws:sqs:us-east-1:210987654321:opsbot-alarms"
    }
    bot_external_id = "short"
  }

  expect_failures = [var.bot_external_id]
}

# The module alone: its own checks.
run "external_id_required" {
  command = plan

  module {
    source = "./modules/workload_access"
  }

  variables {
    role_name           = "opsbot-workload-access"
    bot_role_arns       = ["arn:aws:iam::210987654321:role/opsbot"]
    external_id         = null
    bot_event_bus_arn   = "arn:aws:events:us-east-1:210987654321:event-bus/default"
    bot_alarm_queue_arn = "arn:aws:sqs:us-east-1:210987654321:opsbot-alarms"
    name_prefix         = "mock-production"
    cluster_name        = "mock-production-cluster"
    ecr_repository_arns = ["arn:aws:ecr:us-east-1:123456789012:repository/mock-production-web"]
    pass_role_arns      = ["arn:aws:iam::123456789012:role/mock-production-web-task"]
    alarm_topic_arn     = "arn:aws:sns:us-east-1:123456789012:mock-production-alarms"
  }

  expect_failures = [data.aws_iam_policy_document.trust]
}

run "wildcard_principal_refused" {
  command = plan

  module {
    source = "./modules/workload_access"
  }

  variables {
    role_name           = "opsbot-workload-access"
    bot_role_arns       = ["arn:aws:iam::210987654321:role/*"]
    external_id         = "opsbot-0123456789abcdef"
    bot_event_bus_arn   = "arn:aws:events:us-east-1:210987654321:event-bus/default"
    bot_alarm_queue_arn = "arn:aws:sqs:us-east-1:210987654321:opsbot-alarms"
    name_prefix         = "mock-production"
    cluster_name        = "mock-production-cluster"
    ecr_repository_arns = ["arn:aws:ecr:us-east-1:123456789012:repository/mock-production-web"]
    pass_role_arns      = ["arn:aws:iam::123456789012:role/mock-production-web-task"]
    alarm_topic_arn     = "arn:aws:sns:us-east-1:123456789012:mock-production-alarms"
  }

  expect_failures = [var.bot_role_arns]
}
