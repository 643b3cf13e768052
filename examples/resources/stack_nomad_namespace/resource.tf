resource "stack_nomad_namespace" "apps" {
  name        = "apps"
  description = "Application workloads"
  meta = {
    owner = "platform"
  }
}
