resource "aws_ecr_repository" "this" {
  for_each = var.repositories

  name                 = each.value
  image_tag_mutability = "IMMUTABLE" # a tag is a commit SHA and always means the same image: rollbacks are exact
  force_delete         = var.force_delete

  image_scanning_configuration {
    scan_on_push = true
  }

  encryption_configuration {
    encryption_type = "KMS"
    kms_key         = var.kms_key_arn
  }

  tags = { Service = each.key } # cost per service (the chat-ops bot's /cost)
}

locals {
  # Which images survive, in the order ECR evaluates the rules. An image belongs to the first rule whose
  # tag selection it matches, and no later rule can expire it.
  #   1. Release tags (each prefix of release_tag_prefixes, e.g. v1.4.0): the newest keep_release_images
  #      of each prefix stay. Releases are the rollback targets people name weeks later, so they are
  #      counted apart from the commit builds CI pushes all day, which can never push them out.
  #   2. Untagged images expire after untagged_expire_days: nothing deploys them. Tags are immutable, so
  #      an image never loses its tag, and scripts/push-images.sh pushes single-platform images (no
  #      untagged index children); an untagged image is a leftover of an interrupted or digest-only push.
  #   3. Everything else (commit SHAs from CI and `make push`): the newest keep_last_images stay. A
  #      rollback to a commit build older than that finds its image gone, and the chat-ops bot's rollback
  #      plan says so before changing anything (it checks the target revision's image is still in ECR).
  release_rules = [
    for i, prefix in var.release_tag_prefixes : {
      rulePriority = 1 + i
      description  = "Keep the last ${var.keep_release_images} release images tagged ${prefix}*"
      selection = {
        tagStatus     = "tagged"
        tagPrefixList = [prefix]
        countType     = "imageCountMoreThan"
        countNumber   = var.keep_release_images
      }
      action = { type = "expire" }
    }
  ]

  lifecycle_rules = concat(local.release_rules, [
    {
      rulePriority = 90
      description  = "Expire untagged images after ${var.untagged_expire_days} days"
      selection = {
        tagStatus   = "untagged"
        countType   = "sinceImagePushed"
        countUnit   = "days"
        countNumber = var.untagged_expire_days
      }
      action = { type = "expire" }
    },
    {
      rulePriority = 100
      description  = "Keep the last ${var.keep_last_images} other images (commit builds)"
      selection = {
        tagStatus   = "any"
        countType   = "imageCountMoreThan"
        countNumber = var.keep_last_images
      }
      action = { type = "expire" }
    },
  ])
}

resource "aws_ecr_lifecycle_policy" "this" {
  for_each = aws_ecr_repository.this

  repository = each.value.name
  policy     = jsonencode({ rules = local.lifecycle_rules })
}
