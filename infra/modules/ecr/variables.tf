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
  description = "Images kept per repository; older ones expire."
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
