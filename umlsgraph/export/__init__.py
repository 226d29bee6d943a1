"""Step 6: the selected subontology (selection.py) written in each format (formats/)."""
