terraform {
  required_version = ">= 1.11"

  # Configure a remote backend for a team (e.g. backend "s3" {}) with -backend-config at init.
  backend "local" {}

  required_providers {
    kafka = {
      source  = "Mongey/kafka"
      version = "0.13.1"
    }
    postgresql = {
      source  = "cyrilgdn/postgresql"
      version = "1.27.0"
    }
  }
}
