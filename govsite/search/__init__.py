"""Cluster search: text analysis shared with the browser, a BM25 index at build time, and
static index shards that the browser client queries with no server."""
