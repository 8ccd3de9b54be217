"""Integrations: escalate in other frameworks' bots, and their logs as conversations.

Adapters, each behind its own extra and thin over :class:`~escalate.Session`:

* :mod:`escalate.integrations.langgraph` (``langgraph``): a node that observes an LLM
  agent's messages and a human step that hands the packet over with LangGraph's
  ``interrupt``;
* :mod:`escalate.integrations.rasa` (``rasa``): a custom action for the Rasa SDK;
* :mod:`escalate.integrations.botframework` (``botframework``): middleware for the Bot
  Framework SDK that sends ``handoff.initiate``.

Importers (:mod:`escalate.integrations.importers`) read Rasa tracker dumps, Bot Framework
transcripts, LangChain message lists and Intercom conversations.
"""
