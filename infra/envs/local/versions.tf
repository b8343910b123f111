terraform {
  required_version = ">= 1.11"

  # The state lives in the platform's state directory: `kappa` passes
  # -backend-config=path=<state_dir>/terraform/local.tfstate at init.
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
