variable "topics" {
  description = "Topics by name: partition count, replication factor, replicas an acks=all write needs, retention (-1 keeps data forever) and cleanup policy."
  type = map(object({
    partitions          = number
    replication_factor  = number
    min_insync_replicas = number
    retention_ms        = number
    cleanup_policy      = string
  }))

  validation {
    condition     = alltrue([for t in values(var.topics) : t.partitions >= 1 && t.replication_factor >= 1])
    error_message = "Every topic needs at least one partition and a replication factor of at least 1."
  }
  validation {
    condition     = alltrue([for t in values(var.topics) : t.min_insync_replicas >= 1 && t.min_insync_replicas <= t.replication_factor])
    error_message = "min_insync_replicas is between 1 and the topic's replication factor."
  }
  validation {
    condition     = alltrue([for t in values(var.topics) : contains(["delete", "compact"], t.cleanup_policy)])
    error_message = "cleanup_policy is \"delete\" or \"compact\"."
  }
}

variable "extra_config" {
  description = "Further topic configs applied to every topic (a topic's own settings win)."
  type        = map(string)
  default     = {}
}
