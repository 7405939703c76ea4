#!/usr/bin/env bash
# Create (or bring up to date) the S3 bucket and DynamoDB table that hold infra/'s Terraform state.
# Safe to run again: existing resources are kept and their settings re-applied.
#
#   scripts/setup-backend.sh BUCKET [REGION] [LOCK_TABLE]
#
# REGION defaults to $AWS_REGION, then us-east-1; LOCK_TABLE to terraform-state-lock (backend.tf).
set -euo pipefail

fail() { echo "setup-backend: $*" >&2; exit 1; }

[[ $# -ge 1 && $# -le 3 ]] || fail "usage: $0 BUCKET [REGION] [LOCK_TABLE]"
bucket="$1"
region="${2:-${AWS_REGION:-us-east-1}}"
table="${3:-terraform-state-lock}"

command -v aws >/dev/null 2>&1 || fail "the AWS CLI v2 is not installed."
[[ "$bucket" =~ ^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$ ]] || fail "'$bucket' is not a valid S3 bucket name."

if aws s3api head-bucket --bucket "$bucket" --region "$region" >/dev/null 2>&1; then
  echo "Bucket s3://$bucket exists; re-applying its settings."
else
  echo "Creating bucket s3://$bucket in $region."
  # us-east-1 is the default location and rejects an explicit LocationConstraint.
  if [[ "$region" == "us-east-1" ]]; then
    aws s3api create-bucket --bucket "$bucket" --region "$region" >/dev/null
  else
    aws s3api create-bucket --bucket "$bucket" --region "$region" \
      --create-bucket-configuration "LocationConstraint=$region" >/dev/null
  fi
  aws s3api wait bucket-exists --bucket "$bucket" --region "$region"
fi

aws s3api put-bucket-versioning --bucket "$bucket" --region "$region" \
  --versioning-configuration Status=Enabled
aws s3api put-bucket-encryption --bucket "$bucket" --region "$region" \
  --server-side-encryption-configuration \
  '{"Rules":[{"ApplyServerSideEncryptionByDefault":{"SSEAlgorithm":"AES256"},"BucketKeyEnabled":true}]}'
aws s3api put-public-access-block --bucket "$bucket" --region "$region" \
  --public-access-block-configuration \
  BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true
aws s3api put-bucket-policy --bucket "$bucket" --region "$region" --policy "$(cat <<JSON
{"Version":"2012-10-17","Statement":[{"Sid":"DenyInsecureTransport","Effect":"Deny","Principal":"*",
"Action":"s3:*","Resource":["arn:aws:s3:::$bucket","arn:aws:s3:::$bucket/*"],
"Condition":{"Bool":{"aws:SecureTransport":"false"}}}]}
JSON
)"

if aws dynamodb describe-table --table-name "$table" --region "$region" >/dev/null 2>&1; then
  echo "Lock table $table exists."
else
  echo "Creating lock table $table in $region."
  aws dynamodb create-table --table-name "$table" --region "$region" \
    --attribute-definitions AttributeName=LockID,AttributeType=S \
    --key-schema AttributeName=LockID,KeyType=HASH \
    --billing-mode PAY_PER_REQUEST >/dev/null
  aws dynamodb wait table-exists --table-name "$table" --region "$region"
fi

cat <<MSG

Backend ready. Initialise Terraform with:

  make init BUCKET=$bucket AWS_REGION=$region
  # or: terraform -chdir=infra init -backend-config="bucket=$bucket" -backend-config="region=$region"
MSG
