"""The knowledge base's limits, in one place (the API, the CLI and the docs quote them)."""

from __future__ import annotations

from typing import Final

MAX_DOCUMENT_BYTES: Final = 5 * 1024 * 1024
"""An uploaded file, as sent (below the API's request-body limit, with room for the multipart
framing)."""

MAX_TEXT_CHARS: Final = 2_000_000
"""The text extracted from one file."""

MAX_QUERY_CHARS: Final = 1_000
MAX_SEARCH_LIMIT: Final = 50
MAX_TITLE_CHARS: Final = 500
MAX_FILENAME_CHARS: Final = 255

CHUNK_MAX_CHARS: Final = 1_200
"""A chunk's body at most (a paragraph longer than this is cut at sentence, then word, ends)."""

CHUNK_OVERLAP_CHARS: Final = 200
"""Up to this much of a chunk's end (whole paragraphs or sentences) starts the next one, so that
a passage cut in two is still found whole in one of them."""
