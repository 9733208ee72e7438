"""MoScale networks: HRVQVAE tokenizer, multi-scale quantizer, next-scale transformer."""
