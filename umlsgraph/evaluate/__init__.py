"""How good the labels are: predictions or annotations against gold labels."""
