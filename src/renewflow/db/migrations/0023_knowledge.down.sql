-- The pgvector extension stays: an extension is the database's, not this migration's alone.
DROP FUNCTION knowledge_chunks_matching(tsquery, uuid[], integer);
DROP TABLE knowledge_chunks;
DROP TABLE knowledge_documents;
DROP TABLE knowledge_bases;
