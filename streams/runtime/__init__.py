"""The Faust plumbing every domain shares: the app and its tuned consumer, checkpointed state, decoding."""
