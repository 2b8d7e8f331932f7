"""Delta sync: a change feed the devices pull, and mutations they push (see DESIGN.md §3)."""
