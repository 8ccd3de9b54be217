"""Escalation policies: YAML rules and guards, validated and compiled at load time.

Examples
--------
>>> from escalate.policy import parse_policy
>>> policy = parse_policy('''
... version: 1
... rules:
...   - id: bot-stuck
...     when: dialogue.consecutive_fallbacks >= 2
...     then: {action: offer_human}
... ''')
>>> policy.evaluate({"dialogue.consecutive_fallbacks": 2}).action
'offer_human'
"""

from escalate.policy.loader import (
    CompiledRule,
    Policy,
    RuleMatch,
    load_policy,
    parse_policy,
    shipped_policies,
)

__all__ = [
    "CompiledRule",
    "Policy",
    "RuleMatch",
    "load_policy",
    "parse_policy",
    "shipped_policies",
]
