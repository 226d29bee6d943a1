"""Flat-corpus mode: named tables of texts (reviews, notes) that every step works on."""
