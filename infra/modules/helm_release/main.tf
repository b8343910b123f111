# A Helm release driven through the helm CLI. (The hashicorp/helm and kubernetes providers cannot be
# built from the Go module proxy reachable here; the CLI keeps this environment validatable offline.)
# The release is replaced when its chart, version or values change; secret values are given to helm
# from the environment of the provisioner, so they never reach the state.

locals {
  values_yaml = yamlencode(var.values)
  context_arg = var.kube_context == null ? "" : "--kube-context ${var.kube_context}"
  chart_ref   = var.repository == null ? var.chart : "${var.chart} --repo ${var.repository} --version ${var.chart_version}"
  secret_keys = nonsensitive(keys(var.secret_values))
}

resource "terraform_data" "release" {
  input = {
    name      = var.name
    namespace = var.namespace
    context   = local.context_arg
  }
  triggers_replace = [var.chart, var.repository, var.chart_version, sha256(local.values_yaml)]

  provisioner "local-exec" {
    interpreter = ["/bin/bash", "-c"]
    command     = <<-EOT
      set -euo pipefail
      sets=()
      for key in ${join(" ", local.secret_keys)}; do
        var="SECRET_$(echo "$key" | tr '.-' '__')"
        sets+=(--set-string "$key=$${!var}")
      done
      helm upgrade --install ${var.name} ${local.chart_ref} ${local.context_arg} \
        --namespace ${var.namespace} --create-namespace --wait --timeout ${var.timeout} \
        --values <(printf '%s' "$VALUES") "$${sets[@]}"
    EOT
    environment = merge(
      { VALUES = local.values_yaml },
      { for k, v in var.secret_values : "SECRET_${replace(replace(k, ".", "_"), "-", "_")}" => v },
    )
  }

  provisioner "local-exec" {
    when    = destroy
    command = "helm uninstall ${self.input.name} --namespace ${self.input.namespace} ${self.input.context} --wait"
  }
}
