variable "repositories" {
  description = "Repository name per service short name."
  type        = map(string)
  nullable    = false
}

variable "kms_key_arn" {
  description = "KMS key encrypting the images."
  type        = string
  nullable    = false
}

variable "keep_last_images" {
  description = "Commit builds (images whose tag has no release prefix) kept per repository; older ones expire."
  type        = number
  default     = 30
  nullable    = false

  validation {
    condition     = var.keep_last_images >= 1
    error_message = "keep_last_images must be at least 1."
  }
}

variable "force_delete" {
  description = "Allow destroying repositories that still hold images."
  type        = bool
  default     = false
  nullable    = false
}

variable "release_tag_prefixes" {
  description = "Tag prefixes of release images (e.g. \"v\" for v1.4.0), kept apart from commit builds: keep_release_images of each prefix survive however many commits CI pushes. At most 80 prefixes."
  type        = list(string)
  default     = ["v"]
  nullable    = false

  validation {
    condition     = length(var.release_tag_prefixes) <= 80 && alltrue([for p in var.release_tag_prefixes : can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]*$", p))])
    error_message = "release_tag_prefixes: at most 80 prefixes, each the start of a valid image tag."
  }
}

variable "keep_release_images" {
  description = "Release images kept per repository and prefix; older releases expire."
  type        = number
  default     = 200
  nullable    = false

  validation {
    condition     = var.keep_release_images >= 1
    error_message = "keep_release_images must be at least 1."
  }
}

variable "untagged_expire_days" {
  description = "Days after which untagged images (nothing can deploy them by tag) expire."
  type        = number
  default     = 1
  nullable    = false

  validation {
    condition     = var.untagged_expire_days >= 1
    error_message = "untagged_expire_days must be at least 1."
  }
}
