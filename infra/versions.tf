terraform {
  required_version = ">= 1.9.0" # variable validations that read other variables (certificate_arn)

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.0"
    }
  }
}
