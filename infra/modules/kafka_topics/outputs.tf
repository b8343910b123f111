output "topics" {
  description = "The topics as created: name, partitions, replication factor and configs."
  value = {
    for name, t in kafka_topic.this : name => {
      partitions         = t.partitions
      replication_factor = t.replication_factor
      config             = t.config
    }
  }
}
