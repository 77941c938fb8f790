-- Knowledge bases, documents and chunks, as the app role inside a tenant transaction: row-level
-- security scopes every statement here to the caller's tenant.

-- name: create_base
INSERT INTO knowledge_bases (tenant_id, name, description, embedding_dimensions)
VALUES (current_tenant_id(), %(name)s, %(description)s, %(embedding_dimensions)s)
ON CONFLICT (tenant_id, name) DO NOTHING
RETURNING *, 0::bigint AS document_count, 0::bigint AS chunk_count;

-- name: list_bases
SELECT b.*,
       (SELECT count(*) FROM knowledge_documents d
        WHERE d.tenant_id = b.tenant_id AND d.knowledge_base_id = b.id) AS document_count,
       (SELECT count(*) FROM knowledge_chunks c
        WHERE c.tenant_id = b.tenant_id AND c.knowledge_base_id = b.id) AS chunk_count
FROM knowledge_bases b
ORDER BY b.name, b.id;

-- name: get_base
SELECT b.*,
       (SELECT count(*) FROM knowledge_documents d
        WHERE d.tenant_id = b.tenant_id AND d.knowledge_base_id = b.id) AS document_count,
       (SELECT count(*) FROM knowledge_chunks c
        WHERE c.tenant_id = b.tenant_id AND c.knowledge_base_id = b.id) AS chunk_count
FROM knowledge_bases b
WHERE b.id = %(id)s;

-- name: find_base_by_name
SELECT id FROM knowledge_bases WHERE name = %(name)s;

-- name: lock_base
-- Upload and re-index take the base's row lock: a re-index never misses a document uploaded
-- while it runs, and a deleted base takes no new document.
SELECT * FROM knowledge_bases WHERE id = %(id)s FOR UPDATE;

-- name: delete_base
DELETE FROM knowledge_bases WHERE id = %(id)s RETURNING id;

-- name: insert_document
INSERT INTO knowledge_documents
  (tenant_id, knowledge_base_id, title, filename, format, size_bytes, sha256, content)
VALUES (current_tenant_id(), %(knowledge_base_id)s, %(title)s, %(filename)s, %(format)s,
        %(size_bytes)s, %(sha256)s, %(content)s)
RETURNING *;

-- name: list_documents
SELECT * FROM knowledge_documents
WHERE knowledge_base_id = %(knowledge_base_id)s
ORDER BY created_at, id;

-- name: get_document
SELECT * FROM knowledge_documents
WHERE id = %(id)s AND knowledge_base_id = %(knowledge_base_id)s;

-- name: delete_document
DELETE FROM knowledge_documents
WHERE id = %(id)s AND knowledge_base_id = %(knowledge_base_id)s
RETURNING id;

-- name: reindex_base
-- A re-index after a model change: the base takes the model (its dimension is learnt again from
-- the first vector, unless one is declared) and every document is queued again. The old chunks
-- stay searchable until each document's new ones replace them, in its job's finish.
UPDATE knowledge_bases
SET embedding_model = %(embedding_model)s,
    embedding_dimensions = %(embedding_dimensions)s
WHERE id = %(id)s
RETURNING id;

-- name: requeue_documents
UPDATE knowledge_documents
SET status = 'queued', queued_at = clock_timestamp(), run_after = clock_timestamp(),
    lease_token = NULL, claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
    attempts = 0, last_error = NULL
WHERE knowledge_base_id = %(id)s
RETURNING id;

-- name: has_embeddings
-- Whether this database stores embeddings (pgvector was there when it was migrated).
SELECT EXISTS (
  SELECT 1 FROM pg_attribute
  WHERE attrelid = 'knowledge_chunks'::regclass AND attname = 'embedding' AND NOT attisdropped
) AS present;

-- name: query_terms
-- What full-text search makes of a query: the strict query (every word, as websearch syntax
-- says) and the loose one (any of its words), as text, and their sizes (none: the query was
-- stop words only, or punctuation).
WITH strict AS (SELECT websearch_to_tsquery('english', %(query)s) AS q),
words AS (
  SELECT DISTINCT lexeme
  FROM unnest(tsvector_to_array(to_tsvector('english', %(query)s))) AS lexeme
)
SELECT strict.q::text AS strict, numnode(strict.q) AS strict_nodes,
       coalesce((SELECT string_agg(quote_literal(lexeme), ' | ' ORDER BY lexeme) FROM words), '')
         AS loose,
       (SELECT count(*) FROM words) AS words
FROM strict;

-- name: search_fulltext
-- Chunks matching every word first (as websearch_to_tsquery reads the query); when fewer than
-- `limit` do, those matching some of its words follow, which paraphrased questions need. Each
-- tier is ranked by cover density over the loose query, the title's words (weight A) counting
-- most. Matches and their tsvectors come from the GIN index (knowledge_chunks_matching,
-- migration 0023: under the app role's policy PostgreSQL would test every chunk instead); only
-- the `limit` kept are read through the policy. Ranking reads every candidate's tsvector, so each
-- tier ranks at most `candidates` matches: what keeps a query of common words fast on a large
-- base.
WITH every_word AS MATERIALIZED (
  SELECT m.id, m.document_id, m.search
  FROM knowledge_chunks_matching(%(strict)s::tsquery, %(base_ids)s::uuid[], %(candidates)s) AS m
),
some_words AS MATERIALIZED (
  SELECT m.id, m.document_id, m.search
  FROM knowledge_chunks_matching(%(loose)s::tsquery, %(base_ids)s::uuid[], %(candidates)s) AS m
  WHERE (SELECT count(*) FROM every_word) < %(limit)s
),
candidates AS (
  SELECT id, document_id, search, true AS all_words FROM every_word
  UNION ALL
  SELECT id, document_id, search, false FROM some_words WHERE id NOT IN (SELECT id FROM every_word)
),
ranked AS (
  SELECT id, document_id, all_words,
         ts_rank_cd('{0.1, 0.2, 0.4, 1.0}', search, %(loose)s::tsquery, 1) AS score
  FROM candidates
  ORDER BY all_words DESC, score DESC, id
  LIMIT %(limit)s
)
SELECT c.id AS chunk_id, c.document_id, d.title AS document_title, c.knowledge_base_id,
       c.title, c.body AS text, c.ordinal, ranked.all_words, ranked.score
FROM ranked
JOIN knowledge_chunks c ON c.id = ranked.id
-- joined through `ranked`'s ids, so that each of the `limit` rows is one key lookup
JOIN knowledge_documents d ON d.id = ranked.document_id
ORDER BY ranked.all_words DESC, ranked.score DESC, c.id;

-- name: embedded_bases
-- The bases a vector search would read, and what their vectors were (or must be) made with.
SELECT id, name, embedding_model, embedding_dimensions
FROM knowledge_bases
WHERE (%(base_ids)s::uuid[] IS NULL OR id = ANY (%(base_ids)s::uuid[]))
  AND (embedding_model IS NOT NULL OR embedding_dimensions IS NOT NULL);

-- name: search_vector
-- Nearest chunks by cosine distance, among the documents embedded with their base's model.
SELECT c.id AS chunk_id, c.document_id, d.title AS document_title, c.knowledge_base_id,
       c.title, c.body AS text, c.ordinal,
       1 - (c.embedding <=> %(vector)s::vector) AS score
FROM knowledge_chunks c
JOIN knowledge_documents d ON d.tenant_id = c.tenant_id AND d.id = c.document_id
JOIN knowledge_bases b ON b.tenant_id = c.tenant_id AND b.id = c.knowledge_base_id
WHERE c.embedding IS NOT NULL
  AND b.id = ANY (%(base_ids)s::uuid[])
  AND d.embedding_model = b.embedding_model
  AND vector_dims(c.embedding) = %(dimensions)s
ORDER BY c.embedding <=> %(vector)s::vector, c.id
LIMIT %(limit)s;
