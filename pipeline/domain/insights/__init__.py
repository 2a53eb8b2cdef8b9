"""What calls tell us: conversation and event analytics on every call, drift of
embeddings and metrics between months, and replay of a conversation from its event log.
"""
