"""Patient models: LoRA fine-tuning (local, or the Mistral API) and the checkpoint lineage."""
