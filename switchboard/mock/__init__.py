"""A mock LLM upstream speaking the OpenAI, Anthropic and Gemini wire formats."""
