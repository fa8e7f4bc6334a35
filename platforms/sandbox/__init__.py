"""The sandbox platform: books generated, deterministically, for each connection."""
