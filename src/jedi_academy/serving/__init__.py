"""Serving patient checkpoints: ``academy serve`` (the OpenAI wire format on one machine) and the
configuration that serves every checkpoint as a named LoRA adapter on a vLLM server."""
