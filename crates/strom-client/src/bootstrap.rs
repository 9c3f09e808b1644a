//! Parsing of `--bootstrap-server` strings (`host:port[,host:port...]`) into connectable addresses. Resolves no
//! names; `TcpStream::connect` does that.

use crate::error::ClientError;

/// Splits `host:port[,host:port...]` into `host:port` strings, accepting an optional `PLAINTEXT://` prefix and
/// bracketed IPv6 hosts (`[::1]:9092`). Whitespace around entries is ignored; empty entries are rejected.
pub fn parse_bootstrap(input: &str) -> Result<Vec<String>, ClientError> {
    let invalid = |reason: String| ClientError::InvalidBootstrap {
        input: input.to_owned(),
        reason,
    };
    let mut out = Vec::new();
    for entry in input.split(',') {
        let entry = entry.trim();
        let entry = entry.strip_prefix("PLAINTEXT://").unwrap_or(entry);
        if entry.is_empty() {
            return Err(invalid("empty entry".into()));
        }
        let (host, port) = entry
            .rsplit_once(':')
            .ok_or_else(|| invalid(format!("{entry:?} has no :port")))?;
        if host.is_empty() {
            return Err(invalid(format!("{entry:?} has no host")));
        }
        if host.contains(':') && !(host.starts_with('[') && host.ends_with(']')) {
            return Err(invalid(format!(
                "IPv6 host in {entry:?} must be in brackets"
            )));
        }
        port.parse::<u16>()
            .map_err(|_| invalid(format!("{port:?} is not a port")))?;
        out.push(format!("{host}:{port}"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_lists_prefixes_and_ipv6() {
        assert_eq!(
            parse_bootstrap("localhost:9092").unwrap(),
            vec!["localhost:9092"]
        );
        assert_eq!(
            parse_bootstrap(" a:1 ,PLAINTEXT://b:2,[::1]:9092").unwrap(),
            vec!["a:1", "b:2", "[::1]:9092"]
        );
    }

    #[test]
    fn rejects_malformed_entries() {
        for bad in [
            "",
            "localhost",
            "a:1,",
            ":9092",
            "host:notaport",
            "host:70000",
            "::1:9092",
        ] {
            assert!(parse_bootstrap(bad).is_err(), "{bad:?} should be rejected");
        }
    }
}
