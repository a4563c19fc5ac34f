"""The Switchboard data plane: an OpenAI-compatible aiohttp proxy."""
