"""Blob storage for evidence: local files and S3, upload tickets and verification (DESIGN.md §4)."""
