//! Provider logs: hclog JSON lines on stderr, which Terraform parses and shows under
//! `TF_LOG=debug` / `TF_LOG_PROVIDER`. Registered secrets are masked in every line as a second
//! line of defence (the first is never logging them).

use std::io::Write;
use std::sync::{OnceLock, RwLock};

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
static LOGGER: OnceLock<HclogLogger> = OnceLock::new();

/// Masks `secret` in every later log line. Short values are ignored (they would mask ordinary words).
pub fn register_secret(secret: &str) {
    if secret.len() < 6 {
        return;
    }
    if let Ok(mut s) = SECRETS.write() {
        if !s.iter().any(|x| x == secret) {
            s.push(secret.to_string());
        }
    }
}

/// Replaces registered secrets in `text` with `***`.
pub fn redact(text: &str) -> String {
    let mut out = text.to_string();
    if let Ok(s) = SECRETS.read() {
        for secret in s.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
    }
    out
}

struct HclogLogger {
    level: log::LevelFilter,
    module: &'static str,
}

impl log::Log for HclogLogger {
    fn enabled(&self, m: &log::Metadata<'_>) -> bool {
        m.level() <= self.level
    }
    fn log(&self, r: &log::Record<'_>) {
        if !self.enabled(r.metadata()) {
            return;
        }
        let level = match r.level() {
            log::Level::Error => "error",
            log::Level::Warn => "warn",
            log::Level::Info => "info",
            log::Level::Debug => "debug",
            log::Level::Trace => "trace",
        };
        let msg = redact(&r.args().to_string());
        let line = serde_json::json!({
            "@level": level,
            "@message": msg,
            "@module": self.module,
            "@timestamp": timestamp(),
        });
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
    fn flush(&self) {}
}

fn timestamp() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86400, secs % 86400);
    let (y, m, dd) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{dd:02}T{:02}:{:02}:{:02}.{:06}Z",
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
        d.subsec_micros()
    )
}

// Howard Hinnant's days-to-civil algorithm.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Installs the logger. The level comes from `TF_LOG_PROVIDER`, then `TF_LOG` (default: warn).
pub fn init(module: &'static str) {
    let level = std::env::var("TF_LOG_PROVIDER")
        .or_else(|_| std::env::var("TF_LOG"))
        .unwrap_or_default();
    let level = match level.to_ascii_lowercase().as_str() {
        "trace" | "json" => log::LevelFilter::Trace,
        "debug" => log::LevelFilter::Debug,
        "info" => log::LevelFilter::Info,
        "error" => log::LevelFilter::Error,
        "off" => log::LevelFilter::Off,
        _ => log::LevelFilter::Warn,
    };
    let logger = LOGGER.get_or_init(|| HclogLogger { level, module });
    if log::set_logger(logger).is_ok() {
        log::set_max_level(level);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_registered_secrets() {
        register_secret("s.TOPSECRET99");
        assert_eq!(redact("token=s.TOPSECRET99 ok"), "token=*** ok");
        register_secret("abc");
        assert_eq!(redact("abc"), "abc");
    }

    #[test]
    fn timestamp_is_rfc3339() {
        assert_eq!(civil_from_days(0), (1970, 1, 1));
        assert_eq!(civil_from_days(20_000), (2024, 10, 4));
        assert!(timestamp().ends_with('Z'));
    }
}
