"""Inbound APIs besides chat completions: pure codecs between each client API and
the chat format every upstream adapter speaks, plus native pass-through codecs."""
