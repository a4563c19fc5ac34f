"""The aiohttp shell: middleware, endpoint handlers and response helpers."""
