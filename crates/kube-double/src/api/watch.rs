//! Watches: `?watch=true` as newline-delimited events from the store's change feed.

use axum::body::Body;
use axum::body::Bytes;
use axum::http::header;
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::VecDeque;
use std::convert::Infallible;
use tokio::sync::broadcast;

use super::printing::table;
use super::{Incoming, Target};
use crate::Change;
use crate::KubeApiDouble;
use crate::objects::{ApiError, FieldSelector, LabelSelector, ResourceType, Store, meta_str};

/// What a `?watch=true` request selects.
pub(super) struct WatchSpec {
    res: &'static ResourceType,
    namespace: Option<String>,
    labels: LabelSelector,
    fields: FieldSelector,
    /// Send the current objects as ADDED first (no resourceVersion, or sendInitialEvents).
    initial: bool,
    /// Close with an initial-events-end bookmark after the initial events.
    bookmark: bool,
    /// `Some(includeObject)` when kubectl asked for Table output: each event carries a one-row Table.
    table: Option<Option<String>>,
    timeout: std::time::Duration,
}

impl WatchSpec {
    pub(super) fn new(target: &Target, req: &Incoming) -> Result<Self, ApiError> {
        let (labels, fields) = req.selectors(target.res)?;
        let send_initial = req.flag("sendInitialEvents");
        let seconds = req
            .param("timeoutSeconds")
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(1800);
        Ok(Self {
            res: target.res,
            namespace: target.namespace.clone(),
            labels,
            fields,
            initial: send_initial || matches!(req.param("resourceVersion"), None | Some("0")),
            bookmark: send_initial,
            table: req
                .wants_table()
                .then(|| req.param("includeObject").map(str::to_string)),
            timeout: std::time::Duration::from_secs(seconds.min(3600)),
        })
    }

    fn selects(&self, obj: &Value) -> bool {
        self.labels
            .matches(obj.pointer("/metadata/labels").and_then(Value::as_object))
            && self.fields.matches(obj)
    }

    fn covers(&self, change: &Change) -> bool {
        let same_kind = change.group == self.res.group && change.plural == self.res.plural;
        let same_ns = self.namespace.is_none() || change.namespace == self.namespace;
        same_kind && same_ns && self.selects(&change.object)
    }

    fn event(&self, kind: &str, object: &Value) -> Value {
        let object = match &self.table {
            None => object.clone(),
            Some(include) => {
                let rv = meta_str(object, "resourceVersion")
                    .unwrap_or_default()
                    .to_string();
                table(
                    self.res,
                    std::slice::from_ref(object),
                    rv,
                    include.as_deref(),
                )
            }
        };
        json!({ "type": kind, "object": object })
    }

    fn initial_events(&self, store: &Store) -> VecDeque<Value> {
        let mut events: VecDeque<Value> = VecDeque::new();
        if self.initial {
            let objects = store
                .objects(self.res, self.namespace.as_deref())
                .filter(|o| self.selects(o));
            events.extend(objects.map(|o| self.event("ADDED", o)));
        }
        if self.bookmark {
            let metadata = json!({ "resourceVersion": store.resource_version(), "annotations": { "k8s.io/initial-events-end": "true" } });
            let object = json!({ "kind": self.res.kind, "apiVersion": self.res.api_version(), "metadata": metadata });
            events.push_back(json!({ "type": "BOOKMARK", "object": object }));
        }
        events
    }
}

struct WatchStream {
    spec: WatchSpec,
    pending: VecDeque<Value>,
    changes: broadcast::Receiver<Change>,
    deadline: tokio::time::Instant,
}

/// Streams newline-delimited watch events until the timeout, or until the watcher falls too
/// far behind (it then gets an end of stream and, like with a real server, relists).
pub(super) fn watch(double: &KubeApiDouble, spec: WatchSpec) -> Response {
    // Subscribing under the store lock means no change falls between the snapshot and the stream.
    let (pending, changes) =
        double.with_store(|store| (spec.initial_events(store), double.subscribe()));
    let deadline = tokio::time::Instant::now() + spec.timeout;
    let state = WatchStream {
        spec,
        pending,
        changes,
        deadline,
    };
    let stream = futures::stream::unfold(state, |mut state| async move {
        let event = next_event(&mut state).await?;
        let mut line = event.to_string();
        line.push('\n');
        Some((Ok::<_, Infallible>(Bytes::from(line)), state))
    });
    let mut response = Response::new(Body::from_stream(stream));
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

async fn next_event(state: &mut WatchStream) -> Option<Value> {
    if let Some(event) = state.pending.pop_front() {
        return Some(event);
    }
    loop {
        let change = tokio::time::timeout_at(state.deadline, state.changes.recv())
            .await
            .ok()?
            .ok()?;
        if state.spec.covers(&change) {
            return Some(state.spec.event(change.kind, &change.object));
        }
    }
}
