"""Steps 2-3: sample items, ask an annotator (an LLM backend), parse and store each answer."""
