"""Reddit ingestion: stream Pushshift dumps, keep the specializations' subreddits, pseudonymise, scrub."""
