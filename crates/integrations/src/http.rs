//! Plumbing shared by the HTTP adapters: one client per adapter with a hard timeout,
//! endpoint URLs under a configurable base, and transport errors without URLs.

use std::time::Duration;

use url::Url;

/// Every outbound call gives up after this long unless configured otherwise: a sign-in
/// that hangs is worse than one that fails with "try again".
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// A base URL that is not an absolute http(s) URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid base URL {0:?}: expected an absolute http:// or https:// URL")]
pub struct InvalidBaseUrl(pub String);

pub(crate) fn parse_base(base: &str) -> Result<Url, InvalidBaseUrl> {
    let url = Url::parse(base).map_err(|_| InvalidBaseUrl(base.to_owned()))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() || url.query().is_some() {
        return Err(InvalidBaseUrl(base.to_owned()));
    }
    Ok(url)
}

/// `base` + `path`, keeping any path prefix of the base (a proxy may mount WeChat under one).
pub(crate) fn endpoint(base: &Url, path: &str) -> Url {
    let mut url = base.clone();
    let joined = format!("{}{}", base.path().trim_end_matches('/'), path);
    url.set_path(&joined);
    url
}

/// The Host header value reqwest would send for `url`: host plus a non-default port.
pub(crate) fn host_header(url: &Url) -> String {
    let host = url.host_str().unwrap_or_default();
    match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_owned(),
    }
}

pub(crate) fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .build()
        // Building fails only when the TLS backend cannot start, which with the bundled
        // rustls and webpki roots does not happen at run time: a startup bug, not input.
        .expect("reqwest client with rustls builds")
}

/// What went wrong on the wire, as a short fixed phrase. Never the URL: jscode2session
/// and the token endpoint carry the app secret in the query string, and reqwest's
/// Display of an error prints the URL.
pub(crate) fn transport_reason(err: &reqwest::Error) -> &'static str {
    if err.is_timeout() {
        "timed out"
    } else if err.is_connect() {
        "connection failed"
    } else if err.is_body() || err.is_decode() {
        "reading the response failed"
    } else {
        "request failed"
    }
}

/// A serde error described by category and position only: its Display can quote the
/// offending value, which may be a session key or a phone number.
pub(crate) fn describe_json_error(err: &serde_json::Error) -> String {
    let kind = match err.classify() {
        serde_json::error::Category::Io => "I/O error",
        serde_json::error::Category::Syntax => "not JSON",
        serde_json::error::Category::Data => "unexpected JSON shape",
        serde_json::error::Category::Eof => "truncated JSON",
    };
    if err.line() > 0 { format!("{kind} at line {} column {}", err.line(), err.column()) } else { kind.to_owned() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_keep_a_base_path_prefix() {
        let base = parse_base("http://127.0.0.1:9/wx/").unwrap();
        assert_eq!(endpoint(&base, "/sns/jscode2session").as_str(), "http://127.0.0.1:9/wx/sns/jscode2session");
        let base = parse_base("https://api.weixin.qq.com").unwrap();
        assert_eq!(endpoint(&base, "/cgi-bin/token").as_str(), "https://api.weixin.qq.com/cgi-bin/token");
    }

    #[test]
    fn base_urls_must_be_absolute_http() {
        assert!(parse_base("api.weixin.qq.com").is_err());
        assert!(parse_base("ftp://x").is_err());
        assert!(parse_base("http://x/?a=b").is_err());
    }

    #[test]
    fn host_header_has_the_port_only_when_not_default() {
        assert_eq!(host_header(&Url::parse("https://sms.tencentcloudapi.com/").unwrap()), "sms.tencentcloudapi.com");
        assert_eq!(host_header(&Url::parse("http://127.0.0.1:8080/").unwrap()), "127.0.0.1:8080");
    }

    #[test]
    fn json_errors_do_not_quote_values() {
        let err = serde_json::from_str::<u32>("\"13800138000\"").unwrap_err();
        assert!(!describe_json_error(&err).contains("13800138000"));
    }
}
