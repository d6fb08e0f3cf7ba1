"""The offline sandbox: a provider simulator speaking the real wire formats, driven by scenario files."""
