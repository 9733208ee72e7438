"""Generation and editing with a loaded MoScale model."""
