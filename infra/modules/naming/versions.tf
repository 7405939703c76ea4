terraform {
  # Pure expressions only: no provider, so tests can evaluate this module offline.
  required_version = ">= 1.5.0"
}
