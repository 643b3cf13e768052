resource "stack_consul_acl_policy" "web" {
  name        = "web"
  description = "Lets the web service register itself and find its upstreams."
  rules       = <<-EOT
    service "web" {
      policy = "write"
    }
    service_prefix "" {
      policy = "read"
    }
    node_prefix "" {
      policy = "read"
    }
  EOT
}
