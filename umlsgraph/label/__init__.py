"""Step 5: label every candidate item with the fine-tuned encoder, streaming and resumable."""
