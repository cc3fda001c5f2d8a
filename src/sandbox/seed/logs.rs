//! Pod logs: a healthy service's chatter and what each failure prints.

use super::*;

pub(super) fn stamp(now: Timestamp, seconds_ago: i64) -> String {
    (now - SignedDuration::from_secs(seconds_ago))
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

pub(super) fn healthy_log(service: &Service, tag: &str, now: Timestamp) -> String {
    let t = |s: i64| stamp(now, s);
    let name = service.name;
    let lines = match service.lang {
        Lang::Go => vec![
            format!(
                r#"{{"level":"info","ts":"{}","msg":"starting","service":"{name}","version":"{tag}"}}"#,
                t(3600)
            ),
            format!(
                r#"{{"level":"info","ts":"{}","msg":"listening","addr":":8080"}}"#,
                t(3599)
            ),
            format!(
                r#"{{"level":"info","ts":"{}","msg":"request","method":"GET","path":"/v1/health","status":200,"duration_ms":1.2}}"#,
                t(60)
            ),
            format!(
                r#"{{"level":"info","ts":"{}","msg":"request","method":"POST","path":"/v1/{name}","status":200,"duration_ms":18.4}}"#,
                t(12)
            ),
        ],
        Lang::Java | Lang::Kotlin => vec![
            format!(
                "{} INFO  [main] c.l.{}.Application : Starting Application using Java 21.0.5",
                t(3600),
                name.replace('-', "")
            ),
            format!(
                "{} INFO  [main] o.s.b.w.e.netty.NettyWebServer : Netty started on port 8080 (http)",
                t(3590)
            ),
            format!(
                "{} INFO  [main] c.l.{}.Application : Started Application in 9.8 seconds",
                t(3590),
                name.replace('-', "")
            ),
            format!(
                "{} INFO  [reactor-http-epoll-2] c.l.common.AccessLog : POST /v1/{name} 200 23ms",
                t(9)
            ),
        ],
        Lang::Python => vec![
            format!("{} INFO     Started server process [1]", t(3600)),
            format!("{} INFO     Waiting for application startup.", t(3600)),
            format!(
                "{} INFO     Uvicorn running on http://0.0.0.0:8080 (Press CTRL+C to quit)",
                t(3598)
            ),
            format!(
                "{} INFO     10.244.2.1:51234 - \"GET /readyz HTTP/1.1\" 200",
                t(5)
            ),
        ],
        Lang::Node => vec![
            format!(
                r#"{{"level":30,"time":"{}","pid":1,"msg":"{name} listening on :8080"}}"#,
                t(3600)
            ),
            format!(
                r#"{{"level":30,"time":"{}","pid":1,"msg":"request completed","req":{{"method":"GET","url":"/readyz"}},"res":{{"statusCode":200}},"responseTime":2}}"#,
                t(30)
            ),
            format!(
                r#"{{"level":30,"time":"{}","pid":1,"msg":"request completed","req":{{"method":"POST","url":"/v1/{name}"}},"res":{{"statusCode":200}},"responseTime":41}}"#,
                t(7)
            ),
        ],
    };
    lines.join("\n") + "\n"
}

pub(super) fn crash_log(now: Timestamp) -> String {
    let t = stamp(now, 150);
    [
        format!(r#"{{"level":"info","ts":"{t}","msg":"starting","service":"search","version":"v2.8.1"}}"#),
        format!(r#"{{"level":"info","ts":"{t}","msg":"loading config","source":"env"}}"#),
        "panic: config: required environment variable SEARCH_OPENSEARCH_URL is not set".to_string(),
        String::new(),
        "goroutine 1 [running]:".to_string(),
        "github.com/larkspur-goods/search/internal/config.MustLoad()".to_string(),
        "\t/src/internal/config/config.go:58 +0x2f4".to_string(),
        "main.main()".to_string(),
        "\t/src/cmd/search/main.go:31 +0x45".to_string(),
    ]
    .join("\n")
        + "\n"
}

pub(super) fn oom_log(now: Timestamp) -> String {
    let t = |s: i64| stamp(now, s);
    [
        format!(r#"{{"level":30,"time":"{}","pid":1,"msg":"notifications listening on :8080"}}"#, t(1860)),
        format!(r#"{{"level":40,"time":"{}","pid":1,"msg":"push batch queue growing","queued":18211,"heapUsedMB":171}}"#, t(600)),
        format!(r#"{{"level":40,"time":"{}","pid":1,"msg":"push batch queue growing","queued":52870,"heapUsedMB":224}}"#, t(300)),
        format!(r#"{{"level":40,"time":"{}","pid":1,"msg":"push batch queue growing","queued":77104,"heapUsedMB":249}}"#, t(245)),
    ]
    .join("\n")
        + "\n"
}

pub(super) fn stalled_log(now: Timestamp) -> String {
    let t = |s: i64| stamp(now, s);
    [
        format!("{} INFO     Started server process [1]", t(7100)),
        format!(
            "{} INFO     Loading embeddings model v7 from /models/embeddings-v7",
            t(7099)
        ),
        format!(
            "{} WARNING  feature-store lookup failed: timeout after 2.0s; retrying",
            t(7000)
        ),
        format!(
            "{} WARNING  readiness: model warm-up incomplete (0/12 shards loaded)",
            t(60)
        ),
        format!(
            "{} INFO     10.244.3.1:40112 - \"GET /readyz HTTP/1.1\" 503",
            t(5)
        ),
    ]
    .join("\n")
        + "\n"
}
