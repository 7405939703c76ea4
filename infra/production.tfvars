# The production platform's variables: committed, read by `make plan`/`make destroy` locally and by the
# deploy workflow in CI (-var-file=production.tfvars), so both plan the same platform. Nothing secret
# belongs here (secrets stay in Secrets Manager/SSM and are referenced by ARN); the image tag is
# given per deployment (-var image_tag=<commit SHA>).
#
# Before the first `make plan`, replace every CHANGE-ME with your values and commit the file:
# `make plan` refuses to run while one is left.

aws_region   = "us-east-1"
project_name = "ecs-microservices"
environment  = "production"

vpc_cidr             = "10.0.0.0/16"
az_count             = 2
enable_vpc_endpoints = false

services = {
  "service-a" = {
    port                 = 8000
    cpu                  = 256
    memory               = 512
    min_tasks            = 1
    max_tasks            = 10
    health_path          = "/health"
    public_path_patterns = ["/api/*", "/health"]
  }
  "service-b" = {
    port         = 8001
    cpu          = 256
    memory       = 512
    min_tasks    = 1
    max_tasks    = 10
    health_path  = "/health"
    allow_from   = ["service-a"]
    discoverable = true
  }
}

# HTTPS: an ACM certificate of aws_region for the ALB.
certificate_arn = "arn:aws:acm:us-east-1:111122223333:certificate/CHANGE-ME"

enable_waf  = true
alarm_email = "CHANGE-ME@example.com"

# GitHub Actions (OIDC): the repository whose deploy workflows may assume the roles, and the state
# bucket made by scripts/setup-backend.sh (the same as the workflow's TF_STATE_BUCKET variable).
github_repo            = "CHANGE-ME/fargate-chatops"
terraform_state_bucket = "CHANGE-ME-terraform-state"
# false when the account already has GitHub's OIDC provider (there can be only one per account).
create_github_oidc_provider = true
