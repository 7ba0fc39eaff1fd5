//! Alpaca credentials for the daemons: from systemd credentials (`LoadCredential=`, files under
//! `$CREDENTIALS_DIRECTORY`) or the environment. Never from config files, never printed.

use std::fmt;
use std::path::PathBuf;

/// A secret string whose `Debug` and `Display` are masked.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// The value, for the one place that must send it (an HTTP header).
    #[must_use]
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(**********)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("**********")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error(
        "{name} is not set: provide it as a systemd credential (LoadCredential=) or an environment variable"
    )]
    Missing { name: String },
    #[error("cannot read credential file {path}: {kind}")]
    Unreadable {
        path: PathBuf,
        kind: std::io::ErrorKind,
    },
}

/// Looks `name` up as a systemd credential first, then as an environment variable.
pub fn load_secret(name: &str) -> Result<Secret, SecretError> {
    if let Some(dir) = std::env::var_os("CREDENTIALS_DIRECTORY") {
        let path = PathBuf::from(dir).join(name);
        if path.is_file() {
            let text = std::fs::read_to_string(&path).map_err(|e| SecretError::Unreadable {
                path: path.clone(),
                kind: e.kind(),
            })?;
            let value = text.trim();
            if !value.is_empty() {
                return Ok(Secret(value.to_owned()));
            }
        }
    }
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => Ok(Secret(value.trim().to_owned())),
        _ => Err(SecretError::Missing {
            name: name.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_format_their_value() {
        let secret = Secret("hunter2-very-secret".into());
        let shown = format!("{secret} {secret:?} {:?}", Some(&secret));
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(secret.expose(), "hunter2-very-secret");
    }

    #[test]
    fn missing_secret_names_the_variable() {
        let err = load_secret("PYRT_TEST_SURELY_UNSET_VARIABLE").unwrap_err();
        assert!(err.to_string().contains("PYRT_TEST_SURELY_UNSET_VARIABLE"));
    }
}
