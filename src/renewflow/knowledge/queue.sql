-- knowledge_documents as a job queue: a document is indexed by the job its upload (or a
-- re-index) queued. The lease's life (claim, heartbeat, release, reap, depth) runs as the service
-- role, the explicit cross-tenant path; the finish writes the chunks as the document's tenant
-- (the app role, under row-level security), fenced by the lease token and the clock.

-- name: claim
WITH picked AS (
  SELECT id FROM knowledge_documents
  WHERE status = 'queued' AND run_after <= clock_timestamp()
  ORDER BY queued_at, id
  LIMIT %(limit)s
  FOR UPDATE SKIP LOCKED
)
UPDATE knowledge_documents d
SET status = 'indexing',
    lease_token = gen_random_uuid(),
    claimed_by = %(worker)s,
    claimed_at = clock_timestamp(),
    lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s),
    attempts = d.attempts + 1
FROM picked, knowledge_bases b
WHERE d.id = picked.id AND b.tenant_id = d.tenant_id AND b.id = d.knowledge_base_id
RETURNING d.id, d.tenant_id, d.knowledge_base_id, d.title, d.content, d.format, d.lease_token,
          d.attempts, d.max_attempts, d.queued_at, d.claimed_at,
          b.embedding_model AS base_model, b.embedding_dimensions AS base_dimensions;

-- name: heartbeat
UPDATE knowledge_documents d
SET lease_expires_at = clock_timestamp() + make_interval(secs => %(lease_seconds)s)
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE d.id = held.id AND d.lease_token = held.token AND d.lease_expires_at > clock_timestamp()
RETURNING d.id;

-- name: release
UPDATE knowledge_documents d
SET status = 'queued', lease_token = NULL, claimed_by = NULL, claimed_at = NULL,
    lease_expires_at = NULL, attempts = greatest(d.attempts - 1, 0), run_after = clock_timestamp()
FROM unnest(%(ids)s::uuid[], %(tokens)s::uuid[]) AS held(id, token)
WHERE d.id = held.id AND d.lease_token = held.token AND d.status = 'indexing'
RETURNING d.id;

-- name: reap
-- Expired leases: queued again, or failed once the attempts are spent.
WITH expired AS (
  SELECT id FROM knowledge_documents
  WHERE status = 'indexing' AND lease_expires_at < clock_timestamp()
  FOR UPDATE SKIP LOCKED
)
UPDATE knowledge_documents d
SET status = CASE WHEN d.attempts >= d.max_attempts THEN 'failed' ELSE 'queued' END,
    last_error = format('the lease of %%s expired on attempt %%s of %%s',
                        d.claimed_by, d.attempts, d.max_attempts),
    lease_token = NULL, claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL,
    run_after = clock_timestamp()
FROM expired
WHERE d.id = expired.id
RETURNING d.id;

-- name: depth
SELECT
  count(*) FILTER (WHERE status = 'queued' AND run_after <= now()) AS queued,
  count(*) FILTER (WHERE status = 'queued' AND run_after > now()) AS waiting,
  count(*) FILTER (WHERE status = 'indexing') AS running
FROM knowledge_documents
WHERE status IN ('queued', 'indexing');

-- name: fence
-- The finish's first statement, as the tenant: takes the document's row if the lease still
-- holds (nothing else is written otherwise) and marks it indexed.
UPDATE knowledge_documents
SET status = 'ready', indexed_at = clock_timestamp(), chunk_count = %(chunk_count)s,
    embedding_model = %(embedding_model)s, last_error = NULL,
    lease_token = NULL, claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND lease_expires_at > clock_timestamp()
RETURNING id, knowledge_base_id;

-- name: clear_chunks
DELETE FROM knowledge_chunks WHERE document_id = %(id)s;

-- name: insert_chunks
INSERT INTO knowledge_chunks (tenant_id, knowledge_base_id, document_id, ordinal, title, body)
SELECT current_tenant_id(), %(knowledge_base_id)s, %(id)s, c.ordinal, c.title, c.body
FROM unnest(%(ordinals)s::int[], %(titles)s::text[], %(bodies)s::text[]) AS c(ordinal, title, body);

-- name: insert_embedded_chunks
INSERT INTO knowledge_chunks
  (tenant_id, knowledge_base_id, document_id, ordinal, title, body, embedding)
SELECT current_tenant_id(), %(knowledge_base_id)s, %(id)s, c.ordinal, c.title, c.body,
       c.embedding::vector
FROM unnest(%(ordinals)s::int[], %(titles)s::text[], %(bodies)s::text[], %(embeddings)s::text[])
     AS c(ordinal, title, body, embedding);

-- name: claim_model
-- The base's model and dimension, for the vectors about to be stored: the first vectors fix
-- them; vectors of another model (the base was re-indexed meanwhile) or dimension are refused.
UPDATE knowledge_bases
SET embedding_model = coalesce(embedding_model, %(model)s),
    embedding_dimensions = coalesce(embedding_dimensions, %(dimensions)s)
WHERE id = %(knowledge_base_id)s
RETURNING embedding_model, embedding_dimensions;

-- name: fail
-- A failed run, fenced: queued again after `delay` seconds, or failed for good.
UPDATE knowledge_documents
SET status = %(status)s::varchar, last_error = %(error)s,
    run_after = clock_timestamp() + make_interval(secs => %(delay)s),
    queued_at = CASE WHEN %(status)s::varchar = 'queued' THEN clock_timestamp() ELSE queued_at END,
    lease_token = NULL, claimed_by = NULL, claimed_at = NULL, lease_expires_at = NULL
WHERE id = %(id)s AND lease_token = %(token)s AND lease_expires_at > clock_timestamp()
RETURNING id;

-- name: forget_model
UPDATE knowledge_documents SET embedding_model = NULL WHERE id = %(id)s;
