# Partial configuration: the bucket and its region are given at init, so no account-specific
# value is committed:
#
#   terraform -chdir=infra init \
#     -backend-config="bucket=<state bucket>" -backend-config="region=<region>"
#
# scripts/setup-backend.sh creates the bucket (versioned, encrypted, private) and the lock table.
terraform {
  backend "s3" {
    key            = "ecs-microservices/production/terraform.tfstate"
    encrypt        = true
    dynamodb_table = "terraform-state-lock"
  }
}
