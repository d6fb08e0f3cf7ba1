"""Scheduled audits: the weekly digest, threshold alerts and their exactly-once delivery (jobs in jobs.py)."""
