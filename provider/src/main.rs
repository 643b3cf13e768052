//! terraform-provider-stack: started by Terraform, or by hand with `--debug`.

fn main() {
    tf_framework::run(
        stack_provider::StackProvider,
        stack_provider::PROVIDER_ADDRESS,
        "provider.terraform-provider-stack",
    );
}
