//! The binary as an operator uses it: exit codes and messages of each command.

use std::process::{Command, Output};

fn jiayou(args: &[&str], env: &[(&str, &str)], dir: &std::path::Path) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_jiayou"));
    c.args(args).current_dir(dir).env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("run jiayou")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn geo_convert_prints_the_converted_point() {
    let dir = tempfile::tempdir().unwrap();
    // Vector from wandergis/coordtransform test/app.js: WGS-84 (116.404, 39.915) → GCJ-02.
    let o = jiayou(&["geo", "convert", "--from", "wgs84", "--to", "gcj02", "116.404", "39.915"], &[], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let out = String::from_utf8(o.stdout).unwrap();
    let v: Vec<f64> = out.split_whitespace().map(|s| s.parse().unwrap()).collect();
    assert!((v[0] - 116.41024449916938).abs() < 1e-6 && (v[1] - 39.91640428150164).abs() < 1e-6, "{out}");
    // Negative longitudes are numbers, not flags; outside China nothing moves.
    let o = jiayou(&["geo", "convert", "--from", "gcj02", "--to", "wgs84", "-0.1276", "51.5072"], &[], dir.path());
    assert_eq!(String::from_utf8(o.stdout).unwrap().trim(), "-0.12760000 51.50720000");
    let o = jiayou(&["geo", "convert", "--from", "utm", "--to", "wgs84", "1", "2"], &[], dir.path());
    assert!(!o.status.success() && text(&o).contains("utm"), "{}", text(&o));
    let o = jiayou(&["geo", "convert", "--from", "wgs84", "--to", "gcj02", "1", "95"], &[], dir.path());
    assert!(!o.status.success() && text(&o).contains("lat"), "{}", text(&o));
}

#[test]
fn a_bad_config_stops_start_up_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("jiayou.toml"), "listn = \"127.0.0.1:9\"\n").unwrap();
    let o = jiayou(&["migrate"], &[], dir.path());
    assert!(!o.status.success());
    assert!(text(&o).contains("listn"), "{}", text(&o));
    let o = jiayou(&["migrate", "--config", "/nonexistent/jiayou.toml"], &[], dir.path());
    assert!(!o.status.success() && text(&o).contains("/nonexistent/jiayou.toml"), "{}", text(&o));
    std::fs::remove_file(dir.path().join("jiayou.toml")).unwrap();
    let o = jiayou(&["serve"], &[("JIAYOU_LISTEN", "not-an-address")], dir.path());
    assert!(!o.status.success() && text(&o).contains("JIAYOU_LISTEN"), "{}", text(&o));
    // serve refuses to run without keys for personal data, and says how to make them.
    let o = jiayou(&["serve"], &[("JIAYOU_LISTEN", "127.0.0.1:0")], dir.path());
    assert!(!o.status.success() && text(&o).contains("jiayou keys generate"), "{}", text(&o));
}

#[test]
fn migrate_creates_the_default_sqlite_database_and_is_repeatable() {
    let dir = tempfile::tempdir().unwrap();
    for _ in 0..2 {
        let o = jiayou(&["migrate"], &[], dir.path());
        assert!(o.status.success(), "{}", text(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("m0001_platform"));
    }
    assert!(dir.path().join("data/jiayou.db").exists(), "default database is ./data/jiayou.db");
}

#[test]
fn generated_keys_are_a_loadable_config() {
    let dir = tempfile::tempdir().unwrap();
    let o = jiayou(&["keys", "generate"], &[], dir.path());
    assert!(o.status.success());
    let section = String::from_utf8(o.stdout).unwrap();
    assert!(section.starts_with("[crypto]"), "{section}");
    std::fs::write(dir.path().join("jiayou.toml"), &section).unwrap();
    // The config with those keys is accepted (migrate loads and validates it).
    let o = jiayou(&["migrate"], &[], dir.path());
    assert!(o.status.success(), "{}", text(&o));
    let o = jiayou(&["audit", "verify"], &[], dir.path());
    assert!(o.status.success(), "an empty trail verifies: {}", text(&o));
    // Without an audit key it refuses, and says how to make one.
    std::fs::write(dir.path().join("jiayou.toml"), section.split("[audit]").next().unwrap()).unwrap();
    let o = jiayou(&["audit", "verify"], &[], dir.path());
    assert!(!o.status.success() && text(&o).contains("jiayou keys generate"), "{}", text(&o));
    // Two runs never print the same keys.
    let again = jiayou(&["keys", "generate"], &[], dir.path());
    assert_ne!(String::from_utf8(again.stdout).unwrap(), section);
}

/// A plain HTTP/1.1 request over std, enough for a smoke test without a client library.
fn http(port: u16, method: &str, path: &str, json: Option<&str>) -> Option<String> {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(std::time::Duration::from_secs(10))).ok()?;
    let body = json.unwrap_or("");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
    .ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    Some(out)
}

fn http_get(port: u16, path: &str) -> Option<String> {
    http(port, "GET", path, None)
}

#[test]
fn demo_seeds_and_serves_then_reuses_its_database() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let listen = format!("127.0.0.1:{port}");
    for round in 0..2 {
        let mut child = Command::new(env!("CARGO_BIN_EXE_jiayou"))
            .args(["demo", "--data-dir", "demo"])
            .current_dir(dir.path())
            .env_clear()
            .env("JIAYOU_LISTEN", &listen)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut ready = None;
        for _ in 0..200 {
            if let Some(r) = http_get(port, "/readyz").filter(|r| r.starts_with("HTTP/1.1 200")) {
                ready = Some(r);
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        assert!(ready.is_some(), "demo did not become ready (round {round})");
        let nearby =
            http_get(port, "/api/v1/stations/nearby?lng=102.7186&lat=25.0463&coord=gcj02&radius_m=10000").unwrap();
        assert!(nearby.starts_with("HTTP/1.1 200") && nearby.contains("KM-BJL"), "{nearby}");
        // Staff sign in with the printed demo logins; drivers through the WeChat peer.
        let staff = http(
            port,
            "POST",
            "/api/v1/auth/login",
            Some(r#"{"chain":"YNDEMO","username":"zhanzhang","password":"jiayou-demo-2026"}"#),
        )
        .unwrap();
        assert!(staff.starts_with("HTTP/1.1 200"), "{staff}");
        let code = format!(r#"{{"chain":"YNDEMO","code":"test-alice.{round}"}}"#);
        let member = http(port, "POST", "/api/v1/member/login/wechat", Some(&code)).unwrap();
        assert!(member.starts_with("HTTP/1.1 200") && member.contains("token"), "{member}");
        child.kill().unwrap();
        let out = child.wait_with_output().unwrap();
        let printed = String::from_utf8_lossy(&out.stdout);
        assert!(printed.contains(&format!("http://{listen}/api/v1/")), "{printed}");
        assert!(printed.contains("Admin token"), "{printed}");
        assert!(printed.contains("zhanzhang") && printed.contains("test-<name>"), "{printed}");
        let expected = if round == 0 { "freshly created" } else { "reused" };
        assert!(printed.contains(expected), "round {round}: {printed}");
    }
}
