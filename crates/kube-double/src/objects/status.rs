//! `Status` bodies: failed API calls rendered exactly like the API server's, with their
//! field-level causes.

use serde_json::{Value, json};

use super::table::{RESOURCES, ResourceType, qualify};

/// A failed API call, rendered exactly like the API server's `Status` body.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ApiError {
    code: u16,
    reason: &'static str,
    message: String,
    details: Value,
}

impl ApiError {
    pub(super) fn new(code: u16, reason: &'static str, message: String, details: Value) -> Self {
        Self {
            code,
            reason,
            message,
            details,
        }
    }

    /// HTTP status code (404, 409, 422, ...).
    pub fn code(&self) -> u16 {
        self.code
    }

    /// Machine-readable reason (`NotFound`, `AlreadyExists`, `Conflict`, `Invalid`, ...).
    pub fn reason(&self) -> &str {
        self.reason
    }

    /// Human-readable message, as the API server words it.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The `Status` object the API server sends for this failure.
    pub fn to_status(&self) -> Value {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if !self.details.is_null() {
            status["details"] = self.details.clone();
        }
        status
    }

    pub(crate) fn not_found(res: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" not found", res.group_resource());
        Self::new(404, "NotFound", message, resource_details(res, name))
    }

    pub(crate) fn namespace_not_found(namespace: &str) -> Self {
        Self::not_found(namespaces(), namespace)
    }

    pub(crate) fn already_exists(res: &ResourceType, name: &str) -> Self {
        let message = format!("{} \"{name}\" already exists", res.group_resource());
        Self::new(409, "AlreadyExists", message, resource_details(res, name))
    }

    pub(crate) fn conflict(res: &ResourceType, name: &str, why: &str) -> Self {
        let message = format!(
            "Operation cannot be fulfilled on {} \"{name}\": {why}",
            res.group_resource()
        );
        Self::new(409, "Conflict", message, resource_details(res, name))
    }

    pub(crate) fn invalid(res: &ResourceType, name: &str, errors: &[FieldError]) -> Self {
        let summary = match errors {
            [one] => one.to_string(),
            many => format!(
                "[{}]",
                many.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let message = format!("{} \"{name}\" is invalid: {summary}", res.group_kind());
        let mut details = json!({ "name": name, "kind": res.kind, "causes": errors.iter().map(FieldError::cause).collect::<Vec<_>>() });
        if !res.group.is_empty() {
            details["group"] = json!(res.group);
        }
        Self::new(422, "Invalid", message, details)
    }

    pub(crate) fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "BadRequest", message.into(), Value::Null)
    }

    pub(crate) fn method_not_allowed() -> Self {
        let message = "the server does not allow this method on the requested resource".to_string();
        Self::new(405, "MethodNotAllowed", message, json!({}))
    }

    /// The generic 404 for paths that name no known resource.
    pub(crate) fn path_not_found() -> Self {
        Self::new(
            404,
            "NotFound",
            "the server could not find the requested resource".to_string(),
            json!({}),
        )
    }

    pub(crate) fn unsupported_media_type(content_type: &str) -> Self {
        let message = format!(
            "the body of the request was in an unknown format ({content_type}) - accepted media types include: \
             application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, \
             application/strategic-merge-patch+json"
        );
        Self::new(415, "UnsupportedMediaType", message, Value::Null)
    }

    /// RBAC said no: `deployments.apps "cart" is forbidden: User "u" cannot patch ...`.
    pub(crate) fn forbidden(group: &str, resource: &str, name: Option<&str>, why: &str) -> Self {
        let what = qualify(resource, group);
        let message = match name {
            Some(name) => format!("{what} \"{name}\" is forbidden: {why}"),
            None => format!("{what} is forbidden: {why}"),
        };
        let mut details = json!({ "kind": resource });
        if let Some(name) = name {
            details["name"] = json!(name);
        }
        if !group.is_empty() {
            details["group"] = json!(group);
        }
        Self::new(403, "Forbidden", message, details)
    }

    /// A SelfSubjectAccessReview the API server would not accept.
    pub(crate) fn invalid_review(why: &str) -> Self {
        let message =
            format!("SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: {why}");
        let details = json!({ "group": "authorization.k8s.io", "kind": "SelfSubjectAccessReview" });
        Self::new(422, "Invalid", message, details)
    }

    /// A patch that is well-formed but cannot be applied (RFC 6902 `test` failed, missing path).
    pub(crate) fn unprocessable(message: impl Into<String>) -> Self {
        Self::new(422, "Invalid", message.into(), json!({}))
    }
}

fn resource_details(res: &ResourceType, name: &str) -> Value {
    let mut details = json!({ "name": name, "kind": res.plural });
    if !res.group.is_empty() {
        details["group"] = json!(res.group);
    }
    details
}

pub(super) fn namespaces() -> &'static ResourceType {
    &RESOURCES[0]
}

/// One field-level validation failure (a `causes[]` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FieldError {
    field: String,
    reason: &'static str,
    message: String,
}

impl FieldError {
    pub(super) fn invalid(field: impl Into<String>, value: &str, detail: &str) -> Self {
        let message = format!("Invalid value: {value}: {detail}");
        Self {
            field: field.into(),
            reason: "FieldValueInvalid",
            message,
        }
    }

    pub(super) fn required(field: impl Into<String>, detail: &str) -> Self {
        let message = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Self {
            field: field.into(),
            reason: "FieldValueRequired",
            message,
        }
    }

    pub(super) fn unsupported(field: impl Into<String>, value: &str, supported: &[&str]) -> Self {
        let list = supported
            .iter()
            .map(|s| format!("\"{s}\""))
            .collect::<Vec<_>>()
            .join(", ");
        let message = format!("Unsupported value: \"{value}\": supported values: {list}");
        Self {
            field: field.into(),
            reason: "FieldValueNotSupported",
            message,
        }
    }

    pub(super) fn cause(&self) -> Value {
        json!({ "reason": self.reason, "message": self.message, "field": self.field })
    }
}

impl std::fmt::Display for FieldError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}
