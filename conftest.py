"""Makes `configs` importable in tests (recipes import `configs.default`)."""
