//! Chat messages to and from the model: building requests, reading answers, and a
//! call a small model wrote as text.

use async_openai::types::chat::{
    ChatCompletionMessageToolCall, ChatCompletionMessageToolCalls,
    ChatCompletionRequestAssistantMessage, ChatCompletionRequestAssistantMessageContent,
    ChatCompletionRequestMessage, ChatCompletionRequestSystemMessage,
    ChatCompletionRequestSystemMessageContent, ChatCompletionRequestToolMessage,
    ChatCompletionRequestToolMessageContent, ChatCompletionRequestUserMessage,
    ChatCompletionRequestUserMessageContent, ChatCompletionResponseMessage, FunctionCall,
};
use serde_json::Value;

use super::{AgentOutcome, LlmError, Predicted, ReadDone, ToolBox};
use crate::engine::intent::Intent;

/// The reads' own output as the answer, when the model failed after running them.
pub(super) fn raw_answer(reads: Vec<ReadDone>, errors: &[String], e: &LlmError) -> AgentOutcome {
    tools_answer(
        reads,
        errors,
        Some(format!(
            "({e}; this is the tools' output without a summary.)"
        )),
    )
}

/// The reads' own text as the answer, any tool errors after it.
pub(super) fn tools_answer(
    reads: Vec<ReadDone>,
    errors: &[String],
    note: Option<String>,
) -> AgentOutcome {
    let mut parts: Vec<String> = reads.iter().map(|r| r.output.text.clone()).collect();
    parts.extend(errors.iter().cloned());
    AgentOutcome::Answer {
        text: parts.join("\n\n"),
        reads,
        note,
    }
}

/// A text answer as the eval scores it: a question back, or nothing to do.
pub(super) fn text_intent(text: &str) -> Predicted {
    if text.contains('?') {
        Predicted::Question(text.to_owned())
    } else {
        Intent::NotPlatform {
            reply: text.to_owned(),
        }
        .into()
    }
}

/// The answer's text without a reasoning model's `<think>` block.
pub(super) fn answer_text(msg: &ChatCompletionResponseMessage) -> String {
    let text = msg
        .content
        .as_deref()
        .or(msg.refusal.as_deref())
        .unwrap_or_default();
    let text = match (text.find("<think>"), text.find("</think>")) {
        (Some(a), Some(b)) if a < b => format!("{}{}", &text[..a], &text[b + "</think>".len()..]),
        _ => text.to_owned(),
    };
    text.trim().to_owned()
}

/// `{"name": "<tool>", "arguments": {...}}` written in the text instead of a tool call.
pub(super) fn salvage_call(text: &str, tools: &ToolBox) -> Option<ChatCompletionMessageToolCall> {
    let start = text.find('{')?;
    let value: Value = serde_json::Deserializer::from_str(&text[start..])
        .into_iter::<Value>()
        .next()?
        .ok()?;
    let name = value.get("name")?.as_str()?;
    if !tools.is_known(name) {
        return None;
    }
    let arguments = match value.get("arguments").or_else(|| value.get("parameters")) {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "{}".to_owned(),
    };
    Some(ChatCompletionMessageToolCall {
        id: format!("call_{}", uuid::Uuid::new_v4().simple()),
        function: FunctionCall {
            name: name.to_owned(),
            arguments,
        },
    })
}

pub(super) fn system_message(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::System(ChatCompletionRequestSystemMessage {
        content: ChatCompletionRequestSystemMessageContent::Text(text),
        name: None,
    })
}

pub(super) fn user_message(text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::User(ChatCompletionRequestUserMessage {
        content: ChatCompletionRequestUserMessageContent::Text(text),
        name: None,
    })
}

/// The model's tool-calling message, echoed back so the tool results have their calls.
pub(super) fn assistant_with_calls(
    msg: &ChatCompletionResponseMessage,
    calls: &[ChatCompletionMessageToolCall],
) -> ChatCompletionRequestMessage {
    let content = msg
        .content
        .as_ref()
        .filter(|_| msg.tool_calls.is_some())
        .map(|t| ChatCompletionRequestAssistantMessageContent::Text(t.clone()));
    ChatCompletionRequestMessage::Assistant(ChatCompletionRequestAssistantMessage {
        content,
        tool_calls: Some(
            calls
                .iter()
                .cloned()
                .map(ChatCompletionMessageToolCalls::Function)
                .collect(),
        ),
        ..ChatCompletionRequestAssistantMessage::default()
    })
}

pub(super) fn tool_message(id: &str, text: String) -> ChatCompletionRequestMessage {
    ChatCompletionRequestMessage::Tool(ChatCompletionRequestToolMessage {
        content: ChatCompletionRequestToolMessageContent::Text(text),
        tool_call_id: id.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::actions::spec::all_tools;
    use crate::engine::alias::AliasTable;

    fn message(content: &str) -> ChatCompletionResponseMessage {
        ChatCompletionResponseMessage {
            content: Some(content.to_owned()),
            ..ChatCompletionResponseMessage::default()
        }
    }

    #[test]
    fn a_call_written_as_text_is_salvaged_only_for_known_tools() {
        let tools = ToolBox::new(all_tools(), &AliasTable::builtin());
        let text = "```json\n{\"name\": \"deployment_status\", \"arguments\": {\"service\": \"cart\"}}\n```";
        let call = salvage_call(text, &tools).unwrap();
        assert_eq!(call.function.name, "deployment_status");
        assert_eq!(call.function.arguments, r#"{"service":"cart"}"#);
        assert!(salvage_call(r#"{"name": "rm_rf", "arguments": {}}"#, &tools).is_none());
        assert!(salvage_call("cart is {fine}", &tools).is_none());
    }

    #[test]
    fn reasoning_is_not_part_of_the_answer() {
        let m = message("<think>the user wants status</think>\ncart is fine");
        assert_eq!(answer_text(&m), "cart is fine");
    }

    #[test]
    fn a_text_answer_is_a_question_or_nothing_to_do() {
        assert!(matches!(
            text_intent("Which environment: dev, staging or prod?"),
            Predicted::Question(_)
        ));
        assert!(matches!(
            text_intent("Hello! I help with the platform."),
            Predicted::Intent(Intent::NotPlatform { .. })
        ));
    }
}
