# Each edge is its own resource; modules can add sources to the same destination safely.
resource "stack_consul_intention" "web_to_api" {
  source      = "web"
  destination = "api"
  action      = "allow"
  description = "web calls the api"
}

resource "stack_consul_intention" "api_to_db" {
  source      = "api"
  destination = "db"
  action      = "allow"
}
