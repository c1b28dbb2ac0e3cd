"""Cluster search: text analysis shared with the browser, a whoosh index at build time, and
static index shards that the browser client queries with no server."""
