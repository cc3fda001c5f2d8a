//! A tower layer on every Kubernetes client: the latency of each API request by verb, and
//! failures by class, read from the request line alone (no body, no resource names).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use http::{Method, Request, Response};

#[derive(Debug, Clone, Copy, Default)]
pub struct KubeMetricsLayer;

impl<S> tower::Layer<S> for KubeMetricsLayer {
    type Service = KubeMetrics<S>;
    fn layer(&self, inner: S) -> Self::Service {
        KubeMetrics { inner }
    }
}

#[derive(Debug, Clone)]
pub struct KubeMetrics<S> {
    inner: S,
}

impl<S, B, R> tower::Service<Request<B>> for KubeMetrics<S>
where
    S: tower::Service<Request<B>, Response = Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let verb = verb(req.method(), req.uri().path(), req.uri().query());
        let started = Instant::now();
        let sent = self.inner.call(req);
        Box::pin(async move {
            let result = sent.await;
            let error = match &result {
                Ok(resp) if resp.status().is_server_error() => Some("5xx"),
                Ok(resp) if resp.status().is_client_error() => Some("4xx"),
                Ok(_) => None,
                Err(_) => Some("transport"),
            };
            super::kube_request(verb, started.elapsed(), error);
            result
        })
    }
}

/// The Kubernetes verb of a request: `/api/v1/...` and `/apis/<group>/<version>/...` paths,
/// `namespaces/<ns>/` stripped, then one segment is a collection and two a named object.
fn verb(method: &Method, path: &str, query: Option<&str>) -> &'static str {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let rest: &[&str] = match segments.first() {
        Some(&"api") => segments.get(2..).unwrap_or_default(),
        Some(&"apis") => segments.get(3..).unwrap_or_default(),
        _ => return "other",
    };
    let rest = match rest {
        ["namespaces", _, tail @ ..] if !tail.is_empty() => tail,
        _ => rest,
    };
    let named = rest.len() >= 2;
    let watch = query.is_some_and(|q| q.split('&').any(|kv| kv == "watch=true" || kv == "watch=1"));
    match *method {
        Method::GET if watch => "watch",
        Method::GET if named => "get",
        Method::GET => "list",
        Method::POST => "create",
        Method::PUT => "update",
        Method::PATCH => "patch",
        Method::DELETE if named => "delete",
        Method::DELETE => "deletecollection",
        _ => "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_come_from_the_method_and_the_path_shape() {
        for (method, path, query, want) in [
            (Method::GET, "/api/v1/namespaces", None, "list"),
            (Method::GET, "/api/v1/namespaces/cart-dev", None, "get"),
            (
                Method::GET,
                "/api/v1/namespaces/cart-dev/pods",
                None,
                "list",
            ),
            (
                Method::GET,
                "/api/v1/namespaces/cart-dev/pods/p1/log",
                None,
                "get",
            ),
            (
                Method::GET,
                "/apis/apps/v1/namespaces/cart-dev/deployments/cart",
                None,
                "get",
            ),
            (
                Method::GET,
                "/apis/apps/v1/deployments",
                Some("watch=true"),
                "watch",
            ),
            (
                Method::PATCH,
                "/apis/apps/v1/namespaces/a/deployments/cart",
                None,
                "patch",
            ),
            (
                Method::POST,
                "/api/v1/namespaces",
                Some("dryRun=All"),
                "create",
            ),
            (
                Method::POST,
                "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews",
                None,
                "create",
            ),
            (
                Method::DELETE,
                "/api/v1/namespaces/a/pods",
                None,
                "deletecollection",
            ),
            (Method::GET, "/version", None, "other"),
        ] {
            assert_eq!(verb(&method, path, query), want, "{method} {path}");
        }
    }
}
