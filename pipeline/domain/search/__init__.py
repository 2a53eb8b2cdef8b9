"""Finding calls again: chunking redacted transcripts, embedding chunks, and the vector
index (one interface, a LanceDB and a Weaviate backend).
"""
