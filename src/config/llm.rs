//! `[llm]`: the LLM planner's OpenAI-compatible endpoint and limits, and what the intent
//! classifier does for it. Without the section the alias planner answers alone.

use std::path::PathBuf;

use serde::Deserialize;

use super::{ConfigError, invalid, secret};

/// `[llm]`: an OpenAI-compatible chat completions endpoint for the LLM planner.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub(super) struct RawLlm {
    base_url: Option<String>,
    model: Option<String>,
    api_key_env: Option<String>,
    context_tokens: Option<usize>,
    timeout_secs: Option<f64>,
    max_steps: Option<usize>,
    temperature: Option<f32>,
    prompts_dir: Option<PathBuf>,
    breaker_failures: Option<u32>,
    breaker_cooldown_secs: Option<f64>,
    classifier: Option<ClassifierRole>,
    answers: Option<Answers>,
    warm_up: Option<bool>,
    few_shot: Option<usize>,
}

/// What the intent classifier (the planner without an LLM) does for the LLM planner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ClassifierRole {
    /// Confident readings go without the model (a read, a change to propose, a question
    /// for what is missing, not a platform request); the model decides the rest, told the
    /// likeliest tools, and a change the classifier does not see becomes a question.
    #[default]
    Route,
    /// Every message goes to the model, told the likeliest tools, with the same check
    /// on changes.
    Advise,
    /// The model alone (for measuring it).
    Off,
}

/// Who words the answer once a read has run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Answers {
    /// The model writes the answer from the reads' results (one more request per read).
    #[default]
    Model,
    /// The reads' own text is the answer, as without an LLM: the model is asked only to
    /// choose what the classifier does not settle. For small models on CPUs, where
    /// reading a tool's result back costs seconds per hundred tokens.
    Tools,
}

/// The LLM planner's endpoint and limits. Without `[llm]` the alias planner answers alone.
#[derive(Clone)]
pub struct LlmSettings {
    /// Up to and including the version path: `https://api.openai.com/v1`,
    /// `https://<resource>.openai.azure.com/openai/v1`, `http://localhost:11434/v1` (Ollama).
    pub base_url: String,
    pub model: String,
    /// The API key, read from the variable the config names; `None` for servers without one.
    pub api_key: Option<String>,
    pub api_key_env: Option<String>,
    /// The model's context window, in tokens; prompts are trimmed to fit it.
    pub context_tokens: usize,
    /// Per request, retries included; past it the turn falls back to the alias planner.
    pub timeout: std::time::Duration,
    /// Tool-calling rounds per message before the closing request (sent without tools).
    pub max_steps: usize,
    /// Sampling temperature; the server's default when unset.
    pub temperature: Option<f32>,
    /// `system.md`, `answer.md`, `docs-answer.md`; the built-in copies when the folder is missing.
    pub prompts_dir: PathBuf,
    /// Consecutive failed requests that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker sends every turn to the alias planner before trying again.
    pub breaker_cooldown: std::time::Duration,
    /// How the intent classifier's reading is used.
    pub classifier: ClassifierRole,
    /// Who words the answer to a read.
    pub answers: Answers,
    /// Send the system prompt and tools once at start, so that a server with a prompt cache
    /// (llama.cpp, vLLM) has the fixed prefix ready before the first user waits on it.
    pub warm_up: bool,
    /// Training examples most like the message shown with the classifier's hint (one per
    /// tool, at most this many; 0: none) when the model is consulted.
    pub few_shot: usize,
}

// By hand so that the key never reaches a log line.
impl std::fmt::Debug for LlmSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmSettings")
            .field("base_url", &self.base_url)
            .field("model", &self.model)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("api_key_env", &self.api_key_env)
            .field("context_tokens", &self.context_tokens)
            .field("timeout", &self.timeout)
            .field("max_steps", &self.max_steps)
            .field("temperature", &self.temperature)
            .field("prompts_dir", &self.prompts_dir)
            .field("breaker_failures", &self.breaker_failures)
            .field("breaker_cooldown", &self.breaker_cooldown)
            .field("classifier", &self.classifier)
            .field("answers", &self.answers)
            .field("warm_up", &self.warm_up)
            .field("few_shot", &self.few_shot)
            .finish()
    }
}

pub(super) fn llm_summary(llm: Option<&LlmSettings>) -> String {
    let Some(l) = llm else {
        return "off: the alias planner reads every message".to_owned();
    };
    format!(
        "model {} at {} (API key {}); context {} tokens, timeout {:?}, {} tool steps, classifier {:?}, answers by {:?}",
        l.model,
        l.base_url,
        l.api_key_env
            .as_ref()
            .map_or("none".to_owned(), |v| format!("from ${v}")),
        l.context_tokens,
        l.timeout,
        l.max_steps,
        l.classifier,
        l.answers
    )
}

pub(super) fn llm_settings(
    raw: RawLlm,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<LlmSettings, ConfigError> {
    let base_url = raw
        .base_url
        .map(|u| u.trim().trim_end_matches('/').to_owned())
        .filter(|u| !u.is_empty())
        .ok_or_else(|| invalid("llm.base_url", "is required when [llm] is present"))?;
    if !(base_url.starts_with("http://") || base_url.starts_with("https://")) {
        return Err(invalid(
            "llm.base_url",
            format!("`{base_url}`: must start with http:// or https://"),
        ));
    }
    let model = raw
        .model
        .map(|m| m.trim().to_owned())
        .filter(|m| !m.is_empty())
        .ok_or_else(|| invalid("llm.model", "is required when [llm] is present"))?;
    let api_key = match &raw.api_key_env {
        Some(var) => {
            let key = secret("llm.api_key_env", var, env)?.expose().to_owned();
            // The key goes into an HTTP header; refuse what a header cannot carry.
            if key.is_empty() || !key.chars().all(|c| c.is_ascii_graphic()) {
                return Err(invalid(
                    "llm.api_key_env",
                    format!("${var} is empty or holds characters an HTTP header cannot carry"),
                ));
            }
            Some(key)
        }
        None => None,
    };
    let context_tokens = raw.context_tokens.unwrap_or(8192);
    if !(1024..=2_000_000).contains(&context_tokens) {
        return Err(invalid(
            "llm.context_tokens",
            "must be between 1024 and 2000000",
        ));
    }
    let seconds = |field: &str, v: f64| {
        if v.is_finite() && v > 0.0 && v <= 3600.0 {
            Ok(std::time::Duration::from_secs_f64(v))
        } else {
            Err(invalid(
                field,
                "must be more than 0 and at most 3600 seconds",
            ))
        }
    };
    let timeout = seconds("llm.timeout_secs", raw.timeout_secs.unwrap_or(30.0))?;
    let breaker_cooldown = seconds(
        "llm.breaker_cooldown_secs",
        raw.breaker_cooldown_secs.unwrap_or(30.0),
    )?;
    let max_steps = raw.max_steps.unwrap_or(3);
    if !(1..=10).contains(&max_steps) {
        return Err(invalid("llm.max_steps", "must be between 1 and 10"));
    }
    if let Some(t) = raw.temperature
        && !(0.0..=2.0).contains(&t)
    {
        return Err(invalid("llm.temperature", "must be between 0 and 2"));
    }
    // Off by default: with Qwen2.5-Coder 1.5B it measured no better on fresh phrasings
    // (99 vs 97 of 102 without and with 3) and costs prompt tokens on every consulted message.
    let few_shot = raw.few_shot.unwrap_or(0);
    if few_shot > 8 {
        return Err(invalid(
            "llm.few_shot",
            "must be at most 8 (each example costs prompt tokens on every consulted message)",
        ));
    }
    let breaker_failures = raw.breaker_failures.unwrap_or(3);
    if breaker_failures == 0 {
        return Err(invalid("llm.breaker_failures", "must be at least 1"));
    }
    Ok(LlmSettings {
        base_url,
        model,
        api_key,
        api_key_env: raw.api_key_env,
        context_tokens,
        timeout,
        max_steps,
        temperature: raw.temperature,
        prompts_dir: raw.prompts_dir.unwrap_or_else(|| PathBuf::from("prompts")),
        breaker_failures,
        breaker_cooldown,
        classifier: raw.classifier.unwrap_or_default(),
        answers: raw.answers.unwrap_or_default(),
        warm_up: raw.warm_up.unwrap_or(true),
        few_shot,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::config::test_env::no_env;

    #[test]
    fn llm_is_off_without_a_section_and_validated_with_one() {
        assert!(Config::from_toml("", &no_env).unwrap().llm.is_none());
        let toml =
            "[llm]\nbase_url = \"http://127.0.0.1:8081/v1/\"\nmodel = \"qwen\"\ntimeout_secs = 5\n";
        let l = Config::from_toml(toml, &no_env).unwrap().llm.unwrap();
        assert_eq!(l.base_url, "http://127.0.0.1:8081/v1");
        assert_eq!(l.timeout, std::time::Duration::from_secs(5));
        assert_eq!((l.context_tokens, l.max_steps), (8192, 3));
        assert!(l.api_key.is_none());
        for (toml, field) in [
            ("[llm]\nmodel = \"m\"\n", "llm.base_url"),
            (
                "[llm]\nbase_url = \"ftp://x\"\nmodel = \"m\"\n",
                "llm.base_url",
            ),
            ("[llm]\nbase_url = \"http://x\"\n", "llm.model"),
            (
                "[llm]\nbase_url = \"http://x\"\nmodel = \"m\"\nmax_steps = 0\n",
                "llm.max_steps",
            ),
            (
                "[llm]\nbase_url = \"http://x\"\nmodel = \"m\"\ntimeout_secs = 0\n",
                "llm.timeout_secs",
            ),
            (
                "[llm]\nbase_url = \"http://x\"\nmodel = \"m\"\ncontext_tokens = 10\n",
                "llm.context_tokens",
            ),
            (
                "[llm]\nbase_url = \"http://x\"\nmodle = \"m\"\n",
                "unknown field",
            ),
        ] {
            let err = Config::from_toml(toml, &no_env).unwrap_err().to_string();
            assert!(err.contains(field), "{toml}: {err}");
        }
    }

    #[test]
    fn llm_key_comes_from_the_named_variable_and_is_never_printed() {
        let toml = "[llm]\nbase_url = \"https://api.example.com/v1\"\nmodel = \"m\"\napi_key_env = \"LLM_KEY\"\n";
        let err = Config::from_toml(toml, &no_env).unwrap_err();
        assert!(err.to_string().contains("LLM_KEY"), "{err}");
        let env = |k: &str| (k == "LLM_KEY").then(|| "sk-secret".to_owned());
        let c = Config::from_toml(toml, &env).unwrap();
        let l = c.llm.as_ref().unwrap();
        assert_eq!(l.api_key.as_deref(), Some("sk-secret"));
        assert!(!format!("{l:?}").contains("sk-secret"));
        assert!(!c.summary().contains("sk-secret"));
        assert!(c.summary().contains("from $LLM_KEY"), "{}", c.summary());
        let bad = |k: &str| (k == "LLM_KEY").then(|| "sk bad\n".to_owned());
        assert!(Config::from_toml(toml, &bad).is_err());
    }
}
