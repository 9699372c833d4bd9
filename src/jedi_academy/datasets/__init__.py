"""Dataset versions: immutable, content-addressed sets of conversations with a persona-disjoint split,
exported as Mistral fine-tuning JSONL (and Hugging Face parquet)."""
