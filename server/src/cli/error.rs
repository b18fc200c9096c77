//! Why an `osprey` command failed: one type that renders itself, printed
//! by `main` as `osprey: {error}` before exiting with status 1.

use std::fmt;
use std::net::SocketAddr;

use crate::auth::AuthError;
use crate::storage::StorageError;

/// Why an `osprey` command failed.
#[derive(Debug)]
pub enum CliError {
    /// A command-line value that does not parse.
    BadArgument {
        /// What was expected (`"not a duration"`, `"--grpc-listen: not an address or `off`"`).
        expected: &'static str,
        /// What was given.
        value: String,
    },
    /// A duration with a unit other than s, m, h or d.
    UnknownUnit(String),
    /// A non-loopback address without TLS and auth, and no `--insecure`.
    Exposed {
        /// The address.
        listen: SocketAddr,
        /// `"TLS and auth"`, `"TLS"` or `"auth"`.
        missing: &'static str,
    },
    /// A file, the terminal or standard input could not be read, or the
    /// server could not start or open its data.
    Io {
        /// What was being done (`"cannot read /x"`).
        doing: String,
        /// The cause.
        source: std::io::Error,
    },
    /// The key and user files refused.
    Auth(AuthError),
    /// Storing imported spans failed.
    Storage(StorageError),
    /// No key or user by that name.
    NotFound {
        /// `"key with id or name"` or `"user"`.
        what: &'static str,
        /// The name given.
        name: String,
    },
    /// The password and its confirmation differ.
    PasswordsDiffer,
    /// A CA file without a certificate.
    NoCertificate(String),
    /// A request to a remote server failed or was answered unexpectedly.
    Remote {
        /// `"GET https://..."`.
        request: String,
        /// What went wrong.
        message: String,
    },
    /// The remote server asks for a login.
    LoginRequired(String),
    /// The remote server refused the login with this status.
    LoginRefused(u16),
    /// The remote server throttles logins after failures.
    TooManyLogins,
    /// A report could not be made, or the report schedule is wrong.
    Report(crate::report::ReportError),
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::BadArgument { expected, value } => write!(f, "{expected}: {value:?}"),
            Self::UnknownUnit(s) => write!(f, "unknown unit in {s:?} (use s, m, h or d)"),
            Self::Exposed { listen, missing } => write!(
                f,
                "{listen} is not a loopback address and the server would run without {missing}: \
                 pass --tls-cert and --tls-key, add a user (osprey user add) or a key \
                 (osprey key add) or pass --auth, or pass --insecure to insist"
            ),
            Self::Io { doing, source } => write!(f, "{doing}: {source}"),
            Self::Auth(e) => e.fmt(f),
            Self::Storage(e) => write!(f, "cannot store: {e}"),
            Self::NotFound { what, name } => write!(f, "no {what} {name:?}"),
            Self::PasswordsDiffer => f.write_str("the passwords differ"),
            Self::NoCertificate(path) => write!(f, "no certificate in {path}"),
            Self::Remote { request, message } => write!(f, "{request}: {message}"),
            Self::LoginRequired(request) => write!(
                f,
                "{request}: login required (pass --user NAME; the password from OSPREY_PASSWORD or stdin)"
            ),
            Self::LoginRefused(status) => write!(f, "login refused ({status})"),
            Self::TooManyLogins => f.write_str("too many failed logins: try again later"),
            Self::Report(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for CliError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Auth(e) => Some(e),
            Self::Storage(e) => Some(e),
            Self::Report(e) => Some(e),
            _ => None,
        }
    }
}

impl From<crate::report::ReportError> for CliError {
    fn from(e: crate::report::ReportError) -> Self {
        Self::Report(e)
    }
}

impl From<AuthError> for CliError {
    fn from(e: AuthError) -> Self {
        Self::Auth(e)
    }
}

impl CliError {
    /// An I/O failure while `doing` something.
    pub fn io(doing: impl Into<String>) -> impl FnOnce(std::io::Error) -> Self {
        let doing = doing.into();
        move |source| Self::Io { doing, source }
    }

    /// A value that does not parse as `expected`.
    pub fn bad(expected: &'static str, value: impl Into<String>) -> Self {
        Self::BadArgument {
            expected,
            value: value.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_render_the_messages_users_read() {
        assert_eq!(
            CliError::bad("not a duration", "7x7").to_string(),
            "not a duration: \"7x7\""
        );
        let e =
            CliError::io("cannot read /nope")(std::io::Error::from(std::io::ErrorKind::NotFound));
        assert!(e.to_string().starts_with("cannot read /nope: "), "{e}");
        assert!(std::error::Error::source(&e).is_some());
        assert_eq!(
            CliError::NotFound {
                what: "user",
                name: "ann".into()
            }
            .to_string(),
            "no user \"ann\""
        );
    }
}
