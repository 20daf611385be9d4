"""The audio half: speech to visemes, audio-video sync and mouth animation."""
