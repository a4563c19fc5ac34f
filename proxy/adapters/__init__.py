"""Provider adapters: pure codecs between OpenAI's format and each upstream's."""
