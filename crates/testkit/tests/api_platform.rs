//! Platform behaviour through the real HTTP API: probes, metrics, the OpenAPI document
//! and its agreement with the router, authentication, and request-level errors.

use jiayou_testkit::{Backend, spawn_app};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

async fn app() -> jiayou_testkit::TestApp {
    spawn_app(Backend::Sqlite).await.expect("sqlite")
}

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = app().await;
    let r = app.call_anonymous(Method::GET, "/healthz", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body["status"], "ok");
    let r = app.call_anonymous(Method::GET, "/readyz", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = app().await;
    app.app.db.clone().close().await.unwrap();
    let r = app.call_anonymous(Method::GET, "/readyz", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.text);
    assert_eq!(r.code(), "unavailable");
    // Liveness does not depend on the database.
    assert_eq!(app.call_anonymous(Method::GET, "/healthz", None).await.status, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_by_route_template() {
    let app = app().await;
    app.get("/api/v1/stations/987654").await;
    let r = app.call_anonymous(Method::GET, "/metrics", None).await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.content_type.starts_with("text/plain"), "{}", r.content_type);
    let line = r
        .text
        .lines()
        .find(|l| l.starts_with("http_requests_total") && l.contains("route=\"/api/v1/stations/{id}\""))
        .unwrap_or_else(|| panic!("no counter for the station route in:\n{}", r.text));
    assert!(line.contains("status=\"404\""), "{line}");
    assert!(!r.text.contains("987654"), "raw ids must not become labels");
    assert!(r.text.contains("http_request_duration_seconds_bucket"));
}

/// Substitutes every `{param}` of a path template with a numeric id.
fn concrete(path: &str) -> String {
    path.split('/').map(|seg| if seg.starts_with('{') { "999999" } else { seg }).collect::<Vec<_>>().join("/")
}

#[tokio::test]
async fn openapi_documents_every_route_and_every_documented_route_exists() {
    let app = app().await;
    let r = app.call_anonymous(Method::GET, "/api/openapi.json", None).await;
    assert_eq!(r.status, StatusCode::OK);
    let doc = r.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    let paths = doc["paths"].as_object().expect("paths");
    for expected in [
        "/healthz",
        "/readyz",
        "/metrics",
        "/api/openapi.json",
        "/api/v1/stations/nearby",
        "/api/v1/chains",
        "/api/v1/stations",
        "/api/v1/stations/{id}",
        "/api/v1/stations/{station_id}/nozzles",
        "/api/v1/tanks/{id}/retire",
        "/api/v1/stations/{station_id}/prices/{grade_id}",
    ] {
        assert!(paths.contains_key(expected), "{expected} missing from OpenAPI");
    }
    // Every documented operation is routed: the server never answers route_not_found or
    // method_not_allowed for it (a 404 for the missing id 999999 is fine).
    let mut operations = 0;
    for (path, item) in paths {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_none() {
                continue;
            }
            operations += 1;
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = (method != "get").then(|| json!({}));
            let r = app.call(m, &concrete(path), body.as_ref()).await;
            assert!(
                !matches!(r.code(), "route_not_found" | "method_not_allowed"),
                "{method} {path} is documented but not routed: {}",
                r.text
            );
            assert_ne!(r.status, StatusCode::INTERNAL_SERVER_ERROR, "{method} {path}: {}", r.text);
        }
    }
    assert!(operations >= 30, "only {operations} operations documented");
    // Admin operations declare the bearer scheme; the finder does not.
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(paths["/api/v1/stations"]["post"]["security"].is_array());
    assert!(paths["/api/v1/stations/nearby"]["get"].get("security").is_none());
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problems() {
    let app = app().await;
    let r = app.get("/api/v1/nope").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.content_type, "application/problem+json");
    assert_eq!(r.code(), "route_not_found");
    assert!(!r.body["title"].as_str().unwrap().is_ascii(), "title is zh-CN");
    let r = app.call(Method::DELETE, "/api/v1/stations", None).await;
    assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(r.code(), "method_not_allowed");
}

#[tokio::test]
async fn admin_api_needs_the_token() {
    let app = app().await;
    let r = app.call_anonymous(Method::GET, "/api/v1/stations", None).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.code(), "unauthorized");
    let r = app.call_anonymous(Method::POST, "/api/v1/chains", Some(&json!({"code": "X", "name": "x"}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Nothing was written by the refused call.
    assert_eq!(app.get("/api/v1/chains").await.body["total"], 0);
    // The driver's finder is public.
    let r = app.call_anonymous(Method::GET, "/api/v1/stations/nearby?lng=102.7&lat=25.0", None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
}

#[tokio::test]
async fn wrong_token_is_refused() {
    let app = app().await;
    let res = reqwest::Client::new()
        .get(format!("{}/api/v1/stations", app.base_url))
        .bearer_auth("test-admin-token-0123456780")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(res.headers()["www-authenticate"], "Bearer");
}

#[tokio::test]
async fn body_errors_are_named_problems() {
    let app = app().await;
    let r = app.call_raw(Method::POST, "/api/v1/chains", "application/json", "{\"code\": ").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert_eq!(r.code(), "malformed_json");
    let r = app.call_raw(Method::POST, "/api/v1/chains", "text/plain", "{}").await;
    assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(r.code(), "unsupported_media_type");
    let huge = format!("{{\"code\":\"A\",\"name\":\"{}\"}}", "x".repeat(2 * 1024 * 1024));
    let r = app.call_raw(Method::POST, "/api/v1/chains", "application/json", &huge).await;
    assert_eq!(r.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", &r.text[..r.text.len().min(300)]);
    let r = app.post("/api/v1/chains", json!({"code": 5, "name": "x"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!((r.code(), r.field()), ("validation_failed", "code"));
    let r = app.post("/api/v1/chains", json!({"code": "A", "name": "x", "colour": "red"})).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(r.field(), "colour");
    let r = app.post("/api/v1/chains", json!({"name": "x"})).await;
    assert_eq!((r.field(), r.body["errors"][0]["code"].as_str()), ("code", Some("field_required")));
    assert_eq!(app.get("/api/v1/chains").await.body["total"], 0, "nothing half-written");
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_security_headers() {
    let app = app().await;
    let res = reqwest::get(format!("{}/healthz", app.base_url)).await.unwrap();
    let h = res.headers();
    assert!(h.contains_key("x-request-id"));
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    // A caller's request id is propagated, so logs can be joined across services.
    let res = reqwest::Client::new()
        .get(format!("{}/healthz", app.base_url))
        .header("x-request-id", "trace-me-123")
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["x-request-id"], "trace-me-123");
}

#[tokio::test]
async fn chains_are_listed_sorted_and_paginated() {
    let app = app().await;
    for (code, name) in [("BBB", "乙"), ("AAA", "甲"), ("CCC", "丙")] {
        app.create("/api/v1/chains", json!({"code": code, "name": name})).await;
    }
    let r = app.get("/api/v1/chains?sort=-code&per_page=2").await;
    let codes: Vec<&str> = r.body["items"].as_array().unwrap().iter().map(|c| c["code"].as_str().unwrap()).collect();
    assert_eq!(codes, vec!["CCC", "BBB"]);
    assert_eq!((r.body["total"].as_u64(), r.body["per_page"].as_u64()), (Some(3), Some(2)));
    let r = app.get("/api/v1/chains?sort=-code&per_page=2&page=2").await;
    assert_eq!(r.body["items"][0]["code"], "AAA");
    let r = app.get("/api/v1/chains?sort=secret").await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "sort"));
    let r = app.get("/api/v1/chains?page=x").await;
    assert_eq!((r.status, r.field()), (StatusCode::UNPROCESSABLE_ENTITY, "page"));
    let r = app.get("/api/v1/chains?per_page=201").await;
    assert_eq!(r.field(), "per_page");
    let dup = app.post("/api/v1/chains", json!({"code": "aaa", "name": "重复"})).await;
    assert_eq!((dup.status, dup.code(), dup.field()), (StatusCode::CONFLICT, "duplicate", "code"));
    let _: Value = dup.body;
}
