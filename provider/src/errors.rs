//! core errors → Terraform diagnostics, with the hint texts in one place.

use stack_core::Error;
use tf_framework::{AttributePath, Diagnostic, Diags};

/// Hint for a 403 answer.
pub const HINT_FORBIDDEN: &str =
    "The token was refused. Check that its policy grants the capabilities this operation needs on that path.";
/// Hint for a server that stayed unavailable after retries.
pub const HINT_UNAVAILABLE: &str =
    "The server did not answer successfully within the retry budget. Check that it is running, unsealed and has a leader, then run the command again: applies converge without duplicates.";

/// A diagnostic for a failed core call. `action` is e.g. "create stack_vault_policy".
pub fn diag(action: &str, err: &Error) -> Diagnostic {
    let mut detail = err.report();
    if err.is_forbidden() {
        detail = format!("{detail}\n\n{HINT_FORBIDDEN}");
    } else if matches!(err, Error::Unavailable { .. } | Error::Transport { .. }) {
        detail = format!("{detail}\n\n{HINT_UNAVAILABLE}");
    }
    Diagnostic::error(format!("Unable to {action}"), detail)
}

/// Same as [`diag`], attached to an attribute.
pub fn diag_at(action: &str, err: &Error, path: AttributePath) -> Diagnostic {
    diag(action, err).at(path)
}

/// `map_err` helper: `.map_err(fail("create stack_vault_policy"))?`.
pub fn fail(action: &'static str) -> impl Fn(Error) -> Diags {
    move |e| diag(action, &e).into()
}
