"""Live planning: the planners' inputs from the stream → headway, Squirrel and Owl proposals."""
