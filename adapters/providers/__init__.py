"""Provider clients: httpx + authlib implementations of the core's provider ports."""
