//! One queue per thread: messages of a chat thread (Slack, Discord) are answered in the order they
//! arrived, different threads concurrently.
//!
//! The transport (an HTTP handler, a websocket callback) pushes work here before it acknowledges
//! the provider, so arrival order is queue order; a worker per busy thread drains its queue and
//! exits when it is empty. A job that panics is contained in its own task and does not
//! stall the thread's later messages. A thread holds at most [`MAX_QUEUED`] messages waiting:
//! a flood in one thread gets a "wait" instead of growing memory without bound.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::chat::ConversationKey;

type Job = Pin<Box<dyn Future<Output = ()> + Send + 'static>>;
type Queues = Arc<Mutex<HashMap<ConversationKey, mpsc::Sender<Job>>>>;

/// Messages one thread may have waiting behind the one being answered.
pub const MAX_QUEUED: usize = 16;

/// The thread already has [`MAX_QUEUED`] messages waiting; the job was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QueueFull;

#[derive(Default, Clone)]
pub struct ThreadQueues {
    queues: Queues,
}

fn lock(queues: &Queues) -> std::sync::MutexGuard<'_, HashMap<ConversationKey, mpsc::Sender<Job>>> {
    queues
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl ThreadQueues {
    /// Queues `job` behind the thread's earlier work. Never blocks; refuses when the thread
    /// already has [`MAX_QUEUED`] jobs waiting.
    pub fn push(
        &self,
        key: ConversationKey,
        job: impl Future<Output = ()> + Send + 'static,
    ) -> Result<(), QueueFull> {
        let job: Job = Box::pin(job);
        let mut queues = lock(&self.queues);
        let job = match queues.get(&key) {
            Some(tx) => match tx.try_send(job) {
                Ok(()) => return Ok(()),
                Err(mpsc::error::TrySendError::Full(_)) => return Err(QueueFull),
                // The worker is gone (it should have removed itself); start another.
                Err(mpsc::error::TrySendError::Closed(job)) => job,
            },
            None => job,
        };
        let (tx, rx) = mpsc::channel(MAX_QUEUED);
        // A fresh channel with room and its receiver alive: this send cannot fail.
        let _ = tx.try_send(job);
        queues.insert(key.clone(), tx);
        tokio::spawn(drain(Arc::clone(&self.queues), key, rx));
        Ok(())
    }

    /// Threads with queued or running work (for tests and diagnostics).
    pub fn busy(&self) -> usize {
        lock(&self.queues).len()
    }
}

async fn drain(queues: Queues, key: ConversationKey, mut rx: mpsc::Receiver<Job>) {
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
            tracing::error!(conversation = %key, error = %e, "chat job panicked; the thread goes on");
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
            queues
                .push(a.clone(), async move {
                    tokio::time::sleep(Duration::from_millis(50 - i * 10)).await;
                    log.lock().unwrap().push(format!("a{i}"));
                })
                .unwrap();
        }
        let log_b = Arc::clone(&log);
        queues
            .push(b, async move {
                log_b.lock().unwrap().push("b".to_owned());
            })
            .unwrap();
        queues
            .push(a.clone(), async { panic!("a job that panics") })
            .unwrap();
        let log_after = Arc::clone(&log);
        queues
            .push(a, async move {
                log_after.lock().unwrap().push("after".to_owned());
            })
            .unwrap();
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

    #[tokio::test]
    async fn a_flooded_thread_refuses_more_and_recovers() {
        let queues = ThreadQueues::default();
        let a = ConversationKey::new(Surface::Slack, "C1", "1.0");
        let (release, wait) = tokio::sync::oneshot::channel::<()>();
        // The first job runs and blocks; the next MAX_QUEUED wait; one more is refused.
        queues
            .push(a.clone(), async move {
                let _ = wait.await;
            })
            .unwrap();
        tokio::time::sleep(Duration::from_millis(20)).await;
        for _ in 0..MAX_QUEUED {
            queues.push(a.clone(), async {}).unwrap();
        }
        assert_eq!(queues.push(a.clone(), async {}), Err(QueueFull));
        // Another thread is not affected.
        let b = ConversationKey::new(Surface::Slack, "C1", "2.0");
        assert!(queues.push(b, async {}).is_ok());
        let _ = release.send(());
        for _ in 0..100 {
            if queues.busy() == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(queues.push(a, async {}).is_ok());
    }
}
