"""Training loops of the tokenizer and the transformer (single process or torchrun)."""
