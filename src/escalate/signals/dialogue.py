"""Dialogue signals: what the turns alone say about how the conversation is going."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["DialogueConfig"]


class DialogueConfig(BaseModel):
    """How a policy recognises fallbacks, re-prompts, negations and requests for a human.

    Intents and events are matched case-insensitively and exactly; phrases are matched
    case-insensitively as substrings of the message text.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    fallback_events: list[str] = Field(
        default_factory=lambda: ["fallback", "no_match", "no_input", "nlu_fallback"]
    )
    fallback_intents: list[str] = Field(
        default_factory=lambda: ["fallback", "default_fallback", "did_not_understand", "nlu_fallback"]
    )
    fallback_phrases: list[str] = Field(
        default_factory=lambda: [
            "sorry, i didn't understand",
            "sorry, i did not understand",
            "i didn't get that",
            "i'm not sure i understand",
            "could you rephrase",
            "can you rephrase",
            "i'm sorry, i don't understand",
        ]
    )
    reprompt_intents: list[str] = Field(default_factory=lambda: ["rephrase", "reprompt", "repeat_question"])
    negation_intents: list[str] = Field(default_factory=lambda: ["negate", "deny", "correction"])
    negation_phrases: list[str] = Field(
        default_factory=lambda: [
            "that's not what i",
            "that is not what i",
            "not what i asked",
            "not what i meant",
            "that's wrong",
            "that is wrong",
            "you're wrong",
            "no, i said",
            "no i said",
            "i already said",
            "i already told you",
            "you don't understand",
            "you do not understand",
        ]
    )
    human_request_intents: list[str] = Field(
        default_factory=lambda: ["transfer_agent", "contact_human_agent", "human_handoff", "agent_request"]
    )
    human_request_phrases: list[str] = Field(
        default_factory=lambda: [
            "human",
            "real person",
            "live agent",
            "an agent",
            "to an agent",
            "representative",
            "speak to someone",
            "talk to someone",
            "speak to a person",
            "talk to a person",
            "manager",
            "supervisor",
            "operator",
        ]
    )
    repeat_similarity: float = Field(default=0.85, gt=0.0, le=1.0)
