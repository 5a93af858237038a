"""Full-text search of a log's documents: one definition of words, queries and ranks.

The store keeps the index (events.store.search_*); what a word is, what a query asks and
in what order hits come is decided here once, so every backend answers alike.
"""
