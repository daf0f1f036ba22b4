"""The pages of the control-room app; each module has ``layout(desk, ...)`` and ``register(app, desk)``."""
