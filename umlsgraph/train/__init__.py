"""Step 4: fine-tune a BERT-family encoder on one annotator's stored labels."""
