# The warehouse is a directory on this machine (object storage in the scale-out environment).
# Destroying it removes the directory only when it is empty: table data is never deleted here.
resource "terraform_data" "warehouse" {
  input = var.path

  provisioner "local-exec" {
    command = "mkdir -p \"$WAREHOUSE\""
    environment = {
      WAREHOUSE = self.input
    }
  }

  provisioner "local-exec" {
    when       = destroy
    command    = "rmdir \"$WAREHOUSE\" 2>/dev/null || echo \"kept $WAREHOUSE: it holds table data\""
    on_failure = continue
    environment = {
      WAREHOUSE = self.input
    }
  }
}
