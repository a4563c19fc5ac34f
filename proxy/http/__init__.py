"""The aiohttp shell: the request lifecycle, endpoint handlers and response helpers."""
