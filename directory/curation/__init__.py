"""Curation: source records linked into centers, merges, editors' edits and the audit log.

No Flask here: every function takes a SQLAlchemy session (or plain values) and never commits.
"""
