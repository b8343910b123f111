variable "name" {
  description = "Helm release name."
  type        = string
}

variable "namespace" {
  description = "Kubernetes namespace of the release (created when missing)."
  type        = string
}

variable "chart" {
  description = "Chart name in the repository, or a local chart directory when repository is null."
  type        = string
}

variable "repository" {
  description = "Chart repository URL; null for a local chart."
  type        = string
  default     = null
}

variable "chart_version" {
  description = "Pinned chart version (ignored for a local chart)."
  type        = string
  default     = null
}

variable "values" {
  description = "Chart values (non-secret); rendered to YAML."
  type        = any
  default     = {}
}

variable "secret_values" {
  description = "Secret chart values by dotted key, passed to helm with --set-string from the environment: never stored in the state."
  type        = map(string)
  default     = {}
  sensitive   = true
  ephemeral   = true
}

variable "kube_context" {
  description = "kubectl context to deploy to; null uses the current context."
  type        = string
  default     = null
}

variable "timeout" {
  description = "How long helm waits for the release to become ready."
  type        = string
  default     = "10m"
}
