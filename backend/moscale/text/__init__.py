"""Text encoders loaded from local directories (never a hub download at run time)."""

from moscale.text.encoders import TextEncoder, TextEncoderError, TextEncoderSpec, load_text_encoder

__all__ = ["TextEncoder", "TextEncoderError", "TextEncoderSpec", "load_text_encoder"]
