"""Step kinds, one module each, and `dispatch.run_step`, the one entry every parent uses for a child."""
