"""chatops: finds out why a CRM's email or calendar sync broke, and says how to fix it."""

__version__ = "0.1.0"
