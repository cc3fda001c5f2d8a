//! Natural-language understanding without an LLM: an intent classifier trained at
//! start from the phrasings the platform team owns, in the spirit of Snips NLU and
//! Rasa's intent classifiers. [`corpus`] expands the example templates, [`features`]
//! turns a masked message into sparse features, [`train`] fits a multinomial logistic
//! regression deterministically, [`model`] predicts calibrated class probabilities,
//! [`nearest`] finds the examples most like a message (the LLM planner's few-shot hint).
//! The planner (`engine::alias`) masks catalog names and decides what to do with the
//! probabilities; slot values come from its catalog-aware filling.

pub mod corpus;
pub mod features;
pub mod model;
pub mod nearest;
pub mod train;

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::sync::{Arc, LazyLock, Mutex};

pub use corpus::{Corpus, CorpusError, NONE_LABEL, Part, Phrasing, SlotArg};
pub use features::{Slot, Token, Utterance};
pub use model::{Classifier, Prediction};
pub use nearest::{Nearest, Neighbour};
pub use train::{Example, TrainConfig, folds, train};

/// Models trained in this process, by a hash of their training set: every planner
/// built from the same tools and examples (the LLM's reader, tests) trains once.
static TRAINED: LazyLock<Mutex<HashMap<u64, Trained>>> =
    LazyLock::new(|| Mutex::new(HashMap::new()));
/// Distinct training sets kept; an unusual process (a test building many) stays small.
const CACHED_MODELS: usize = 8;

/// What is learnt from one training set.
#[derive(Debug, Clone)]
pub struct Trained {
    pub model: Arc<Classifier>,
    pub nearest: Arc<Nearest>,
}

/// The classifier for `examples` with the default [`TrainConfig`] and their nearest-example
/// index, and whether they were made now (`false`: taken from the process cache).
pub fn trained(labels: &[String], examples: &[Example]) -> (Trained, bool) {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut h);
    examples.hash(&mut h);
    let key = h.finish();
    let cache = || {
        TRAINED
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    };
    if let Some(done) = cache().get(&key) {
        return (done.clone(), false);
    }
    // Trained outside the lock: another planner of the same set may train meanwhile,
    // and gets the same weights (training is deterministic).
    let done = Trained {
        model: Arc::new(train(labels, examples, &TrainConfig::default())),
        nearest: Arc::new(Nearest::new(examples)),
    };
    let mut map = cache();
    if map.len() >= CACHED_MODELS {
        map.clear();
    }
    map.insert(key, done.clone());
    (done, true)
}
