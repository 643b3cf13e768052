# The import ID is source>destination.
terraform import stack_consul_intention.web_to_api 'web>api'
