"""The shared kernel every domain stands on: the declarative base, roles, permissions, the registry that
domains fill in `register()`, canonical JSON and China time. It imports no domain and no engine."""
