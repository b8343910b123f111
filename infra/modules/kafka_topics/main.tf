# The event topics. Kafka cannot shrink a topic: lowering `partitions` makes Terraform plan a
# replacement (delete and re-create), which loses data; review such a plan before applying it.
resource "kafka_topic" "this" {
  for_each = var.topics

  name               = each.key
  partitions         = each.value.partitions
  replication_factor = each.value.replication_factor
  config = merge(var.extra_config, {
    "retention.ms"        = tostring(each.value.retention_ms)
    "cleanup.policy"      = each.value.cleanup_policy
    "min.insync.replicas" = tostring(each.value.min_insync_replicas)
  })
}
