"""Retrieval quality and search latency of the knowledge base, against a reference BM25 in the
same run.

Run: `.venv/bin/python -m bench.retrieval` (DATABASE_URL's server if set, as a superuser able to
create a database; otherwise an embedded PostgreSQL in a temporary directory). The benchmark
creates a fresh database and drops it at the end.

- Corpus: bench/corpus/cs_passages.jsonl, 200 customer-success passages (renewals, churn risk,
  QBRs, pricing, support escalations, onboarding, usage, advocacy), each uploaded as one document
  (its title and text) and indexed by the real indexing queue.
- Queries: bench/corpus/cs_queries.jsonl, 60 queries with graded relevance (2: answers it, 1:
  related), 30 using the passages' own terms and 30 paraphrases.
- Metrics over the top 10 passages: nDCG@10 (gain 2^grade - 1), Recall@10 (grades > 0) and MRR.
- Reference: the `bm25s` package (Lucene's BM25, k1 = 1.5, b = 0.75, English stop words) over
  the same title + text. Target: our full-text search at least 0.9x its nDCG@10.
- Hybrid (full-text and vectors fused by reciprocal rank) when RENEWFLOW_EMBEDDINGS_BASE_URL and
  RENEWFLOW_EMBEDDINGS_MODEL name an endpoint and the database has pgvector; skipped otherwise.
- Latency: `renewflow.knowledge.search` (full-text, limit 10, in a tenant transaction as the app
  role) over 100,000 synthetic chunks of one scratch tenant, each of the 60 queries 5 times after
  a warm-up; p50 and p95 in milliseconds. Target: p95 under 50 ms.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import time
import uuid
from pathlib import Path
from typing import Any

from bench.scratch import scratch_database
from renewflow import accounts, knowledge
from renewflow.db import Database
from renewflow.knowledge import EmbeddingSettings, IndexQueue, KnowledgeBaseCreate

CORPUS = Path(__file__).parent / "corpus"
K = 10


def load(name: str) -> list[dict[str, Any]]:
    with (CORPUS / name).open(encoding="utf-8") as lines:
        return [json.loads(line) for line in lines if line.strip()]


# -- metrics -------------------------------------------------------------------------------------


def ndcg(ranked: list[str], grades: dict[str, int], k: int = K) -> float:
    dcg = sum((2 ** grades.get(p, 0) - 1) / math.log2(i + 2) for i, p in enumerate(ranked[:k]))
    ideal = sorted(grades.values(), reverse=True)[:k]
    best = sum((2**g - 1) / math.log2(i + 2) for i, g in enumerate(ideal))
    return dcg / best if best else 0.0


def recall(ranked: list[str], grades: dict[str, int], k: int = K) -> float:
    relevant = {p for p, g in grades.items() if g > 0}
    return len(relevant & set(ranked[:k])) / len(relevant)


def mrr(ranked: list[str], grades: dict[str, int]) -> float:
    for i, p in enumerate(ranked):
        if grades.get(p, 0) > 0:
            return 1.0 / (i + 1)
    return 0.0


def score(runs: dict[str, list[str]], queries: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """{'all' | 'exact' | 'paraphrase': {metric: mean}}."""
    out: dict[str, dict[str, float]] = {}
    for kind in ("all", "exact", "paraphrase"):
        chosen = [q for q in queries if kind == "all" or q["kind"] == kind]
        out[kind] = {
            "nDCG@10": statistics.fmean(ndcg(runs[q["id"]], q["relevance"]) for q in chosen),
            "Recall@10": statistics.fmean(recall(runs[q["id"]], q["relevance"]) for q in chosen),
            "MRR": statistics.fmean(mrr(runs[q["id"]], q["relevance"]) for q in chosen),
        }
    return out


# -- the systems ---------------------------------------------------------------------------------


def bm25_runs(
    passages: list[dict[str, Any]], queries: list[dict[str, Any]]
) -> dict[str, list[str]]:
    import bm25s

    texts = [f"{p['title']}\n{p['text']}" for p in passages]
    retriever = bm25s.BM25(k1=1.5, b=0.75)
    retriever.index(bm25s.tokenize(texts, stopwords="en", show_progress=False), show_progress=False)
    runs = {}
    for q in queries:
        tokens = bm25s.tokenize([q["query"]], stopwords="en", show_progress=False)
        docs, _ = retriever.retrieve(tokens, k=K, show_progress=False)
        runs[q["id"]] = [passages[int(i)]["id"] for i in docs[0]]
    return runs


def load_corpus(
    database: Database, passages: list[dict[str, Any]], embedder: knowledge.Embedder | None
) -> tuple[uuid.UUID, dict[uuid.UUID, str]]:
    with database.service_transaction() as conn:
        tenant_id: uuid.UUID = accounts.create_tenant(conn, "Retrieval bench")["id"]
    by_document: dict[uuid.UUID, str] = {}
    with database.tenant_transaction(tenant_id) as conn:
        base = knowledge.create_base(conn, KnowledgeBaseCreate(name="CS passages"))
        for p in passages:
            doc = knowledge.add_document(
                conn, base.id, p["text"].encode(), f"{p['id']}.txt", title=p["title"]
            )
            by_document[doc.id] = p["id"]
    queue = IndexQueue(database, embedder=embedder)
    while leases := queue.claim("bench", 50, 60):
        for lease in leases:
            queue.run(lease)
    return tenant_id, by_document


def our_runs(
    database: Database,
    tenant_id: uuid.UUID,
    by_document: dict[uuid.UUID, str],
    queries: list[dict[str, Any]],
    *,
    mode: str,
    embedder: knowledge.Embedder | None = None,
) -> dict[str, list[str]]:
    runs = {}
    for q in queries:
        embedding = knowledge.embed_query(q["query"], embedder) if mode != "fulltext" else None
        with database.tenant_transaction(tenant_id) as conn:
            result = knowledge.search(
                conn, query=q["query"], limit=K, mode=mode, query_embedding=embedding
            )
        ranked = list(dict.fromkeys(by_document[c.document_id] for c in result.chunks))
        runs[q["id"]] = ranked
    return runs


# -- latency -------------------------------------------------------------------------------------


def synthetic_tenant(database: Database, passages: list[dict[str, Any]], chunks: int) -> uuid.UUID:
    """A tenant with `chunks` chunks of text drawn from the corpus's vocabulary (Zipf-like)."""
    rng = random.Random(13)
    words = [w.strip(".,:;()").lower() for p in passages for w in p["text"].split()]
    vocabulary = list(dict.fromkeys(w for w in words if w))
    weights = [1.0 / (rank + 1) for rank in range(len(vocabulary))]
    rng.shuffle(vocabulary)
    with database.service_transaction() as conn:
        tenant_id: uuid.UUID = accounts.create_tenant(conn, "Latency bench")["id"]
    per_document = 100
    with database.tenant_transaction(tenant_id) as conn:
        base = knowledge.create_base(conn, KnowledgeBaseCreate(name="Synthetic"))
    for start in range(0, chunks, 10_000):
        with database.tenant_transaction(tenant_id) as conn:
            for d in range(start // per_document, (start + 10_000) // per_document):
                doc = knowledge.add_document(
                    conn, base.id, b"synthetic", f"synthetic-{d}.txt", title=f"Synthetic {d}"
                )
                bodies = [
                    " ".join(rng.choices(vocabulary, weights, k=rng.randint(60, 160))) + "."
                    for _ in range(per_document)
                ]
                conn.execute(
                    "INSERT INTO knowledge_chunks (tenant_id, knowledge_base_id, document_id,"
                    " ordinal, title, body)"
                    " SELECT current_tenant_id(), %s, %s, o - 1, %s, b"
                    " FROM unnest(%s::text[]) WITH ORDINALITY AS c(b, o)",
                    (base.id, doc.id, f"Synthetic {d}", bodies),
                )
    with database.owner_connection() as conn:
        conn.execute("ANALYZE knowledge_chunks")
    return tenant_id


def latency(database: Database, tenant_id: uuid.UUID, queries: list[dict[str, Any]]) -> list[float]:
    def once(query: str) -> float:
        started = time.perf_counter()
        with database.tenant_transaction(tenant_id) as conn:
            knowledge.search(conn, query=query, limit=K)
        return (time.perf_counter() - started) * 1000

    for q in queries:  # warm-up
        once(q["query"])
    return [once(q["query"]) for _ in range(5) for q in queries]


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)]


# -- report --------------------------------------------------------------------------------------


def table(results: dict[str, dict[str, dict[str, float]]]) -> list[str]:
    lines = [
        "| system | queries | nDCG@10 | Recall@10 | MRR |",
        "|---|---|---|---|---|",
    ]
    for system, by_kind in results.items():
        for kind, metrics in by_kind.items():
            lines.append(
                f"| {system} | {kind} | {metrics['nDCG@10']:.3f} | {metrics['Recall@10']:.3f} "
                f"| {metrics['MRR']:.3f} |"
            )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chunks", type=int, default=100_000, help="chunks for the latency run")
    parser.add_argument("--out", type=Path, help="also write the markdown section here")
    args = parser.parse_args()
    passages, queries = load("cs_passages.jsonl"), load("cs_queries.jsonl")
    settings = EmbeddingSettings()
    embedder = knowledge.Embedder.from_settings(settings)
    with scratch_database() as url, Database(url) as database:
        tenant_id, by_document = load_corpus(database, passages, embedder)
        results = {
            "renewflow full-text": score(
                our_runs(database, tenant_id, by_document, queries, mode="fulltext"), queries
            ),
            "bm25s (reference)": score(bm25_runs(passages, queries), queries),
        }
        hybrid_note = ""
        with database.service_transaction() as conn:
            vectors = knowledge.has_embeddings(conn)
        if embedder is not None and vectors:
            results[f"renewflow hybrid ({embedder.model})"] = score(
                our_runs(
                    database, tenant_id, by_document, queries, mode="hybrid", embedder=embedder
                ),
                queries,
            )
        else:
            hybrid_note = (
                "Hybrid skipped: no embeddings endpoint configured "
                "(RENEWFLOW_EMBEDDINGS_BASE_URL, RENEWFLOW_EMBEDDINGS_MODEL)"
                if embedder is None
                else "Hybrid skipped: this PostgreSQL has no pgvector"
            )
        started = time.perf_counter()
        synthetic = synthetic_tenant(database, passages, args.chunks)
        loaded = time.perf_counter() - started
        timings = latency(database, synthetic, queries)
        with database.service_transaction() as conn:
            row = conn.execute("SELECT version()").fetchone()
        server = row["version"].split(" on ")[0] if row else "PostgreSQL"

    ratio = (
        results["renewflow full-text"]["all"]["nDCG@10"]
        / results["bm25s (reference)"]["all"]["nDCG@10"]
    )
    lines = [
        "## Knowledge-base retrieval (bench/retrieval.py)",
        "",
        f"{len(passages)} customer-success passages, {len(queries)} graded queries "
        "(30 exact-term, 30 paraphrase), top 10; " + server + ".",
        "",
        *table(results),
        "",
        f"Full-text / BM25 nDCG@10: **{ratio:.2f}x** (target ≥ 0.9x).",
    ]
    if hybrid_note:
        lines += ["", hybrid_note + "."]
    lines += [
        "",
        f"Search latency over {args.chunks:,} chunks in one tenant (full-text, limit 10, "
        f"{len(timings)} searches, loaded in {loaded:.0f} s): p50 "
        f"**{percentile(timings, 50):.1f} ms**, p95 **{percentile(timings, 95):.1f} ms**, max "
        f"{max(timings):.1f} ms (target p95 < 50 ms).",
    ]
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
