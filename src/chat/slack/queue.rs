//! One queue per thread: messages of a Slack thread are answered in the order they
//! arrived, different threads concurrently.
//!
//! The HTTP handler (or Socket Mode callback) pushes work here before it acknowledges
//! Slack, so arrival order is queue order; a worker per busy thread drains its queue and
//! exits when it is empty. A job that panics is contained in its own task and does not
//! stall the thread's later messages.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::chat::ConversationKey;

type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
type Queues = Arc<Mutex<HashMap<ConversationKey, mpsc::UnboundedSender<Job>>>>;

#[derive(Default, Clone)]
pub struct ThreadQueues {
    queues: Queues,
}

fn lock(
    queues: &Queues,
) -> std::sync::MutexGuard<'_, HashMap<ConversationKey, mpsc::UnboundedSender<Job>>> {
    queues
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ThreadQueues {
    /// Queues `job` behind the thread's earlier work. Never blocks.
    pub fn push(&self, key: ConversationKey, job: impl Future<Output = ()> + Send + 'static) {
        let job: Job = Box::pin(job);
        let mut queues = lock(&self.queues);
        let job = match queues.get(&key) {
            Some(tx) => match tx.send(job) {
                Ok(()) => return,
                // The worker is gone (it should have removed itself); start another.
                Err(mpsc::error::SendError(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::unbounded_channel();
        // A fresh channel with its receiver alive: this send cannot fail.
        let _ = tx.send(job);
        queues.insert(key.clone(), tx);
        tokio::spawn(drain(Arc::clone(&self.queues), key, rx));
    }

    /// Threads with queued or running work (for tests and diagnostics).
    pub fn busy(&self) -> usize {
        lock(&self.queues).len()
    }
}

async fn drain(queues: Queues, key: ConversationKey, mut rx: mpsc::UnboundedReceiver<Job>) {
    loop {
        let job = match rx.try_recv() {
            Ok(job) => job,
            Err(_) => {
                // Producers push while holding the map lock, so checking again under it
                // decides for sure whether anything is left before the worker leaves.
                let mut map = lock(&queues);
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => {
                        map.remove(&key);
                        return;
                    }
                }
            }
        };
        if let Err(e) = tokio::spawn(job).await {
            tracing::error!(conversation = %key, error = %e, "Slack job panicked; the thread goes on");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::Surface;
    use std::time::Duration;

    #[tokio::test]
    async fn one_thread_in_order_others_concurrently() {
        let queues = ThreadQueues::default();
        let log = Arc::new(Mutex::new(Vec::new()));
        let a = ConversationKey::new(Surface::Slack, "C1", "1.0");
        let b = ConversationKey::new(Surface::Slack, "C1", "2.0");
        for i in 0..5u64 {
            let log = Arc::clone(&log);
            // Later jobs are quicker: only the queue keeps them in order.
            queues.push(a.clone(), async move {
                tokio::time::sleep(Duration::from_millis(50 - i * 10)).await;
                log.lock().unwrap().push(format!("a{i}"));
            });
        }
        let log_b = Arc::clone(&log);
        queues.push(b, async move {
            log_b.lock().unwrap().push("b".to_owned());
        });
        queues.push(a.clone(), async { panic!("a job that panics") });
        let log_after = Arc::clone(&log);
        queues.push(a, async move {
            log_after.lock().unwrap().push("after".to_owned());
        });
        for _ in 0..100 {
            if queues.busy() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let log = log.lock().unwrap().clone();
        assert_eq!(log[0], "b", "the other thread did not wait: {log:?}");
        assert_eq!(&log[1..], ["a0", "a1", "a2", "a3", "a4", "after"]);
        assert_eq!(queues.busy(), 0);
    }
}
