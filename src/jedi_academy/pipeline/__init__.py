"""``academy run``: the whole first-wave pipeline (ingest, personas, conversations, dataset, fine-tune,
baseline, report) as one resumable command, plus the synthetic sample dump used by the demo and tests."""
