"""The edges: each turns one outside thing (chat platform, provider, CLI, scheduler) into core calls and back."""
