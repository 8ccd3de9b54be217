"""The conversation explorer of the replay report: why did this one escalate, and that one not?

:class:`ExplorerWriter` writes, beside the report's ``index.html``, a page
(``conversations.html``) that lists every replayed conversation, filterable by rule, by
outcome against the label (true positive, false positive, false negative, true negative)
and by text, and opens each one: its transcript, the decision at each user turn with the
rule and its reasons, the label, and a small chart of its key signals over the turns
with the decision turn marked.

The folder opens from disk, with no server and no network. It stays fast for 100,000
conversations and more: the list is one compact script (``data/index.js``) paged in the
page, and each conversation's details load on demand from a shard of a few hundred
(``data/conv-*.js``); the text that search reads loads on the first search
(``data/text-*.js``). Shards are scripts that hand their data to the page, since a page
opened from disk may not ``fetch`` files. Writing streams: shards are written as they
fill, and only the list stays in memory.
"""

from escalate.replay.explorer.writer import ExplorerWriter, conversation_record, write_explorer

__all__ = ["ExplorerWriter", "conversation_record", "write_explorer"]
