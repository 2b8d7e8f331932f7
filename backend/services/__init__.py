"""Domain logic as plain functions taking an explicit `Session`; nothing here imports Flask."""
