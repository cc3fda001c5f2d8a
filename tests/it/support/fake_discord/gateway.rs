//! The fake's gateway half: HELLO, IDENTIFY -> READY, heartbeats, dispatches, drops, RESUME.

use super::*;

pub(super) async fn serve_gateway(listener: tokio::net::TcpListener, state: Arc<FakeState>) {
    while let Ok((stream, _)) = listener.accept().await {
        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
                return;
            };
            connection(ws, state).await;
        });
    }
}

async fn connection(
    ws: tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>,
    state: Arc<FakeState>,
) {
    let (mut write, mut read) = ws.split();
    let hello = json!({"op": 10, "d": {"heartbeat_interval": HEARTBEAT_MS}, "s": null, "t": null});
    if write
        .send(WsMessage::Text(hello.to_string().into()))
        .await
        .is_err()
    {
        return;
    }
    let (tx, mut rx) = mpsc::unbounded_channel::<Out>();
    {
        let mut gw = lock(&state.gateway);
        gw.connections += 1;
        gw.conn = Some(tx.clone());
    }
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(Out::Frame(frame)) => {
                    if write.send(WsMessage::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                // Dropping both halves closes the socket with no close frame.
                Some(Out::Drop) | None => return,
            },
            inc = read.next() => match inc {
                Some(Ok(WsMessage::Text(t))) => {
                    if let Ok(v) = serde_json::from_str::<Value>(&t) {
                        for frame in on_frame(&state, &v) {
                            let _ = tx.send(Out::Frame(frame));
                        }
                    }
                }
                Some(Ok(WsMessage::Ping(p))) => {
                    let _ = write.send(WsMessage::Pong(p)).await;
                }
                Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
        }
    }
}

/// What the gateway answers to a frame from the client.
fn on_frame(state: &FakeState, v: &Value) -> Vec<String> {
    let mut gw = lock(&state.gateway);
    match v["op"].as_u64() {
        Some(1) => {
            gw.heartbeats += 1;
            vec![json!({"op": 11, "d": null, "s": null, "t": null}).to_string()]
        }
        Some(2) => {
            gw.identifies.push(v["d"].clone());
            gw.session = format!("fake-session-{}", gw.identifies.len());
            gw.history.clear();
            gw.seq = 1;
            let ready = json!({"op": 0, "t": "READY", "s": 1,
                "d": payloads::ready(&gw.session, &lock(&state.ws_url))});
            vec![ready.to_string()]
        }
        Some(6) => {
            gw.resumes.push(v["d"].clone());
            if v["d"]["session_id"].as_str() != Some(gw.session.as_str()) {
                return vec![json!({"op": 9, "d": false, "s": null, "t": null}).to_string()];
            }
            let from = v["d"]["seq"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(gw.replay_overlap);
            let mut out: Vec<String> = gw
                .history
                .iter()
                .filter(|(s, _)| *s > from)
                .map(|(_, f)| f.clone())
                .collect();
            gw.seq += 1;
            out.push(json!({"op": 0, "t": "RESUMED", "s": gw.seq, "d": {}}).to_string());
            out
        }
        _ => Vec::new(),
    }
}
