//! `osprey key ...`, `osprey user ...` and the exposure check of `serve`.

use std::io::{BufRead, IsTerminal, Write};
use std::net::SocketAddr;
use std::path::Path;

use super::{CliError, KeyAction, UserAction};
use crate::auth::{self, Auth};

/// A non-loopback address needs TLS and auth, or `--insecure` (which
/// warns loudly on stderr).
pub fn check_exposure(
    listen: SocketAddr,
    tls: bool,
    auth_on: bool,
    insecure: bool,
) -> Result<(), CliError> {
    if listen.ip().is_loopback() || (tls && auth_on) {
        return Ok(());
    }
    let missing = match (tls, auth_on) {
        (false, false) => "TLS and auth",
        (false, true) => "TLS",
        _ => "auth",
    };
    if !insecure {
        return Err(CliError::Exposed { listen, missing });
    }
    eprintln!(
        "osprey: WARNING: --insecure: listening on {listen} without {missing}; \
         anyone who reaches this address can {} everything",
        if auth_on {
            "read passwords, keys and sessions off the wire and then read and send"
        } else {
            "read and send"
        }
    );
    Ok(())
}

/// Says at start, on stderr, whether auth is on and what it holds (stdout
/// carries only the one "listening on" line, which scripts read and then
/// may close).
pub fn report(auth: &Auth) {
    let mut err = std::io::stderr().lock();
    if !auth.enabled() {
        let _ = writeln!(
            err,
            "osprey: auth off (no users or keys in the data directory): keep it on loopback"
        );
        return;
    }
    let (users, keys) = (auth.users.len(), auth.keys.len());
    let _ = writeln!(err, "osprey: auth on ({users} users, {keys} API keys)");
    if users == 0 {
        let _ = writeln!(
            err,
            "osprey: warning: no users: nobody can open the viewer (osprey user add NAME)"
        );
    }
    if keys == 0 {
        let _ = writeln!(
            err,
            "osprey: warning: no API keys: every ingest request is refused (osprey key add)"
        );
    }
}

/// `osprey key add|remove|list`.
pub fn key(action: KeyAction, data: &Path) -> Result<(), CliError> {
    match action {
        KeyAction::Add { service, name } => {
            let (entry, key) = auth::keys::add(data, name, service)?;
            // The key alone on stdout (for scripts); how to use it on stderr.
            println!("{key}");
            eprintln!(
                "osprey: key {} added{}; it is shown only now. Give it to agents as\n  \
                 OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20{key}\n  \
                 (or otlp.headers=Authorization=Bearer%20{key} in osprey.properties)",
                entry.id,
                if entry.services.is_empty() {
                    String::new()
                } else {
                    format!(" for services {}", entry.services.join(","))
                }
            );
            Ok(())
        }
        KeyAction::Remove { key } => match auth::keys::remove(data, &key)? {
            0 => Err(CliError::NotFound {
                what: "key with id or name",
                name: key,
            }),
            n => {
                println!("removed {n} key(s)");
                Ok(())
            }
        },
        KeyAction::List => {
            for k in auth::keys::list(data)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    k.id,
                    if k.name.is_empty() { "-" } else { &k.name },
                    if k.services.is_empty() {
                        "*".to_owned()
                    } else {
                        k.services.join(",")
                    },
                    crate::time::format_ms(k.created_ms)
                );
            }
            Ok(())
        }
    }
}

/// The password: a prompt without echo on a terminal (twice when
/// `confirm`), else the first line of standard input.
pub fn read_password(name: &str, confirm: bool) -> Result<String, CliError> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password(format!("password for {name}: "))
            .map_err(CliError::io("cannot read the password"))?;
        if confirm {
            let again = rpassword::prompt_password("again: ")
                .map_err(CliError::io("cannot read the password"))?;
            if first != again {
                return Err(CliError::PasswordsDiffer);
            }
        }
        return Ok(first);
    }
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(CliError::io("cannot read the password from stdin"))?;
    Ok(line.trim_end_matches(['\r', '\n']).to_owned())
}

/// `osprey user add|remove|list`.
pub fn user(action: UserAction, data: &Path) -> Result<(), CliError> {
    match action {
        UserAction::Add { name, role } => {
            let password = read_password(&name, true)?;
            auth::users::add(data, &name, role, &password)?;
            println!("user {name} added ({})", role.as_str());
            Ok(())
        }
        UserAction::Remove { name } => {
            if auth::users::remove(data, &name)? {
                println!("user {name} removed");
                Ok(())
            } else {
                Err(CliError::NotFound { what: "user", name })
            }
        }
        UserAction::List => {
            for u in auth::users::list(data)? {
                println!(
                    "{}\t{}\t{}",
                    u.name,
                    u.role.as_str(),
                    crate::time::format_ms(u.created_ms)
                );
            }
            Ok(())
        }
    }
}
