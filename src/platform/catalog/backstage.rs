//! The catalog from a Backstage backend: `GET /api/catalog/entities` filtered to the kinds
//! platbot models (Group, User, Component), paged with `limit`/`offset`, bearer token.

use serde_json::Value;

use super::{Catalog, CatalogError};
use crate::config::BackstageSettings;
use crate::platform::http::ApiClient;

const PAGE_SIZE: usize = 500;
/// Pages read at most (250 000 entities): a bound, not an expectation.
const MAX_PAGES: usize = 500;

/// `{"error": {"name": "NotAllowedError", "message": "..."}, "response": {"statusCode": 401}}`.
fn error_message(v: &Value) -> Option<String> {
    let e = v.get("error")?;
    let message = e.get("message").and_then(Value::as_str)?;
    Some(match e.get("name").and_then(Value::as_str) {
        Some(name) => format!("{name}: {message}"),
        None => message.to_owned(),
    })
}

/// Every Group, User and Component entity the backend has.
pub async fn fetch_backstage(
    settings: &BackstageSettings,
    timeout: std::time::Duration,
) -> Result<Catalog, CatalogError> {
    let auth = settings
        .token
        .as_ref()
        .map(|t| format!("Bearer {}", t.expose()));
    let api = ApiClient::new(
        "Backstage",
        &settings.url,
        auth.as_deref(),
        &[],
        timeout,
        error_message,
    )
    .map_err(|e| CatalogError::Backstage(e.to_string()))?;
    let mut entities = Vec::new();
    for page in 0..MAX_PAGES {
        // Several `filter` parameters are OR-ed by the catalog API.
        let query = [
            ("filter", "kind=group".to_owned()),
            ("filter", "kind=user".to_owned()),
            ("filter", "kind=component".to_owned()),
            ("limit", PAGE_SIZE.to_string()),
            ("offset", (page * PAGE_SIZE).to_string()),
        ];
        let batch: Vec<Value> = api
            .get_json(&["api", "catalog", "entities"], &query, "catalog endpoint")
            .await
            .map_err(|e| CatalogError::Backstage(e.to_string()))?;
        let last = batch.len() < PAGE_SIZE;
        entities.extend(batch);
        if last {
            break;
        }
    }
    let origin = format!("{}/api/catalog/entities", settings.url);
    Catalog::from_json_entities(entities, &origin)
}
