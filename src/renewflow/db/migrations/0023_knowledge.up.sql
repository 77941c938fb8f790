-- Knowledge bases for retrieval-augmented chat (issue 13): a tenant's knowledge bases, their
-- documents (the extracted text, and the indexing job: the document row is the queue) and the
-- chunks that search ranks (full-text always; embeddings where pgvector exists).

CREATE TABLE knowledge_bases (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL REFERENCES tenants(id) ON DELETE CASCADE,
  name varchar(255) NOT NULL CHECK (btrim(name) <> ''),
  description text NOT NULL DEFAULT '' CHECK (length(description) <= 2000),
  -- what the chunks' embeddings were (or are being) made with; NULL: never embedded. The
  -- dimension is fixed by the first embedding stored (or declared at creation): a vector of
  -- another dimension is refused, and a model change needs a re-index.
  embedding_model varchar(255),
  embedding_dimensions integer CHECK (embedding_dimensions BETWEEN 1 AND 16000),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  UNIQUE (tenant_id, name)
);
CREATE TRIGGER knowledge_bases_updated_at BEFORE UPDATE ON knowledge_bases
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CALL enable_tenant_rls('knowledge_bases');

CREATE TABLE knowledge_documents (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  knowledge_base_id uuid NOT NULL,
  title varchar(500) NOT NULL CHECK (btrim(title) <> ''),
  filename varchar(255) NOT NULL CHECK (btrim(filename) <> ''),
  format varchar(10) NOT NULL CHECK (format IN ('txt', 'md', 'html', 'csv', 'json', 'pdf', 'docx')),
  size_bytes integer NOT NULL CHECK (size_bytes > 0),
  sha256 char(64) NOT NULL,
  -- the extracted text, never empty: an upload without text is refused before anything is written
  content text NOT NULL CHECK (btrim(content) <> ''),
  -- the indexing job: queued on upload (in the upload's transaction) and on a re-index
  status varchar(10) NOT NULL DEFAULT 'queued'
    CHECK (status IN ('queued', 'indexing', 'ready', 'failed')),
  queued_at timestamptz NOT NULL DEFAULT now(),
  run_after timestamptz NOT NULL DEFAULT now(),
  lease_token uuid,
  claimed_by varchar(255),
  claimed_at timestamptz,
  lease_expires_at timestamptz,
  attempts integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_attempts integer NOT NULL DEFAULT 5 CHECK (max_attempts > 0),
  last_error text,
  indexed_at timestamptz,
  chunk_count integer NOT NULL DEFAULT 0 CHECK (chunk_count >= 0),
  -- the model of this document's chunks' embeddings (NULL: none)
  embedding_model varchar(255),
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  UNIQUE (tenant_id, knowledge_base_id, id),
  FOREIGN KEY (tenant_id, knowledge_base_id)
    REFERENCES knowledge_bases(tenant_id, id) ON DELETE CASCADE,
  CONSTRAINT knowledge_documents_indexing_has_a_lease
    CHECK (status <> 'indexing' OR (lease_token IS NOT NULL AND lease_expires_at IS NOT NULL))
);
CREATE INDEX knowledge_documents_base
  ON knowledge_documents (tenant_id, knowledge_base_id, created_at);
CREATE INDEX knowledge_documents_queue
  ON knowledge_documents (run_after, queued_at) WHERE status = 'queued';
CREATE INDEX knowledge_documents_leases
  ON knowledge_documents (lease_expires_at) WHERE status = 'indexing';
CREATE TRIGGER knowledge_documents_updated_at BEFORE UPDATE ON knowledge_documents
  FOR EACH ROW EXECUTE FUNCTION set_updated_at();
-- Wakes listening workers when a document is queued (the channel every queue shares).
CREATE TRIGGER knowledge_documents_notify_queued
  AFTER INSERT OR UPDATE OF status ON knowledge_documents
  FOR EACH ROW WHEN (NEW.status = 'queued')
  EXECUTE FUNCTION notify_task_queued();
CALL enable_tenant_rls('knowledge_documents');

CREATE TABLE knowledge_chunks (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  tenant_id uuid NOT NULL,
  knowledge_base_id uuid NOT NULL,
  document_id uuid NOT NULL,
  ordinal integer NOT NULL CHECK (ordinal >= 0),
  -- the document's title and the headings above the chunk: weighted above the body
  title text NOT NULL DEFAULT '',
  body text NOT NULL CHECK (btrim(body) <> ''),
  search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('english'::regconfig, title), 'A')
    || setweight(to_tsvector('english'::regconfig, body), 'B')
  ) STORED,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (tenant_id, id),
  UNIQUE (tenant_id, document_id, ordinal),
  -- the chunk's base is its document's: one key checks both
  FOREIGN KEY (tenant_id, knowledge_base_id, document_id)
    REFERENCES knowledge_documents(tenant_id, knowledge_base_id, id) ON DELETE CASCADE
);
CREATE INDEX knowledge_chunks_search ON knowledge_chunks USING gin (search);
CREATE INDEX knowledge_chunks_base ON knowledge_chunks (tenant_id, knowledge_base_id);
CALL enable_tenant_rls('knowledge_chunks');

-- The full-text index, reachable by the app role. Under a row-level-security policy PostgreSQL
-- uses an index only for leakproof operators, and `@@` is not one: as the app role a search
-- reads the whole table and tests the tenant's chunks one by one (80 ms at 100,000 chunks). This
-- function runs as the schema owner, whose read-only policy (search_index) is unconditional, so
-- the GIN index answers `@@`; it applies the tenant rule itself, and returns what ranking needs (ids and
-- the tsvector): the caller reads the chunks it keeps through its own policy again.
CREATE POLICY search_index ON knowledge_chunks FOR SELECT TO CURRENT_USER USING (true);
CREATE FUNCTION knowledge_chunks_matching(query tsquery, base_ids uuid[], max_rows integer)
  RETURNS TABLE (id uuid, document_id uuid, search tsvector)
  LANGUAGE sql STABLE SECURITY DEFINER
  SET search_path = pg_catalog, public
  AS $$
    SELECT c.id, c.document_id, c.search FROM knowledge_chunks c
    WHERE c.tenant_id = current_tenant_id()
      AND c.search @@ query
      AND (base_ids IS NULL OR c.knowledge_base_id = ANY (base_ids))
    LIMIT max_rows
  $$;
REVOKE ALL ON FUNCTION knowledge_chunks_matching(tsquery, uuid[], integer) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION knowledge_chunks_matching(tsquery, uuid[], integer) TO renewflow_app;

-- Embeddings where pgvector exists (the embedded server has it; a server without it still
-- migrates, and searches full-text only). The column has no fixed dimension: each knowledge base
-- fixes its own (embedding_dimensions), and search compares only vectors of that dimension.
DO $$
BEGIN
  IF EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') THEN
    BEGIN
      CREATE EXTENSION IF NOT EXISTS vector;
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'pgvector is available but may not be created by this role: no embeddings';
    END;
  END IF;
  IF EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') THEN
    ALTER TABLE knowledge_chunks ADD COLUMN embedding vector;
  END IF;
END
$$;
