# Safe defaults and a teardown that works (issue 16, items 8 and 6). Run offline by
# tests/infra/test_safe_defaults.py, which also reads the plans of these runs.

mock_provider "aws" {
  source = "./tests/mocks"
}

variables {
  image_tag = "0123456789ab"
}

# The certificate rule needs only the variables: these runs plan the ALB's ingress rules (which depend on
# the certificate) and the little they need, not the whole platform.
run "production_without_certificate_is_refused" {
  command = plan

  variables {
    environment     = "production"
    certificate_arn = null
  }

  plan_options {
    target = [module.alb.aws_vpc_security_group_ingress_rule.internet]
  }

  expect_failures = [var.certificate_arn]
}

run "production_with_an_empty_certificate_is_refused" {
  command = plan

  variables {
    environment     = "production"
    certificate_arn = ""
  }

  plan_options {
    target = [module.alb.aws_vpc_security_group_ingress_rule.internet]
  }

  expect_failures = [var.certificate_arn]
}

run "staging_may_serve_http" {
  command = plan

  variables {
    environment     = "staging"
    certificate_arn = null
  }

  plan_options {
    target = [module.alb.aws_vpc_security_group_ingress_rule.internet]
  }
}

# Production with allow_destroy: what `make destroy` applies before it destroys. Without a certificate
# but with allow_http, which is how production serves plain HTTP on purpose.
run "teardown" {
  command = plan

  variables {
    environment     = "production"
    certificate_arn = null
    allow_http      = true
    allow_destroy   = true
  }

  assert {
    condition     = module.alb.https_enabled == false
    error_message = "With allow_http and no certificate, production serves plain HTTP."
  }
}
